"""What pretraining writes, and the rules it writes by: the build's (`cleancrawl.storage`).

    pretrain --out RUN                   RUN/config.json, metrics.jsonl, checkpoint.pt, summary.json
    experiment repetition --out SWEEP    SWEEP/<model>_u<U>/ (one run each), results.md, results.csv,
                                         val_loss_vs_repeats.png, bpb_vs_repeats.png, curves.png,
                                         report.html, fit.json
    experiment datasets --out OUT        OUT/<dataset>/ (one run each), results.json, results.md,
                                         results.csv, bpb.png

Each command owns exactly those files (and their `.tmp-` names while written). Before writing it
refuses, in one line and with nothing changed: a folder holding anything else (a user's file, a
folder of its own, a link), even with --resume; a run file whose content is not a run's (a user's
`config.json` or `summary.json` under a run's name); and a folder another live run holds
(`_cleancrawl.lock`: a second `pretrain` on one --out names the first and exits 2). `--resume` goes
on in the run's own folder: its lock replaces a dead run's, and the temporary files a killed write
left are removed. Run folders are plain names inside --out (never `..`, never a path), so nothing
is written outside it. A full disk or a folder that cannot be written is one line too; every file
is written under a temporary name and renamed (`storage.atomic_writer`), so the previous
checkpoint stays whole.

torch-free: the experiments check their folders before any run starts.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import statistics
from typing import Callable, Iterable

from cleancrawl import output_folder, storage, write_failures
from cleancrawl.corpus.errors import UserError

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
CONFIG = "config.json"
RUN_FILES = (CONFIG, METRICS, CHECKPOINT, SUMMARY)

# `.tmp-<pid>` suffixes and `.tmp` alone: temporary names of earlier versions (storage.atomic_writer's own
# are known to OutputLayout)
_TEMP = r"(\.tmp(-[^/]*)?)?"
_RUN_NAMES = "|".join(re.escape(n) for n in RUN_FILES)
_RUN_FILE = rf"^({_RUN_NAMES}){_TEMP}$"
RUN_LAYOUT = output_folder.OutputLayout("pretrain", _RUN_FILE, marker=SUMMARY, noun="run")
_RUN_FILE_IN_EXPERIMENT = rf"^(({_RUN_NAMES}){_TEMP}|{re.escape(output_folder.LOCK_FILE)})$"  # a run's lock too

REPETITION_RESULTS = ("results.md", "results.csv", "val_loss_vs_repeats.png", "bpb_vs_repeats.png",
                      "curves.png", "report.html", "fit.json")
DATASETS_RESULTS = ("results.json", "results.md", "results.csv", "bpb.png")


def experiment_layout(command: str, results: Iterable[str], runs: Iterable[str]) -> output_folder.OutputLayout:
    """`experiment COMMAND`'s folder: its result files at the top, and the run folders `runs`."""
    results = tuple(results)
    top = "^(" + "|".join(re.escape(n) for n in results) + ")" + _TEMP + "$"
    return output_folder.OutputLayout(f"experiment {command}", top, {name: _RUN_FILE_IN_EXPERIMENT for name in runs},
                                marker=results[0], noun="experiment")


# ---------------------------------------------------------------------------------------------
# Run folder names


def check_plain_name(name: str, what: str, reserved: Iterable[str] = ()) -> str:
    """A run folder's name: one plain path component (not '', '.', '..', hidden, nor holding a
    separator or a control character), and none of the experiment's own file names."""
    bad = (not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name
           or (os.altsep and os.altsep in name) or any(ord(c) < 32 or ord(c) == 127 for c in name)
           or len(name.encode("utf-8", "surrogateescape")) > 200)
    if bad:
        raise UserError(f"{what} {name!r}: not a plain name (a run folder is made of it inside --out): "
                        "use letters, digits, '-', '_' or '.', not a path")
    if name in set(reserved) or name == output_folder.LOCK_FILE:
        raise UserError(f"{what} {name!r}: the name of a file the experiment writes; choose another")
    return name


def run_folder(out: str, name: str) -> str:
    """`out/name`, refused unless it lies directly inside `out` (a last check after `check_plain_name`)."""
    path = os.path.join(out, name)
    if os.path.dirname(os.path.normpath(os.path.abspath(path))) != os.path.normpath(os.path.abspath(out)):
        raise UserError(f"{name!r}: a run folder outside --out {out}; use a plain name")
    return path


