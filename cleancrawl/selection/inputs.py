"""Input files of the selection: which files a glob names, and their bytes whatever the container.

    expand_paths(patterns)        globs (local, gs://, s3://) → sorted (path, size); no match is a UserError
    peek(raw)                     the first bytes, and a stream that still starts at the beginning
    sniff_format(head)            zstd, xz, bz2, gzip, parquet or plain, from the first bytes (not the name)
    decompressed(raw, container)  a buffered stream of the decompressed bytes, for reading lines

Pushshift's dumps are zstd with a long window (2^31): the decompressor's limit is raised for them.
A stream that cannot seek (a pipe, an HTTP body) works too: its first bytes are put back in front.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO, Iterable

import zstandard

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.streams import Prepended

ZSTD_MAX_WINDOW = 2 ** 31           # Pushshift compresses with `zstd --long=31`


def expand_paths(patterns: Iterable[str]) -> list[tuple[str, int]]:
    """Globs → sorted (path, size) pairs; a pattern matching nothing is a UserError."""
    found: dict[str, int] = {}
    for pattern in patterns:
        matches = storage.match_files(pattern)
        if not matches:
            raise UserError(f"no file matches {pattern}")
        found.update(matches)
    return sorted(found.items())


_MAGIC = {
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
    b"BZh": "bz2",
    b"\x1f\x8b": "gzip",
    b"PAR1": "parquet",
}


def sniff_format(head: bytes) -> str:
    """The container of a file from its first bytes: zstd, xz, bz2, gzip, parquet or plain."""
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return "plain"


def decompressed(raw: BinaryIO, container: str) -> BinaryIO:
    """A buffered binary stream of the decompressed bytes (for line iteration)."""
    if container == "zstd":
        # Long-window frames (2^31) need the limit raised; the window is allocated lazily.
        reader = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)
    if container == "xz":
        return lzma.open(raw)
    if container == "bz2":
        return bz2.open(raw)
    if container == "gzip":
        return gzip.open(raw)
    return io.BufferedReader(raw, buffer_size=1 << 20) if isinstance(raw, io.RawIOBase) else raw


def peek(raw: BinaryIO, n: int = 8) -> tuple[bytes, BinaryIO]:
    """The first `n` bytes, and the stream to read from the start (`raw` rewound, or the bytes put back)."""
    head = raw.read(n)
    if raw.seekable():
        raw.seek(0)
        return head, raw
    return head, Prepended(head, raw)


# Errors a truncated or corrupt compressed stream raises part-way through.
STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error, zstandard.ZstdError, ValueError)
