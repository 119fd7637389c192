"""Storage: every path cleancrawl reads or writes, local or remote, goes through here.

One module for what datatrove's `DataFolder` does: join, list, exists, open Parquet, atomic
writes, file-system options (set once, passed on to worker processes), and the output-folder
rules every command shares (never write into an input, never delete a file the command did not
write, one writer per folder, a full disk as one line). Remote paths (gs://, s3://) go through
Beam's FileSystems, imported only when a path is remote, so local use needs no Beam.

What a command's output folder holds (shard names, split folders, `_SUCCESS`) is
`cleancrawl.layout`'s business, not this module's.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
from typing import Iterable, Iterator

import pyarrow.parquet as pq

from cleancrawl.corpus.errors import UserError


def is_remote(path: str) -> bool:
    return "://" in path


def join(*parts: str) -> str:
    if is_remote(parts[0]):
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))
    return os.path.join(*parts)


def exists(path: str) -> bool:
    if is_remote(path):
        return filesystems().exists(path)
    return os.path.exists(path)


def list_dir(path: str) -> list[str]:
    """Sorted names in a directory (local) or under a prefix (remote); [] when there is none."""
    if is_remote(path):
        found = filesystems().match([path.rstrip("/") + "/*"])[0].metadata_list
        return sorted(m.path.rstrip("/").rsplit("/", 1)[-1] for m in found)
    if not os.path.isdir(path):
        return []
    return sorted(os.listdir(path))


def filesystems():
    """Beam's `FileSystems`, ready for remote paths read outside a pipeline.

    Beam's S3 client refuses to work without pipeline options, and outside a pipeline there are
    none unless `set_filesystem_options` (or a build) set some: then empty ones are set, which
    means each client's default credentials. Inside a pipeline's workers the runtime options
    stand and nothing is touched.
    """
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.value_provider import RuntimeValueProvider

    if FileSystems._pipeline_options is None and RuntimeValueProvider.runtime_options is None:  # no getter
        from apache_beam.options.pipeline_options import PipelineOptions
        FileSystems.set_options(PipelineOptions([]))
    return FileSystems


def set_filesystem_options(args: list[str]) -> None:
    """Settings for remote paths read or written outside a pipeline, as Beam options.

    e.g. `--s3_endpoint_url=... --s3_access_key_id=...` or `--project=...`; without them Beam's
    clients use their default credentials. Raises UserError for anything Beam does not know.
    """
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):  # argparse prints all of Beam's usage first
            wrong = _not_beam_options(args)
    except SystemExit:  # a flag without its value, a bad choice
        said = complaint.getvalue().strip().splitlines()[-1:] or [""]
        raise UserError(f"file-system options {' '.join(args)}: {said[0].split('error: ', 1)[-1]} "
                        "(give each as --name=value)") from None
    if wrong:
        raise UserError("unrecognized arguments: " + " ".join(wrong))
    options = PipelineOptions(args)
    FileSystems.set_options(options)
    _filesystem_args[:] = args


def _not_beam_options(args: list[str]) -> list[str]:
    """The arguments Beam's own option parser leaves over (it would only warn and drop them):
    built as `PipelineOptions.get_all_options` builds it, so aliases and flags without values
    are read exactly as Beam reads them."""
    return beam_option_parser().parse_known_args(args)[1]


def beam_option_parser():
    """Beam's pipeline-option parser, every option class registered (also for the CLI's "did you mean")."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser


_filesystem_args: list[str] = []  # as given to set_filesystem_options: for worker processes


def filesystem_args() -> list[str]:
    """The file-system options set in this process (empty: Beam's and pyarrow's defaults)."""
    return list(_filesystem_args)


def parquet_metadata(path: str):
    """A Parquet file's footer (row counts, row groups, schema), local or remote; a file that is
    not Parquet (or is cut short) is a UserError naming it."""
    import pyarrow as pa

    try:
        if is_remote(path):
            with filesystems().open(path) as f:
                return pq.ParquetFile(f).metadata
        return pq.ParquetFile(path).metadata
    except (pa.ArrowException, EOFError) as err:
        said = " ".join(str(err).split())[:200]
        raise UserError(f"{path}: not a readable Parquet file ({said})") from None


