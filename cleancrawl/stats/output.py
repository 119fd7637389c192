"""Where `cleancrawl stats` writes: beside a build's record, never over it.

    --json PATH   one file: the stats document
    --html DIR    an owned output folder (ReportLayout): index.html (written last), stats.json
                  (the same document) and one PNG per plot

A report is never written into a corpus being read (`check_not_input`), nor into or under any
folder a cleancrawl command writes (`cleancrawl_output_at`: it holds `_SUCCESS`, the folder
lock, a build's `stats.json`, shards in `train/` or `validation/`, a token manifest or a
tokenizer's metadata): `build --overwrite` would refuse the report's files, and a report's
stats.json would replace the build's record.

What the report owns is recognised by name *and* by content: every file it writes carries
SIGNATURE (the JSON's `generated_by`, index.html's `<meta name="generator">`, each PNG's
`Software` text chunk). A file of the same name without it (the user's index.html, another
tool's stats.json) is foreign: refused, never replaced, even with --overwrite. An earlier
report's files are replaced only with --overwrite. Every file is written under a temporary
name and renamed (`storage.write_atomically`), and a folder or disk that cannot be written is
one line (UserError), not a traceback.

Everything is checked before the corpora are scanned (`check_html_folder`, `check_json_path`:
nothing is written then), and again when writing (`report_folder` takes the folder's lock
through `output_folder.prepare_output_folder`).
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Iterable

from cleancrawl import layout, output_folder, storage, write_failures
from cleancrawl.corpus.errors import UserError
from cleancrawl.output_folder import LOCK_FILE, TEMP_SUFFIX, WRITE_PROBE, OutputLayout

SIGNATURE = "cleancrawl stats"          # = the document's "generated_by" (cleancrawl.stats.collect)
INDEX = "index.html"
REPORT_JSON = "stats.json"
HTML_GENERATOR = f'<meta name="generator" content="{SIGNATURE}">'
PNG_SIGNATURE = b"tEXtSoftware\x00" + SIGNATURE.encode()   # savefig(metadata={"Software": SIGNATURE})
PNG_METADATA = {"Software": SIGNATURE}
_HEAD_BYTES = 8192                      # where index.html's meta tag and a PNG's text chunks are

# Files of other cleancrawl commands that mark their output folders (besides a build's stats.json).
_TOKEN_MANIFEST = ("manifest.json", "cleancrawl-tokens")   # tokenize (format field)
_TOKENIZER_METADATA = "cleancrawl-tokenizer.json"          # tokenizer train


class ReportLayout(OutputLayout):
    """The files of an HTML report in `folder`: the names below, each only while it carries
    SIGNATURE (temporary files of an interrupted report go by name alone)."""

    def __init__(self, folder: str):
        super().__init__("stats", r"^\.?(index\.html|stats\.json|[a-z0-9_]+\.png)" + TEMP_SUFFIX + "$",
                         marker=INDEX, noun="report")
        self.folder = folder

    def owns(self, relative: str) -> bool:
        if not super().owns(relative):
            return False
        if relative in (LOCK_FILE, WRITE_PROBE) or ".tmp-" in relative:
            return True
        return is_signed(storage.join(self.folder, relative))


def is_signed(path: str) -> bool:
    """Did `cleancrawl stats` write this file (index.html, a PNG, a stats document)?"""
    try:
        if path.endswith(".json"):
            return is_stats_document(path)
        with storage.open_binary(path) as f:
            head = f.read(_HEAD_BYTES)
    except Exception:  # unreadable, gone, a folder: not ours to replace
        return False
    if path.endswith(".png"):
        return head.startswith(b"\x89PNG\r\n\x1a\n") and PNG_SIGNATURE in head
    return HTML_GENERATOR.encode() in head


def is_stats_document(path: str) -> bool:
    """A JSON file written by `cleancrawl stats` (its `generated_by`), not a build's stats.json."""
    found = _read_json_object(path)
    return found.get("generated_by") == SIGNATURE and "corpora" in found


