"""Output folders: what a command may delete, and who may write.

Every command that writes a folder (build, dedup, reddit-urls, tokenizer train, tokenize, tokens
export, stats --html, pretrain and the experiments) describes its own files as an `OutputLayout`;
`prepare_output_folder` refuses a folder that holds an input of the run or any file outside that
layout (even with --overwrite: a user's file is never deleted), refuses existing output without
--overwrite, and takes the folder's `_cleancrawl.lock` (`OutputLock`) before deleting anything.
A layout knows its files' temporary names (`storage.atomic_writer`'s `.<name>.tmp-<hex>`).

Paths, listing and deleting go through `cleancrawl.storage`; what a build's folder holds (shard
names, split folders, `_SUCCESS`) is `cleancrawl.layout`'s business.
"""
from __future__ import annotations

import json
import os
import re
from typing import Iterable

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError

TAKEN_OVER = "another run took the output folder while this one ran"
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
                 marker: str = "_SUCCESS", noun: str = "run", nested: tuple[str, dict[str, str]] | None = None):
        self.command = command
        self.marker = marker  # written last: present when the run finished
        self.noun = noun
        self._top = re.compile(top)
        self._folders = {name: re.compile(pattern) for name, pattern in (folders or {}).items()}
        # folders named by a pattern, each holding these sub-folders (a per-language build: de/train/…)
        self._nested = None if nested is None else (re.compile(nested[0]), {
            name: re.compile(pattern) for name, pattern in nested[1].items()})

    def nests(self, name: str) -> bool:
        """Is `name` a top-level folder of the nested kind (e.g. a language's folder)?"""
        return self._nested is not None and name not in self._folders and bool(self._nested[0].match(name))

    def nested_folders(self) -> tuple[str, ...]:
        return tuple(self._nested[1]) if self._nested else ()

    @property
    def folders(self) -> tuple[str, ...]:
        return tuple(self._folders)

    def owns(self, relative: str) -> bool:
        """Is `relative` (a path inside the output folder, '/'-separated) one of this layout's files?"""
        if relative in (LOCK_FILE, WRITE_PROBE):
            return True
        folder, _, name = relative.rpartition("/")
        name = storage.temp_name_of(name) or name  # a file of its own being written (storage.atomic_writer)
        if not folder:
            return bool(self._top.match(name))
        top, _, sub = folder.partition("/")
        if sub:
            pattern = self._nested[1].get(sub) if self.nests(top) else None
        else:
            pattern = self._folders.get(folder)
        return bool(pattern and pattern.match(name))




def _absolute(path: str) -> str:
    if storage.is_remote(path):
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
    if storage.is_remote(output):
        prefix = output.rstrip("/") + "/"
        try:
            found = storage.filesystems().match([prefix + "**"])[0].metadata_list
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
        elif os.path.isdir(path) and not os.path.islink(path) and layout.nests(name):
            for sub in sorted(os.listdir(path)):
                inner_dir = os.path.join(path, sub)
                if not (os.path.isdir(inner_dir) and not os.path.islink(inner_dir) and sub in layout.nested_folders()):
                    foreign.append(f"{name}/{sub}")
                    continue
                for inner in sorted(os.listdir(inner_dir)):
                    relative = f"{name}/{sub}/{inner}"
                    ok = os.path.isfile(os.path.join(inner_dir, inner)) and layout.owns(relative)
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
                        "choose an empty or new output folder (nothing was deleted: --overwrite replaces only its "
                        "own files)")
    held = OutputLock.acquire(output, layout.command) if lock else None
    try:
        old = [r for r in ours if r not in (LOCK_FILE, WRITE_PROBE)]
        if old and not overwrite:
            finished = layout.marker in old
            what = f"a finished {layout.noun}" if finished else f"partial output of an unfinished {layout.noun}"
            raise UserError(f"{output} already holds {what}; pass --overwrite to replace it")
        if old:
            storage.delete([storage.join(output, r) for r in old])
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
        self.path = storage.join(output, LOCK_FILE)

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
            storage.delete([lock.path])  # left by a run that died: replace it
        raise UserError(f"{output}: cannot take {lock.path}: another run keeps taking it")

    def _try_create(self, data: bytes) -> dict | None:
        """Create the lock file; None when created, else what the existing lock says."""
        if storage.is_remote(self.path):  # no atomic create on object stores: check, then write
            fs = storage.filesystems()
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
                age = time.time() - os.path.getmtime(self.path) if not storage.is_remote(self.path) else 60
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
                storage.delete([self.path])
        except Exception:  # already gone, or the store is unreachable: nothing to hold anyway
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False


def _read_lock(path: str) -> dict:
    try:
        if storage.is_remote(path):
            with storage.filesystems().open(path) as f:
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
    holder = _read_lock(storage.join(output, LOCK_FILE))
    if holder.get("run_id") != run_id:
        who = f"pid {holder.get('pid')} on {holder.get('host')}" if holder else "nobody (the lock was deleted)"
        raise UserError(f"{output}: {TAKEN_OVER} (lock held by "
                        f"{who}); its files are mixed: rerun with --overwrite when no other run writes there")


def check_replaceable_json(path: str, option: str, command: str, ours) -> None:
    """Refuse, in one line, a one-file output (`--json PATH`) that is a folder or holds anything
    but an earlier record of `command` (`ours(data)` says whether the parsed JSON is one)."""
    if not storage.is_remote(path) and os.path.isdir(path):
        raise UserError(f"{option} {path}: is a folder; give a file name")
    if not storage.exists(path):
        return
    try:
        with storage.open_binary(path) as f:
            found = json.loads(f.read(4 << 20))
        mine = isinstance(found, dict) and bool(ours(found))
    except (OSError, ValueError):
        mine = False
    if not mine:
        raise UserError(f"{option} {path}: holds a file {command} did not write; choose another path "
                        "(nothing was replaced)")