def parquet_schema(path: str):
    """A Parquet file's Arrow schema (see `parquet_metadata`)."""
    return parquet_metadata(path).schema.to_arrow_schema()


def check_text_shards(paths: Iterable[str], columns=None, required: Iterable[str] = ("text",),
                      options: bool = True) -> None:
    """Every shard readable as Parquet, with the `required` columns present and of string type
    (`columns`: a `cleancrawl.corpus.columns.Columns` naming them; cleancrawl's names by default),
    before any work starts: one line naming the shard, the option to set (`options`: the command
    has --text-column/--url-column) and the columns it has."""
    from cleancrawl.corpus.columns import Columns

    columns = columns or Columns()
    for path in paths:
        columns.check(parquet_schema(path), path, required=tuple(required), options=options)


def iter_batches(paths: Iterable[str], columns: list[str], batch_size: int = 1024) -> Iterator:
    """Stream record batches of the given columns from Parquet shards, one shard at a time."""
    for path in paths:
        if is_remote(path):
            with filesystems().open(path) as f:
                yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)
        else:
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns)


def iter_values(paths: Iterable[str], name: str, batch_size: int = 1024) -> Iterator:
    """Batches of one column or struct path's values over Parquet shards, in stored order."""
    from cleancrawl.corpus.columns import column_path, extract

    for path in paths:
        schema = parquet_metadata(path).schema.to_arrow_schema()
        top = column_path(schema, name)
        if top is None:
            raise KeyError(name)
        for batch in iter_batches([path], [top[0]], batch_size):
            yield extract(batch, name)


def iter_texts(paths: Iterable[str], batch_size: int = 1024) -> Iterator[str]:
    """Every document's text, shard by shard, in stored order (deterministic)."""
    for batch in iter_batches(paths, ["text"], batch_size):
        yield from batch.column(0).to_pylist()


# ---------------------------------------------------------------------------- output folders
#
# What a command may delete, and who may write: every command that writes a folder (build,
# dedup, reddit-urls, tokenizer train, tokenize) describes its own files as an `OutputLayout`;
# `prepare_output_folder` refuses a folder that holds an input of the run or any file outside
# that layout (even with --overwrite: a user's file is never deleted), refuses existing output
# without --overwrite, and takes the folder's `_cleancrawl.lock` before deleting anything.
#
# The lock holds host, pid, process start time and a run id. Locally it is created with
# O_CREAT|O_EXCL (atomic); a lock whose process is gone on this host is stale and replaced, so a
# crashed or killed run never leaves a folder stuck. On object stores (s3://, gs://) there is no
# atomic create: two runs started at the same instant can both take it, and the run id check
# (`check_lock_owner`, done before stats.json and _SUCCESS are written) is what stops the second
# from declaring a mixed folder finished. A lock from another host is never broken automatically.

LOCK_FILE = "_cleancrawl.lock"
WRITE_PROBE = ".cleancrawl-write-probe"
TEMP_SUFFIX = r"(\.tmp-[^/]+)?"  # a temporary name of a file being written (…tmp-<uuid> or …tmp-<pid>)


class OutputLayout:
    """The files one command writes into its output folder: top-level names and sub-folders."""

    def __init__(self, command: str, top: str, folders: dict[str, str] | None = None,
                 marker: str = "_SUCCESS", noun: str = "run"):
        self.command = command
        self.marker = marker  # written last: present when the run finished
        self.noun = noun
        self._top = re.compile(top)
        self._folders = {name: re.compile(pattern) for name, pattern in (folders or {}).items()}

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(self._folders)

    def owns(self, relative: str) -> bool:
        """Is `relative` (a path inside the output folder, '/'-separated) one of this layout's files?"""
        if relative in (LOCK_FILE, WRITE_PROBE):
            return True
        folder, _, name = relative.rpartition("/")
        name = temp_name_of(name) or name  # a file of its own being written (atomic_writer)
        if not folder:
            return bool(self._top.match(name))
        pattern = self._folders.get(folder)
        return bool(pattern and pattern.match(name))




