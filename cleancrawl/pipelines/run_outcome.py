"""When a run may call itself finished, and what a failed one leaves: the files it could not read
(`--max-failed-files`), the spill files removed on failure, and the code version it records.
Shared by the build, a piece of one and the finish (`pipelines.build`, `pipelines.pieces`)."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os

from cleancrawl import output_folder
from cleancrawl.corpus.errors import RunFailed
from cleancrawl.pipelines.spill import remove_spill

# Files nothing could be read from: not opened (missing, 404, retries exhausted) or not WARC at all.
# A file cut short (`truncated_file`) gave its records up to the cut: named, and `--strict` fails on it.
FAILED_FILE_REASONS = ("read_error", "not_warc")


def failed_files(stats: dict) -> dict[str, str]:
    """The input files that could not be read: file → its first reason and detail."""
    failed: dict[str, str] = {}
    for error in stats.get("file_errors", []):
        if error["reason"] in FAILED_FILE_REASONS:
            file = error.get("file", error.get("source_file"))
            failed.setdefault(file, f"{error['reason']} ({error.get('detail', '')})")
    return failed


def within_failure_limit(stats: dict, limit: float) -> bool:
    """May a build whose stats are `stats` be declared a success? Not when every input file
    failed, nor when more than `limit` of them did (`--max-failed-files`)."""
    files = stats["totals"].get("files", 0)
    failed = len(failed_files(stats))
    return not files or (failed < files and failed <= limit * files)


def check_failure_limit(stats: dict, limit: float, record: str = "stats.json") -> None:
    """RunFailed (exit 1, one line naming the count and the first reasons) past the limit."""
    if within_failure_limit(stats, limit):
        return
    failed = failed_files(stats)
    first = "; ".join(f"{file}: {why}" for file, why in list(failed.items())[:2])
    raise RunFailed(f"{len(failed)} of {stats['totals']['files']} input files could not be read (more than "
                    f"--max-failed-files {limit:g}); no _SUCCESS, {record} lists them: {first}")


@contextlib.contextmanager
def spill_removed_on_failure(lock: output_folder.OutputLock):
    """A run that fails (a full disk, a worker error, Ctrl-C; not a kill) deletes its spill
    files: they are useless without the run, and on a full disk they are what fills it. Not when
    another run has taken the folder: the spill files there may be that run's."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            if lock.owned():
                remove_spill(lock.output)
        raise


def version() -> str:
    """The cleancrawl version that ran (recorded in stats.json and a piece's piece.json)."""
    try:
        return importlib.metadata.version("cleancrawl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def code_fingerprint() -> str:
    """A hash of cleancrawl's code and package data as installed: two processes that give the same
    one run the same code (the version alone does not change between development commits)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            h.update(os.path.relpath(path, root).encode("utf-8", "surrogateescape") + b"\0")
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]
