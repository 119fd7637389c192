"""A full disk, for the tests: local writes through `storage.atomic_writer` to chosen paths fail
as a full disk makes them fail (the file is created, its first write raises ENOSPC)."""
from __future__ import annotations

import errno
import os

from cleancrawl import storage


class FullDisk:
    """A file object whose writes fail with ENOSPC; everything else is the real file's."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()
        return False


def fill_disk(monkeypatch, marker: str) -> None:
    """From now on (for this test), a file opened for writing whose path holds `marker` is on a full disk."""
    real_open = open

    def full_open(path, mode="r", *args, **kwargs):  # what storage.atomic_writer opens a local file with
        f = real_open(path, mode, *args, **kwargs)
        return FullDisk(f) if "w" in mode and marker in str(path) else f

    monkeypatch.setattr(storage, "open", full_open, raising=False)