def _absolute(path: str) -> str:
    if is_remote(path):
        return path.rstrip("/")
    return os.path.realpath(os.path.expanduser(path))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def check_not_input(output: str, inputs: Iterable[str], option: str = "--output") -> None:
    """Refuse an output folder that is, holds, or lies inside any input (a file, a folder or a glob)."""
    out = _absolute(output)
    for item in inputs:
        if not item:
            continue
        if any(c in item for c in "*?["):  # a glob: the folder it lists
            item = re.split(r"[*?\[]", item, maxsplit=1)[0].rsplit("/", 1)[0] or "."
        path = _absolute(item)
        if _inside(path, out) or _inside(out, path):
            raise UserError(f"{option} {output} overlaps the input {item}; write somewhere else")


def output_files(output: str, layout: OutputLayout) -> tuple[list[str], str | None]:
    """(the layout's files in `output`, relative, sorted; the first foreign entry or None).

    Locally only the top level and the layout's own folders are listed: a foreign folder is
    named, never walked. Remote prefixes are listed whole (objects, not folders)."""
    ours, foreign = [], []
    if is_remote(output):
        prefix = output.rstrip("/") + "/"
        try:
            found = filesystems().match([prefix + "**"])[0].metadata_list
        except Exception:  # nothing under the prefix
            found = []
        for m in found:
            relative = m.path[len(prefix):] if m.path.startswith(prefix) else m.path
            (ours if layout.owns(relative) else foreign).append(relative)
        return sorted(ours), (sorted(foreign)[0] if foreign else None)
    if not os.path.isdir(output):
        if os.path.exists(output):
            return [], output
        return [], None
    for name in sorted(os.listdir(output)):
        path = os.path.join(output, name)
        if os.path.isdir(path) and not os.path.islink(path) and name in layout.folders:
            for inner in sorted(os.listdir(path)):
                relative = f"{name}/{inner}"
                ok = os.path.isfile(os.path.join(path, inner)) and layout.owns(relative)
                (ours if ok else foreign).append(relative)
        elif os.path.isfile(path) and not os.path.islink(path) and layout.owns(name):
            ours.append(name)
        else:
            foreign.append(name + ("/" if os.path.isdir(path) else ""))
    return ours, (foreign[0] if foreign else None)


def prepare_output_folder(output: str, layout: OutputLayout, overwrite: bool, inputs: Iterable[str] = (),
                          lock: bool = True) -> "OutputLock | None":
    """Check `output` for `layout.command` and make it ready; returns the held lock (or None).

    Refused, with one line: an output that overlaps an input; a folder holding anything the
    command did not write (named; nothing is deleted); existing output without `overwrite`; a
    folder another live run holds. With `overwrite`, only the layout's own files are deleted.
    """
    check_not_input(output, inputs)
    ours, foreign = output_files(output, layout)
    if foreign:
        raise UserError(f"{output} holds {foreign}, which cleancrawl {layout.command} did not write; "
                        "choose an empty or new output folder (nothing was deleted: --overwrite replaces only its own files)")
    held = OutputLock.acquire(output, layout.command) if lock else None
    try:
        old = [r for r in ours if r not in (LOCK_FILE, WRITE_PROBE)]
        if old and not overwrite:
            finished = layout.marker in old
            what = f"a finished {layout.noun}" if finished else f"partial output of an unfinished {layout.noun}"
            raise UserError(f"{output} already holds {what}; pass --overwrite to replace it")
        if old:
            delete([join(output, r) for r in old])
    except BaseException:
        if held:
            held.release()
        raise
    return held


