"""Binary stream helpers shared by the crawl-file and dump readers."""
from __future__ import annotations

import io
from typing import BinaryIO


class Prepended(io.RawIOBase):
    """Bytes already read (to sniff a format), then the rest of the stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