def check_out_not_tokens(out: str, tokens: str) -> None:
    """A run directory that is, holds or lies inside the token directory it reads is refused."""
    if storage.is_remote(tokens) or storage.is_remote(out):
        return
    o, t = os.path.realpath(out), os.path.realpath(tokens)
    if o == t or o.startswith(t.rstrip(os.sep) + os.sep) or t.startswith(o.rstrip(os.sep) + os.sep):
        raise UserError(f"--out {out} overlaps the input --tokens {tokens}; choose another --out")


# ---------------------------------------------------------------------------------------------
# Taking a folder


def _refuse_foreign(out: str, layout: output_folder.OutputLayout, flag: str) -> None:
    if os.path.exists(out) and not os.path.isdir(out):
        raise UserError(f"{flag} {out}: is a file, not a folder; choose another {flag}")
    _, foreign = output_folder.output_files(out, layout)
    if foreign:
        raise UserError(f"{out} holds {foreign}, which cleancrawl {layout.command} did not write; choose an "
                        f"empty or new {flag} (nothing was changed)")


def _remove_temporaries(folder: str, ours: Iterable[str]) -> None:
    """The `.tmp` files a killed write left (the lock is held: nobody writes them now)."""
    for relative in ours:
        if re.search(r"\.tmp(-[^/]*)?$", relative):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, relative))


def prepare_run_folder(out: str, resume: bool) -> output_folder.OutputLock:
    """Check `pretrain`'s --out and take its lock; returns the held lock (release it when done).

    Refused in one line, nothing changed: a folder holding files `pretrain` did not write (by name,
    or a run file's content that is not a run's), a folder another live run holds, and without
    `resume` one that holds a run already."""
    _refuse_foreign(out, RUN_LAYOUT, "--out")
    lock = output_folder.OutputLock.acquire(out, RUN_LAYOUT.command)  # creates the folder
    try:
        ours, foreign = output_folder.output_files(out, RUN_LAYOUT)  # again, under the lock
        if foreign:
            raise UserError(f"{out} holds {foreign}, which cleancrawl pretrain did not write; choose an empty "
                            "or new --out (nothing was changed)")
        present = [name for name in RUN_FILES if name in ours]
        for name in present:
            check_run_file(out, name)
        if present and not resume:
            raise UserError(f"{out}: holds a run already; pass --resume to continue it or choose another --out")
        _remove_temporaries(out, ours)
    except BaseException:
        lock.release()
        raise
    return lock


def prepare_experiment_folder(out: str, command: str, results: tuple[str, ...], runs: Iterable[str],
                              is_run: Callable[[str], bool]) -> output_folder.OutputLock:
    """Check an experiment's --out and take its lock. Sub-folders are its runs: the ones this
    invocation trains (`runs`) and, left by earlier ones, any whose name `is_run`; each may hold
    a run's files only. Anything else refuses the folder in one line, nothing changed."""
    existing = []
    if os.path.isdir(out):
        existing = [n for n in os.listdir(out) if os.path.isdir(os.path.join(out, n)) and is_run(n)]
    layout = experiment_layout(command, results, [*runs, *existing])
    _refuse_foreign(out, layout, "--out")
    lock = output_folder.OutputLock.acquire(out, layout.command)
    try:
        ours, foreign = output_folder.output_files(out, layout)
        if foreign:
            raise UserError(f"{out} holds {foreign}, which cleancrawl {layout.command} did not write; choose an "
                            "empty or new --out (nothing was changed)")
        _remove_temporaries(out, [r for r in ours if "/" not in r])  # a run's own are its run's to remove
    except BaseException:
        lock.release()
        raise
    return lock


# ---------------------------------------------------------------------------------------------
# What a run file holds


def _not_ours(out: str, name: str, why: str) -> UserError:
    return UserError(f"{os.path.join(out, name)}: not a file cleancrawl pretrain wrote ({why}); move it away or "
                     "choose another --out (nothing was changed)")