def _process_start(pid: int) -> str | None:
    """A process's start time (Linux: /proc/PID/stat field 22), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        pass
    now = _process_start(pid)
    return start is None or now is None or now == start


class OutputLock:
    """`OUT/_cleancrawl.lock`: one writer per output folder (see the comment above)."""

    def __init__(self, output: str, run_id: str, info: dict):
        self.output, self.run_id, self.info = output, run_id, info
        self.path = join(output, LOCK_FILE)

    @classmethod
    def acquire(cls, output: str, command: str) -> "OutputLock":
        import socket
        import time
        import uuid

        info = {"run_id": uuid.uuid4().hex, "command": command, "host": socket.gethostname(),
                "pid": os.getpid(), "pid_start": _process_start(os.getpid()),
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        data = (json.dumps(info) + "\n").encode("utf-8")
        lock = cls(output, info["run_id"], info)
        for _ in range(2):
            try:
                holder = lock._try_create(data)
            except UserError:
                raise
            except Exception as err:  # not a folder, no permission, no such bucket
                raise UserError(f"cannot write to {output}: {err}"[:600]) from None
            if holder is None:
                return lock
            if not lock._stale(holder):
                who = (f"cleancrawl {holder.get('command', '?')}, pid {holder.get('pid', '?')} on "
                       f"{holder.get('host', '?')}, since {holder.get('started', '?')}")
                raise UserError(f"{output} is being written by another run ({who}); wait for it to "
                                f"finish, or delete {lock.path} if that run is gone")
            delete([lock.path])  # left by a run that died: replace it
        raise UserError(f"{output}: cannot take {lock.path}: another run keeps taking it")

    def _try_create(self, data: bytes) -> dict | None:
        """Create the lock file; None when created, else what the existing lock says."""
        if is_remote(self.path):  # no atomic create on object stores: check, then write
            fs = filesystems()
            if fs.exists(self.path):
                return _read_lock(self.path)
            with fs.create(self.path) as f:
                f.write(data)
            return None
        os.makedirs(self.output, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return _read_lock(self.path)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return None

    def _stale(self, holder: dict) -> bool:
        import socket
        import time

        if not holder:  # empty or unreadable: a run killed between create and write, if old enough
            try:
                age = time.time() - os.path.getmtime(self.path) if not is_remote(self.path) else 60
            except OSError:
                return True
            return age > 10
        if holder.get("host") != socket.gethostname():
            return False  # cannot tell whether a process on another machine lives
        try:
            pid = int(holder.get("pid") or 0)
        except (TypeError, ValueError):
            pid = 0
        return pid <= 0 or pid == os.getpid() or not _alive(pid, holder.get("pid_start"))

    def owned(self) -> bool:
        return _read_lock(self.path).get("run_id") == self.run_id

    def release(self) -> None:
        """Delete the lock if it is still this run's (never another run's)."""
        try:
            if self.owned():
                delete([self.path])
        except Exception:  # already gone, or the store is unreachable: nothing to hold anyway
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _read_lock(path: str) -> dict:
    try:
        if is_remote(path):
            with filesystems().open(path) as f:
                found = json.loads(f.read().decode("utf-8"))
        else:
            with open(path, encoding="utf-8") as f:
                found = json.load(f)
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}
    except Exception:  # a remote "not found"
        return {}


def check_lock_owner(output: str, run_id: str) -> None:
    """Raise UserError unless `output`'s lock still names `run_id`: called before a run declares
    its output finished, so that a run that lost the folder to another never writes `_SUCCESS`."""
    holder = _read_lock(join(output, LOCK_FILE))
    if holder.get("run_id") != run_id:
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "nobody (the lock was deleted)"
        raise UserError(f"{output}: {_TAKEN_OVER} (lock held by "
                        f"{who}); its files are mixed: rerun with --overwrite when no other run writes there")


# ---------------------------------------------------------------------------- failures while writing

def is_disk_full(err: BaseException) -> bool:
    """An ENOSPC/EDQUOT anywhere in `err`'s chain, or in a worker's re-raised message."""
    import errno

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(err)
        if "[Errno 28]" in text or "No space left on device" in text or "[Errno 122]" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


_TAKEN_OVER = "another run took the output folder while this one ran"


@contextlib.contextmanager
def write_errors_are_user_errors(output: str):
    """Around a run that writes `output`: a full disk, and the run id check failing inside a
    pipeline worker (Beam re-raises a DoFn's exception wrapped, or as text from another process),
    become one line (UserError) instead of a traceback."""
    shown_again = hide_explained_beam_tracebacks()
    try:
        yield
    except UserError:
        raise
    except Exception as err:
        if is_disk_full(err):
            raise UserError(f"{output}: no space left on device; free space or choose another output "
                            "(the unfinished output has no _SUCCESS and readers refuse it)") from None
        cause, seen = err, set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, UserError) or _TAKEN_OVER in str(cause):
                lines = str(cause).splitlines() or [type(cause).__name__]
                line = next((l for l in lines if _TAKEN_OVER in l), lines[0])
                raise UserError(line.split("UserError: ", 1)[-1][:600]) from None
            cause = cause.__cause__ or cause.__context__
        raise
    finally:
        shown_again()


# where Beam logs a failing DoFn: in this process, and a worker process's log forwarded here
_BEAM_ERROR_LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.portability.local_job_service",
                       "apache_beam.runners.worker.sdk_worker")


def hide_explained_beam_tracebacks():
    """Beam logs a failing DoFn's traceback before re-raising it; for a full disk and a lost
    output folder, explained in one line by `write_errors_are_user_errors`, it is left out (also
    in `--workers` processes, which log to the same terminal). Returns the undo function."""
    import logging

    quiet = _ExplainedFailures()
    loggers = [logging.getLogger(name) for name in _BEAM_ERROR_LOGGERS]
    for logger in loggers:
        logger.addFilter(quiet)

    def undo():
        for logger in loggers:
            logger.removeFilter(quiet)
    return undo


class _ExplainedFailures:
    """A logging filter: drops Beam's traceback of the failures explained in one line above."""

    def filter(self, record) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if err is not None and (is_disk_full(err) or isinstance(err, UserError)):
            return False
        text = record.getMessage()
        return not (is_disk_full(RuntimeError(text)) or _TAKEN_OVER in text)


def open_binary(path: str):
    """A binary file object for reading a local path or any file system Beam knows, as stored
    (no decompression by file name: callers look at the bytes)."""
    if not is_remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes

    return filesystems().open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def file_signature(path: str) -> tuple | None:
    """(size, modification time) of a file, local or remote; None when it is gone. Two equal
    signatures taken before and after reading say the file did not change meanwhile."""
    if not is_remote(path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino
    try:
        found = filesystems().match([path])[0].metadata_list
    except Exception:
        return None
    return (found[0].size_in_bytes, found[0].last_updated_in_seconds) if found else None


def use_pipeline_options(options) -> None:
    """Remote file systems take their settings (s3 endpoint and credentials, gcs project) from a
    run's Beam pipeline options: set them here too, for the listing and checks done before it."""
    from apache_beam.io.filesystems import FileSystems

    FileSystems.set_options(options)


def delete(paths: list[str]) -> None:
    """Delete files, local or remote (all of one kind)."""
    if paths and is_remote(paths[0]):
        filesystems().delete(paths)
        return
    for path in paths:
        os.remove(path)


def delete_matching(pattern: str) -> None:
    """Delete every file a glob matches (none: nothing to do)."""
    try:
        found = [path for path, _ in match_files(pattern)]
    except UserError:  # nothing under a remote prefix
        found = []
    if found:
        delete(found)


def create(path: str):
    """A new binary file at `path` (local or remote), written in place: for a run's private
    temporary files (spill files), which no reader takes for output. Output files go through
    `atomic_writer`."""
    if not is_remote(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return open(path, "wb")
    from apache_beam.io.filesystem import CompressionTypes

    return filesystems().create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def open_append(path: str):
    """A local text file opened for appending whole lines (a run's own log, `metrics.jsonl`): each
    write is one line, flushed by the caller; a line cut by a kill is the reader's to drop."""
    if is_remote(path):
        raise UserError(f"{path}: a log is appended on a local disk")
    return open(path, "a", encoding="utf-8")


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if is_remote(path) else os.path.basename(path)


def match_files(pattern: str) -> list[tuple[str, int]]:
    """(path, size) of the files a glob matches, local or remote, sorted; [] when none."""
    if is_remote(pattern):
        try:
            found = filesystems().match([pattern])[0].metadata_list
        except Exception as err:
            from cleancrawl.corpus.safe_text import one_line

            raise UserError(f"cannot list {pattern}: {one_line(err)}") from None
        return sorted((m.path, m.size_in_bytes) for m in found)
    import glob

    return sorted((p, os.path.getsize(p)) for p in glob.glob(os.path.expanduser(pattern), recursive=True)
                  if os.path.isfile(p))


def broken_links(pattern: str) -> list[str]:
    """The local symbolic links a glob names (hidden names aside) whose target is missing, sorted:
    `match_files` leaves them out. [] for a remote pattern."""
    if is_remote(pattern):
        return []
    import glob

    try:
        names = glob.glob(pattern, recursive=True) if set("*?[") & set(pattern) else [pattern]
    except (OSError, ValueError):
        return []
    return sorted(n for n in names if not os.path.basename(n).startswith(".")
                  and os.path.islink(n) and not os.path.exists(n))


def broken_link_target(path: str) -> str | None:
    """Where a local symbolic link whose target is missing points ("?" if unreadable); None otherwise."""
    if is_remote(path) or not os.path.islink(path) or os.path.exists(path):
        return None
    try:
        return os.readlink(path)
    except OSError:
        return "?"


# ---------------------------------------------------------------------------- atomic writes
#
# Every file cleancrawl writes is written under one temporary name beside it, `.<name>.tmp-<hex>`,
# and renamed over the final name when complete (synced first, locally); on any error (a full disk,
# a lost connection, a kill signal turned into an exception) the temporary file is removed. So a
# partial file never carries the final name, and an output layout knows every temporary name
# (`OutputLayout.owns` accepts them; `temp_name_of` reads them back).

_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-[0-9a-f]{8,32}$")


def temp_path(path: str) -> str:
    """The temporary name `path` is written under: `.<name>.tmp-<random hex>` beside it."""
    import uuid

    directory, _, name = path.rpartition("/") if is_remote(path) else (os.path.dirname(path), "/", os.path.basename(path))
    tmp = f".{name}.tmp-{uuid.uuid4().hex}"
    return f"{directory}/{tmp}" if is_remote(path) else os.path.join(directory, tmp)


def temp_name_of(name: str) -> str | None:
    """The final name a temporary file name stands for (None: not a temporary name)."""
    found = _TEMP_NAME.match(name)
    return found.group("name") if found else None


@contextlib.contextmanager
def atomic_writer(path: str):
    """A binary file object for `path` (local, or any file system Beam knows), written under
    `temp_path(path)` and renamed over `path` when the block ends; on any error the temporary
    file is removed. Local files are synced before the rename and need no Beam (a GPU machine
    with only torch writes its checkpoints through here)."""
    tmp = temp_path(path)
    if not is_remote(path):
        if not os.path.isdir(os.path.dirname(tmp) or "."):  # as Beam's local create does
            with contextlib.suppress(FileExistsError):  # a file in the way: open() below names it
                os.makedirs(os.path.dirname(tmp))
        try:
            with open(tmp, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return
    from apache_beam.io.filesystem import CompressionTypes

    fs = filesystems()
    try:
        with fs.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            yield f
    except BaseException:  # a full disk, a lost connection: leave no temporary file behind
        with contextlib.suppress(Exception):
            if fs.exists(tmp):
                fs.delete([tmp])
        raise
    if fs.exists(path):
        fs.delete([path])
    fs.rename([tmp], [path])


def write_atomically(path: str, data: bytes) -> None:
    """`data` as the whole of `path`, written through `atomic_writer`."""
    with atomic_writer(path) as f:
        f.write(data)


def open_seekable(path: str):
    """A seekable binary file for a local or remote path: pyarrow's own file systems for
    gs:// and s3:// (ranged reads of just the needed columns), Beam's for other schemes or when
    file-system options were given as Beam options (pyarrow knows none of them). Use it as a
    context manager; `pq.ParquetFile(source)` reads from it."""
    import pyarrow as pa

    if not is_remote(path):
        return pa.OSFile(path, "rb")   # native reads, not through a Python file object
    if filesystem_args():
        return filesystems().open(path, compression_type="uncompressed")
    try:
        from pyarrow import fs as pafs
        filesystem, inner = pafs.FileSystem.from_uri(path)
        return filesystem.open_input_file(inner)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ImportError):
        return filesystems().open(path, compression_type="uncompressed")
