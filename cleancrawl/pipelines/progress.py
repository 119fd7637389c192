"""Progress of `cleancrawl build` (and finish): documents read, files done, documents kept (as
shards are written), elapsed time, and for files pulled over HTTP(S) the bytes fetched, the current
rate, and retries by cause (`cleancrawl.http_files.stats()`). On a terminal one line is redrawn;
otherwise (a log, a batch job) one plain line is written a minute (`CLEANCRAWL_PROGRESS_LOG_SECONDS`,
0 for none).

The DoFns report to a per-process counter (`counted` wraps the reader's records, `shard_written`
is called by the write step); the counter writes its totals to DIR/<pid>.json at most a few times
a second, and the CLI process sums those files and redraws one line on stderr. Files rather than
a queue, so that the same code works when the DirectRunner runs the DoFns in this process, in
threads, or in worker processes (`--workers N`), which find DIR in the environment they inherit.
Without that environment variable (`-q`, or any other runner) both calls do nothing.
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
from collections import deque
from typing import Iterable, Iterator, TypeVar

from cleancrawl import storage, verbosity

ENV = "CLEANCRAWL_PROGRESS_DIR"
LOG_ENV = "CLEANCRAWL_PROGRESS_LOG_SECONDS"
INTERVAL = 0.25  # seconds between writes of a process's counts, and between redraws
LOG_INTERVAL = 60.0  # seconds between two lines where stderr is not a terminal
RATE_WINDOW = 10.0  # seconds of fetching the terminal's "current rate" looks back over

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
            values = dict(self.values)
            http = sys.modules.get("cleancrawl.http_files")  # not imported: this process fetched nothing
            if http is not None:
                values["http"] = _since(http.stats(), _http_before.get(self.pid))
            try:
                storage.write_atomically(path, json.dumps(values).encode())
            except OSError:  # the display has ended (its folder removed): nothing to report to
                pass


_counts: _Counts | None = None
# This process's HTTP figures when its display began: what an earlier run in it fetched is not this one's
# (a worker process of its own starts from nothing).
_http_before: dict[int, dict] = {}


def _since(now: dict, before: dict | None) -> dict:
    if not before:
        return now
    return {key: _since(value, before.get(key)) if isinstance(value, dict) else value - before.get(key, 0)
            for key, value in now.items()}


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


def _add(into: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            _add(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


def _totals(directory: str) -> dict:
    totals: dict = {"read": 0, "files": 0, "kept": 0, "shards": 0}
    for name in os.listdir(directory):
        if name.endswith(".json"):
            try:
                with open(os.path.join(directory, name)) as f:
                    _add(totals, json.load(f))
            except (OSError, ValueError):  # replaced while read: the next redraw has it
                pass
    return totals


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""


def render(totals: dict, seconds: float, rate: float | None = None) -> str:
    """The progress line; `rate`: bytes a second fetched lately (shown when files come over HTTP)."""
    minutes, secs = divmod(int(seconds), 60)
    line = (f"build: {totals['read']:,} documents read, {totals['files']:,} file(s) done, "
            f"{totals['kept']:,} kept")
    if totals["shards"]:
        line += f" in {totals['shards']:,} shard(s)"
    http = totals.get("http")
    if http and http.get("requests"):
        line += f" · fetched {_size(http.get('bytes', 0))} of {http.get('files', 0):,} file(s)"
        if rate is not None:
            line += f" at {_size(rate)}/s"
        retries = {cause: n for cause, n in (http.get("retries") or {}).items() if n}
        if retries:
            causes = ", ".join(f"{cause} {n:,}" for cause, n in sorted(retries.items(), key=lambda kv: -kv[1]))
            line += f", {sum(retries.values()):,} retries ({causes})"
        failures = {kind: n for kind, n in (http.get("failures") or {}).items() if n}
        if failures:
            line += f", {sum(failures.values()):,} failed"
    return f"{line} · {minutes}:{secs:02d} elapsed"


def log_interval() -> float:
    """Seconds between two progress lines where stderr is not a terminal (0: none)."""
    try:
        return max(0.0, float(os.environ.get(LOG_ENV, LOG_INTERVAL)))
    except ValueError:
        return LOG_INTERVAL


@contextlib.contextmanager
def display(enabled: bool, stream=None, log_every: float | None = None):
    """Show progress on `stream` (stderr) while the body runs, when `enabled`: one line redrawn,
    or with `log_every` seconds, one plain line that often (a log: nothing at the end)."""
    if not enabled or log_every == 0:
        yield
        return
    stream = stream or sys.stderr
    http = sys.modules.get("cleancrawl.http_files")
    if http is not None:
        _http_before[os.getpid()] = http.stats()
    directory = tempfile.mkdtemp(prefix="cleancrawl-progress-")
    previous = os.environ.get(ENV)
    os.environ[ENV] = directory
    start = time.monotonic()
    done = threading.Event()
    shown = [""]
    fetched: deque = deque()  # (time, bytes fetched so far): the rate over the last RATE_WINDOW or log line

    def line() -> str:
        totals, now = _totals(directory), time.monotonic()
        fetched.append((now, (totals.get("http") or {}).get("bytes", 0)))
        while len(fetched) > 2 and now - fetched[1][0] >= (log_every or RATE_WINDOW):
            fetched.popleft()
        (t0, b0), (t1, b1) = fetched[0], fetched[-1]
        return render(totals, now - start, (b1 - b0) / (t1 - t0) if t1 > t0 else None)

    def draw() -> None:
        text = line()
        if text != shown[0]:  # redrawn when a count or the elapsed second changes
            stream.write("\r\x1b[K" + text)
            stream.flush()
            shown[0] = text

    def loop() -> None:
        if log_every:
            while not done.wait(log_every):
                stream.write(line() + "\n")
                stream.flush()
            return
        while not done.wait(INTERVAL):
            draw()

    thread = threading.Thread(target=loop, name="cleancrawl-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if not log_every:
            draw()
            stream.write("\n")
            stream.flush()
        _http_before.pop(os.getpid(), None)
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def for_command(quiet: bool, stream=None):
    """The display a command shows: redrawn on a terminal, a line a minute in a log, none with -q."""
    stream = stream or sys.stderr
    if stream.isatty():
        return display(not quiet, stream)
    return display(not quiet, stream, log_every=log_interval())