def check_run_file(out: str, name: str) -> None:
    """A run file under its name that a run did not write (a user's config.json) is refused.
    checkpoint.pt is checked where it is read (its sha256 trailer, `checkpoint.load_checkpoint`)."""
    path = os.path.join(out, name)
    if name in (CONFIG, SUMMARY):
        try:
            with open(path, encoding="utf-8") as f:
                found = json.load(f)
        except (OSError, ValueError) as err:
            raise _not_ours(out, name, f"not JSON: {type(err).__name__}") from None
        keys = ("config", "model_config", "total_steps") if name == CONFIG else ("finished", "steps")
        if not isinstance(found, dict) or any(k not in found for k in keys) or \
                (name == CONFIG and not isinstance(found["config"], dict)):
            raise _not_ours(out, name, f"it lacks {', '.join(keys)}")
    elif name == METRICS:
        read_metrics(path, out)


def read_metrics(path: str, out: str | None = None) -> list[str]:
    """The complete lines of a run's metrics.jsonl, each a JSON record with a step. A last line
    without its newline (a write cut by a kill or a full disk) is left out; any other line that is
    not a record means the file is not a run's (UserError)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last piece follows the last newline: empty, or cut short
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise _not_ours(out or os.path.dirname(path), os.path.basename(path),
                            f"line {number} is not a metrics record")
    return [line.decode("utf-8") + "\n" for line in complete if line.strip()]


def truncate_metrics(path: str, last_step: int) -> None:
    """Drop records past the checkpoint (and a last line cut short), so a resumed log reads as one
    uninterrupted run. Replaced atomically: a kill or a full disk leaves the old file."""
    if not os.path.exists(path):
        return
    kept = [line for line in read_metrics(path) if json.loads(line)["step"] <= last_step]
    write_file(path, "".join(kept))


class MetricsLog:
    """A run's metrics.jsonl, one JSON record a line, appended to (and flushed) as the run logs;
    by the main rank only (`write=False` elsewhere). A line cut short by a kill or a full disk is
    left out when the log is read back (`read_metrics`)."""

    def __init__(self, path: str, write: bool):
        self.path, self._write, self._file = path, write, None

    def __enter__(self) -> "MetricsLog":
        if self._write:
            self._file = storage.open_append(self.path)
        return self

    def write(self, record: dict) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()


def median_throughput(metrics_path: str) -> float | None:
    """Median tokens/s over a run's records, the first (compilation, warm-up) left out."""
    if not os.path.exists(metrics_path):
        return None
    rates = [json.loads(line)["tokens_per_s"] for line in read_metrics(metrics_path)]
    rates = rates[1:] or rates
    return float(statistics.median(rates)) if rates else None


def check_lock(lock: output_folder.OutputLock | None, out: str) -> None:
    """Before a checkpoint or the summary: this run still holds its folder (the lock was not
    deleted and taken by another run meanwhile), so it never overwrites another run's files."""
    if lock is not None and not lock.owned():
        raise UserError(f"{out}: another run took this folder while this one ran (its lock is no longer this "
                        "run's); stopped without writing more: check the folder, or start over in another --out")


# ---------------------------------------------------------------------------------------------
# Failures while writing


def write_failure(err: BaseException, out: str, flag: str = "--out", resumable: bool = True) -> UserError | None:
    """One line for a full disk, or a folder that cannot be written, met while writing `out` (given
    as `flag`); None for anything else (a real bug keeps its traceback)."""
    if write_failures.is_disk_full(err):
        return UserError(f"{out}: no space left on device; free space or choose another {flag}"
                         + (" (the last checkpoint is intact: continue with --resume)" if resumable else ""))
    cause, seen = err, set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR):
            target, folder = os.path.abspath(str(cause.filename or "")), os.path.abspath(out)
            if cause.filename is not None and (target == folder or target.startswith(folder.rstrip(os.sep) + os.sep)):
                return UserError(f"cannot write to {out}: {cause.strerror or cause} ({cause.filename})")
        cause = cause.__cause__ or cause.__context__
    return None


@contextlib.contextmanager
def write_errors_are_one_line(out: str, flag: str = "--out", resumable: bool = True):
    """Around code that writes `out`: a full disk or an unwritable folder becomes a UserError."""
    try:
        yield
    except UserError:
        raise
    except Exception as err:
        failure = write_failure(err, out, flag, resumable)
        if failure is None:
            raise
        raise failure from None


def write_file(path: str, data: bytes | str) -> None:
    """`data` into `path` under a temporary name, synced, then renamed: never a half-written file."""
    with storage.atomic_writer(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