def _read_json_object(path: str) -> dict:
    try:
        with storage.open_binary(path) as f:
            found = json.loads(f.read().decode("utf-8"))
    except Exception:
        return {}
    return found if isinstance(found, dict) else {}


# ---------------------------------------------------------------------------- checks

def cleancrawl_output_at(folder: str) -> str | None:
    """The file saying that a cleancrawl command writes `folder` (None when nothing does)."""
    for name in (layout.SUCCESS_MARKER, LOCK_FILE, _TOKENIZER_METADATA):
        if storage.exists(storage.join(folder, name)):
            return name
    stats = storage.join(folder, layout.STATS_FILE)
    if storage.exists(stats) and not is_stats_document(stats) and "totals" in _read_json_object(stats):
        return layout.STATS_FILE  # a build's (or dedup's) record of its run
    manifest = storage.join(folder, _TOKEN_MANIFEST[0])
    if storage.exists(manifest) and _read_json_object(manifest).get("format") == _TOKEN_MANIFEST[1]:
        return _TOKEN_MANIFEST[0]
    for split in layout.SPLITS:  # a build that has not finished (or crashed): its shards
        shards = [n for n in storage.list_dir(storage.join(folder, split)) if layout.SHARD_NAME.match(n)]
        if shards:
            return f"{split}/{shards[0]}"
    return None


