"""A one-line progress display for `cleancrawl build` on a terminal: documents read, files done,
documents kept (as shards are written), elapsed time.

The DoFns report to a per-process counter (`counted` wraps the reader's records, `shard_written`
is called by the write step); the counter writes its totals to DIR/<pid>.json at most a few times
a second, and the CLI process sums those files and redraws one line on stderr. Files rather than
a queue, so that the same code works when the DirectRunner runs the DoFns in this process, in
threads, or in worker processes (`--workers N`), which find DIR in the environment they inherit.
Without that environment variable (no terminal, `-q`, or any other runner) both calls do nothing.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from typing import Iterable, Iterator, TypeVar

from cleancrawl import storage, verbosity

ENV = "CLEANCRAWL_PROGRESS_DIR"
INTERVAL = 0.25  # seconds between writes of a process's counts, and between redraws

T = TypeVar("T")


class _Counts:
    def __init__(self, directory: str):
        self.directory = directory
        self.pid = os.getpid()
        self.values = {"read": 0, "files": 0, "kept": 0, "shards": 0}
        self._lock = threading.Lock()
        self._written = 0.0

    def add(self, force: bool = False, **increments: int) -> None:
        with self._lock:
            for name, n in increments.items():
                self.values[name] += n
            now = time.monotonic()
            if not force and now - self._written < INTERVAL:
                return
            self._written = now
            path = os.path.join(self.directory, f"{self.pid}.json")
            try:
                storage.write_atomically(path, json.dumps(self.values).encode())
            except OSError:  # the display has ended (its folder removed): nothing to report to
                pass


_counts: _Counts | None = None


def _current() -> _Counts | None:
    global _counts
    directory = os.environ.get(ENV)
    if not directory:
        return None
    if _counts is None or _counts.directory != directory or _counts.pid != os.getpid():
        _counts = _Counts(directory)
    return _counts


def counted(records: Iterable[T]) -> Iterator[T]:
    """The records of one input file, each counted as read, then the file as done."""
    counts = _current()
    verbosity.configure_worker()  # worker processes: warcio's warnings only with -v
    if counts is None:
        yield from records
        return
    for record in records:
        counts.add(read=1)
        yield record
    counts.add(files=1, force=True)


def shard_written(split: str, documents: int) -> None:
    """A shard of `split` written; only train/validation shards hold kept documents."""
    counts = _current()
    if counts is not None and split in ("train", "validation"):
        counts.add(kept=documents, shards=1, force=True)


def _totals(directory: str) -> dict[str, int]:
    totals = {"read": 0, "files": 0, "kept": 0, "shards": 0}
    for name in os.listdir(directory):
        if name.endswith(".json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    for key, n in json.load(f).items():
                        totals[key] = totals.get(key, 0) + n
            except (OSError, ValueError):  # replaced while read: the next redraw has it
                pass
    return totals


def render(totals: dict[str, int], seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    line = (f"build: {totals['read']:,} documents read, {totals['files']:,} file(s) done, "
            f"{totals['kept']:,} kept")
    if totals["shards"]:
        line += f" in {totals['shards']:,} shard(s)"
    return f"{line} · {minutes}:{secs:02d} elapsed"


@contextlib.contextmanager
def display(enabled: bool, stream=None):
    """Redraw the progress line on `stream` (stderr) while the body runs, when `enabled`."""
    if not enabled:
        yield
        return
    stream = stream or sys.stderr
    directory = tempfile.mkdtemp(prefix="cleancrawl-progress-")
    previous = os.environ.get(ENV)
    os.environ[ENV] = directory
    start = time.monotonic()
    done = threading.Event()
    shown = [""]

    def draw() -> None:
        line = render(_totals(directory), time.monotonic() - start)
        if line != shown[0]:  # redrawn when a count or the elapsed second changes
            stream.write("\r\x1b[K" + line)
            stream.flush()
            shown[0] = line

    def loop() -> None:
        while not done.wait(INTERVAL):
            draw()

    thread = threading.Thread(target=loop, name="cleancrawl-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        draw()
        stream.write("\n")
        stream.flush()
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)