def _folders_from(folder: str) -> list[str]:
    """`folder` and every folder above it (local: resolved; remote: up to the bucket)."""
    if storage.is_remote(folder):
        scheme, rest = folder.split("://", 1)
        parts = [p for p in rest.split("/") if p]
        return [f"{scheme}://" + "/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    path, found = os.path.realpath(os.path.expanduser(folder)), []
    while True:
        found.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            return found
        path = parent


def _parent(path: str) -> str:
    if storage.is_remote(path):
        return path.rstrip("/").rsplit("/", 1)[0]
    return os.path.dirname(os.path.abspath(os.path.expanduser(path)))


def _inside(path: str, folder: str) -> bool:
    def absolute(p: str) -> str:
        return p.rstrip("/") if storage.is_remote(p) else os.path.realpath(os.path.expanduser(p))
    path, folder = absolute(path), absolute(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _check_not_in_an_output(option: str, path: str, start: str) -> None:
    for folder in _folders_from(start):
        marker = cleancrawl_output_at(folder)
        if marker:
            raise UserError(f"{option} {path} is inside {folder}, a cleancrawl output folder (it holds {marker}); "
                            "write the report outside it (nothing was written)")


def _check_writable(option: str, path: str, folder: str) -> None:
    """Local paths: the nearest existing folder at or above `folder` (where `path` is written)
    must be a writable folder, so that a read-only place is refused before the scan, not after it."""
    if storage.is_remote(path):
        return
    probe = os.path.abspath(os.path.expanduser(folder))
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise UserError(f"{option} {path}: cannot write there: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: cannot write there: {probe} is read-only")


def check_html_folder(folder: str, overwrite: bool, inputs: Iterable[str] = ()) -> None:
    """Refuse, in one line and writing nothing, an --html folder that overlaps an input, lies in
    a cleancrawl output folder, holds files the report did not write (even with `overwrite`), holds
    an earlier report without `overwrite`, or cannot be written."""
    output_folder.check_not_input(folder, inputs, option="--html")
    if not storage.is_remote(folder) and os.path.lexists(folder) and not os.path.isdir(folder):
        raise UserError(f"--html {folder} is a file; give a folder for the report")
    _check_not_in_an_output("--html", folder, _parent(folder))
    _check_writable("--html", folder, folder)
    report = ReportLayout(folder)
    ours, foreign = output_folder.output_files(folder, report)
    if foreign:
        raise UserError(f"--html {folder} holds {foreign}, which cleancrawl stats did not write; choose an empty "
                        "or new folder (nothing was replaced: --overwrite replaces only an earlier report's files)")
    old = [r for r in ours if r not in (LOCK_FILE, WRITE_PROBE)]
    if old and not overwrite:
        what = "a report" if report.marker in old else "part of an unfinished report"
        raise UserError(f"--html {folder} already holds {what} of cleancrawl stats; pass --overwrite to replace it")


def check_json_path(path: str, overwrite: bool, inputs: Iterable[str] = (), html: str | None = None) -> None:
    """Refuse, in one line and writing nothing, a --json path that overlaps an input, lies in a
    cleancrawl output folder or in the --html folder, is a folder, is a file `cleancrawl stats` did
    not write (even with `overwrite`), is an earlier stats document without `overwrite`, or
    cannot be written."""
    output_folder.check_not_input(path, inputs, option="--json")
    if html and _inside(path, html):
        raise UserError(f"--json {path} is inside the --html folder {html}, which the report owns (it holds "
                        f"the report's own {REPORT_JSON}); write it elsewhere")
    if storage.is_remote(path):
        is_folder = not storage.exists(path) and bool(storage.list_dir(path))
    else:
        is_folder = os.path.isdir(path)
    if is_folder:
        raise UserError(f"--json {path} is a folder; give the path of a file")
    _check_not_in_an_output("--json", path, _parent(path))
    _check_writable("--json", path, _parent(path))
    if storage.exists(path):
        if not is_stats_document(path):
            raise UserError(f"--json {path} exists and was not written by cleancrawl stats; choose another path "
                            "(nothing was replaced: --overwrite replaces only an earlier stats document)")
        if not overwrite:
            raise UserError(f"--json {path} already holds a stats document; pass --overwrite to replace it")


# ---------------------------------------------------------------------------- writing

@contextlib.contextmanager
def report_folder(folder: str, overwrite: bool, inputs: Iterable[str] = ()):
    """For the block: `folder` checked again, its lock held and an earlier report's files deleted
    (with `overwrite`). On a failure a folder this created is removed again when it is empty."""
    check_html_folder(folder, overwrite, inputs)
    local = not storage.is_remote(folder)
    with (_created_if_missing(os.path.abspath(os.path.expanduser(folder)), "--html") if local
          else contextlib.nullcontext()):
        lock = output_folder.prepare_output_folder(folder, ReportLayout(folder), overwrite, inputs)
        try:
            yield
        finally:
            if lock:
                lock.release()


@contextlib.contextmanager
def _created_if_missing(folder: str, option: str):
    """Create the local `folder` (and missing parents) for the block; remove what was created
    if the block fails and left them empty."""
    created, probe = [], folder
    while not os.path.lexists(probe):
        created.append(probe)
        probe = os.path.dirname(probe)
    if created:
        try:
            os.makedirs(folder)
        except OSError as err:
            raise UserError(f"{option} {folder}: cannot create the folder: {err.strerror or err}") from None
    try:
        yield
    except BaseException:
        for made in created:  # deepest first
            with contextlib.suppress(OSError):
                os.rmdir(made)
        raise


def write_file(path: str, data: bytes, option: str) -> None:
    """`data` to `path` under a temporary name, then renamed; an error writing it is one line."""
    try:
        if storage.is_remote(path):
            storage.write_atomically(path, data)
            return
        with _created_if_missing(os.path.dirname(os.path.abspath(path)), option):
            storage.write_atomically(path, data)
    except UserError:
        raise
    except Exception as err:
        if not storage.is_remote(path) and not isinstance(err, OSError):
            raise  # a bug, not the file system: keep its traceback
        if write_failures.is_disk_full(err):
            raise UserError(f"{option} {path}: no space left on device; free space or choose another path") from None
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise UserError(f"{option} {path}: cannot write: {reason}"[:600]) from None
