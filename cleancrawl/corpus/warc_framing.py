"""WARC byte framing: a crawl file's bytes, plain or gzip, cut into records.

`frame(Source(fileobj))` yields, for each record, a `Record` (its offset, header bytes and block
bytes) or a `Damage` (a `read` drop reason and where the bytes went wrong); `FileCut` and
`BadGzip` end the file. Nothing here looks into a record beyond its Content-Length (and
Target-URI and Block-Digest, to name and check it): what a record means is `corpus.readers`'.

A record is its header, exactly Content-Length bytes, blank lines, then the next `WARC/1.x`
header or the end of the file. When anything else follows a record's declared end, the length
is wrong (hand-made and third-party WET files often carry made-up lengths). The record then
ends at the first `WARC/1.x` line after its header, or at the end of the file: its block is
read up to there, less the blank line that ends a record, and counted as repaired
(`REPAIRED_LENGTH_EVENT`), as the reference C4 reader, which splits at `WARC/1.0` lines, would
read it — when that end is unambiguous (`_unsafe_repair`): the line begins a real WARC header;
no other record's header lies before it; a file that ends before the declared length is a whole
gzip member of this one record (a plain file cut short looks the same as a wrong length); the
declared bytes are not followed by a record's blank line and then more (the length may be
right, the rest junk). Otherwise the record is damaged (`truncated_record`,
`bytes_after_record`, or the file is cut: `FileCut`), never delivered with another record's
bytes, and framing goes on at the next header, so one bad length costs at most one record.
Only the bytes after each record are looked at; the search for the record's end runs when that
check fails.

Gzip is decompressed as one stream, member after member, so a file with one member per record
(Common Crawl) and a file compressed whole (`gzip file.warc`) read alike. A record that begins
a gzip member reports the member's compressed offset (`Source.record_offset`: seek there and
read); any other record the offset of its header in the decompressed bytes. Details name byte
offsets, never the file's contents.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, NamedTuple

from cleancrawl.corpus.streams import Prepended

_CHUNK = 1 << 16               # bytes read from the file at a time (zlib copies what follows each member)
_MAX_INFLATE = 8 << 20         # decompressed bytes made a step (a gzip bomb stays bounded)
_HEADER_LIMIT = 1 << 20        # a WARC header longer than this is not one
_HOLD = 64 << 20               # a record block up to this size is held in memory; beyond, streamed
_HEADER_END = re.compile(rb"\n\r?\n")
_BLANK = re.compile(rb"[\r\n]*")
_NEXT_HEADER = re.compile(rb"\nWARC/1\.\d\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d{1,15})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


class FileCut(Exception):
    """The file ends inside a record or a gzip member: the rest of the file is lost."""


class BadGzip(Exception):
    """Gzip data that cannot be decompressed: reading stops there."""


class Record(NamedTuple):
    """A record whose length checks out, or whose end is unambiguous (repaired)."""

    start: int      # offset of its header in the decompressed bytes (`Source.record_offset` for a document's)
    header: bytes   # through the blank line; a repaired Content-Length is rewritten to the block's
    block: bytes


@dataclass(frozen=True)
class Damage:
    """Bytes that are no whole record: a `read` drop reason, the record's URL if it has a header,
    and where (byte offsets, never the bytes)."""

    reason: str     # truncated_record | bytes_after_record | bad_warc_headers
    detail: str
    url: str = ""


class Source:
    """The decompressed bytes of a crawl file, with look-ahead and push-back.

    `offset` is the position in the decompressed bytes; `record_offset(offset)` the offset a
    document reports (the compressed offset of a gzip member that begins there).
    """

    def __init__(self, fileobj: BinaryIO):
        self._raw = fileobj
        self._raw_read = 0                          # bytes read from the file
        self._raw_head: list[bytes] | None = []     # kept until the format is known (ARC replay)
        self._buf = b""
        self._pos = 0
        self._base = 0                              # decompressed offset of _buf[0]
        self._produced = 0                          # decompressed bytes made so far
        self._eof = False
        self._pending = self._raw_chunk()
        self.gzip = self._pending[:2] == b"\x1f\x8b"
        self._inflater = zlib.decompressobj(31) if self.gzip else None
        self._member_in = 0                         # compressed bytes of the current member so far
        self._member_start = 0                      # compressed offset of the current member
        self._members = [(0, 0)] if self.gzip else []  # (decompressed, compressed) offsets of member starts

    # -- the file
    def _raw_chunk(self) -> bytes:
        data = self._raw.read(_CHUNK)
        self._raw_read += len(data)
        if self._raw_head is not None:
            self._raw_head.append(data)
        return data

    def replay(self) -> BinaryIO:
        """The file again from its first byte (ARC files go to warcio whole)."""
        return io.BufferedReader(Prepended(b"".join(self._raw_head or []), self._raw))

    def format_known(self) -> None:
        self._raw_head = None

    def _produce(self) -> bytes:
        """The next decompressed bytes; b"" at the end of the file."""
        if not self.gzip:
            data, self._pending = (self._pending, b"") if self._pending else (self._raw_chunk(), b"")
            self._produced += len(data)
            return data
        while True:
            tail = self._inflater.unconsumed_tail
            if not self._pending and not tail:
                self._pending = self._raw_chunk()
                if not self._pending:
                    if self._member_in == 0:
                        return b""  # the end of the file falls between members
                    raise FileCut(f"the file ends at byte {self._raw_read}, inside the gzip member that begins "
                                   f"at byte {self._member_start}")
            data_in, self._pending = tail + self._pending, b""
            try:
                out = self._inflater.decompress(data_in, _MAX_INFLATE)
            except zlib.error:
                raise BadGzip(f"the gzip member at byte {self._member_start} is not readable gzip data") from None
            self._member_in += len(data_in) - len(self._inflater.unconsumed_tail) - len(self._inflater.unused_data)
            self._produced += len(out)
            if self._inflater.eof:
                self._pending = self._inflater.unused_data
                self._member_start += self._member_in
                self._member_in = 0
                self._inflater = zlib.decompressobj(31)
                self._members.append((self._produced, self._member_start))
            if out:
                return out

    # -- the decompressed bytes
    def _fill(self, n: int) -> bool:
        """Make n bytes available from the current position; False if the file ends first."""
        while len(self._buf) - self._pos < n:
            if self._eof:
                return False
            data = self._produce()
            if not data:
                self._eof = True
                return False
            self._base += self._pos
            self._buf = self._buf[self._pos:] + data
            self._pos = 0
        return True

    @property
    def offset(self) -> int:
        return self._base + self._pos

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self._buf[self._pos:self._pos + n]

    def at_end(self) -> bool:
        return not self._fill(1)

    def read(self, n: int) -> bytes:
        """n bytes, fewer only where the file ends."""
        if len(self._buf) - self._pos >= n:
            data = self._buf[self._pos:self._pos + n]
            self._pos += n
            return data
        parts, size = [self._buf[self._pos:]], len(self._buf) - self._pos
        self._base += len(self._buf)
        self._buf, self._pos = b"", 0
        while size < n and not self._eof:
            data = self._produce()
            if not data:
                self._eof = True
                break
            take = min(len(data), n - size)
            parts.append(data[:take] if take < len(data) else data)
            size += take
            self._base += take
            if take < len(data):
                self._buf = data[take:]
        return b"".join(parts)

    def push_back(self, data: bytes) -> None:
        """Put bytes just read back in front of the current position."""
        self._base += self._pos - len(data)
        self._buf = data + self._buf[self._pos:]
        self._pos = 0

    def skip_blank(self) -> bytes:
        """Move past CR and LF bytes; return them (push_back can put them back)."""
        skipped = []
        while self._fill(1):
            end = _BLANK.match(self._buf, self._pos).end()  # no copy of the buffer
            skipped.append(self._buf[self._pos:end])
            self._pos = end
            if len(self._buf) > self._pos:
                break
        return b"".join(skipped)

    def header_size(self) -> int | None:
        """Bytes from here through the first blank line, or None if there is none within the limit."""
        searched = 0
        while True:
            available = min(len(self._buf) - self._pos, _HEADER_LIMIT)
            match = _HEADER_END.search(self._buf, self._pos + max(0, searched - 2), self._pos + available)
            if match:
                return match.end() - self._pos
            if available >= _HEADER_LIMIT:
                return None
            searched = available
            if not self._fill(available + 1) and len(self._buf) - self._pos == available:
                return None

    def scan_to_header(self) -> bool:
        """Move to the next `WARC/1.x` line after the current position; at the end (False) if none."""
        start = self._pos  # a header must begin after here: its newline is at `start` or later
        while True:
            match = _NEXT_HEADER.search(self._buf, start)
            if match:
                self._pos = match.start() + 1
                return True
            keep = min(len(self._buf) - start, 16)
            self._pos = len(self._buf) - keep
            if not self._fill(keep + 1):
                self._pos = len(self._buf)
                return False
            start = self._pos

    def one_member_from(self, offset: int) -> bool:
        """True when a gzip member begins at decompressed `offset` and ends cleanly at the end of
        the file: the bytes from `offset` to the end are that one member, whole."""
        if not self.gzip or not self._eof:
            return False
        starts = [start for start, _ in self._members]
        return offset in starts and not any(offset < start < self._produced for start in starts)

    def record_offset(self, offset: int) -> int:
        members = self._members
        while len(members) > 1 and members[1][0] <= offset:
            members.pop(0)
        return members[0][1] if members and members[0][0] == offset else offset

    def describe(self, offset: int) -> str:
        return f"byte {offset} of the decompressed data" if self.gzip else f"byte {offset}"

    def where(self) -> str:
        return f"byte {self._raw_read}"


def _header_inside(block: bytes) -> int | None:
    """Where a `WARC/1.x` header line begins inside a record's block, if one does."""
    match = _NEXT_HEADER.search(block)
    return match.start() + 1 if match else None


def _read_block(src: Source, length: int) -> tuple[bytes, str]:
    """A record's block as declared: (bytes, outcome).

    Blocks up to _HOLD are read whole and checked afterwards: "complete", or "short" (the file
    ends first). A larger block is held up to _HOLD and streamed past beyond: "overrun" (a header
    begins inside what is held: the block is cut there and the rest put back), or, where the
    bytes held are not all of it, "complete_large", "short_large", "overrun_large".
    """
    if length <= _HOLD:
        block = src.read(length)
        return block, "complete" if len(block) == length else "short"
    kept = src.read(_HOLD)
    inside = _header_inside(kept)
    if inside is not None:
        src.push_back(kept[inside:])
        return kept[:inside], "overrun"
    if len(kept) < _HOLD:
        return kept, "short"
    remaining, tail = length - _HOLD, kept[-16:]
    while remaining:
        piece = src.read(min(remaining, _CHUNK))
        if not piece:
            return kept, "short_large"
        window = tail + piece
        inside = _header_inside(window)
        if inside is not None:
            src.push_back(window[inside:])
            return kept, "overrun_large"
        remaining -= len(piece)
        tail = window[-16:]
    return kept, "complete_large"


def _read_to_header(src: Source, limit: int) -> tuple[bytes, str]:
    """From a block's first byte to the next `WARC/1.x` header line: (bytes, "header"), the header
    left to read next; (bytes, "end") where the file ends first; (b"", "far") where more than
    `limit` bytes come first (read past)."""
    parts, size, tail = [], 0, b"\n"  # the block begins a line
    while size <= limit:
        piece = src.read(_CHUNK)
        if not piece:
            return b"".join(parts), "end"
        window = tail + piece
        match = _NEXT_HEADER.search(window)
        if match:
            at = size - len(tail) + match.start() + 1  # where the header line begins, from the block's first byte
            data = b"".join(parts) + piece
            src.push_back(data[at:])
            return data[:at], "header"
        parts.append(piece)
        size += len(piece)
        tail = window[-16:]
    return b"", "far"


def frame(src: Source, count: Callable[[str], None] = lambda name: None) -> Iterator[Record | Damage]:
    """A `Record` for each record whose length checks out or whose end is unambiguous (repaired:
    `count(REPAIRED_LENGTH_EVENT)`), a `Damage` for each that is not. Raises `FileCut` or
    `BadGzip` where the file ends badly, after what came before."""
    while True:
        src.skip_blank()
        if src.at_end():
            return
        start = src.offset
        size = src.header_size()
        if src.peek(5) != b"WARC/" or size is None:
            if src.peek(5) == b"WARC/" and len(src.peek(_HEADER_LIMIT)) < _HEADER_LIMIT:
                raise FileCut(f"the file ends inside the WARC header at {src.describe(start)}")
            found = src.scan_to_header()
            yield _skipped(src, start, found, "bytes that are not a WARC record header")
            continue
        header = src.read(size)
        match = _CONTENT_LENGTH.search(header)
        if match is None:
            src.push_back(header)
            found = src.scan_to_header()
            yield _skipped(src, start, found, "a WARC header without a valid Content-Length")
            continue
        length = int(match.group(1))
        body, blank = src.offset, b""
        block, outcome = _read_block(src, length)
        if outcome in ("complete", "complete_large"):
            try:
                blank = src.skip_blank()
                intact = src.at_end() or src.peek(5) == b"WARC/"
            except (FileCut, BadGzip):
                yield Record(start, header, block)  # the record itself is whole; the file ends badly after it
                raise
            if intact or _digest_matches(header, block):
                # With a matching WARC-Block-Digest the record is whole: what follows it is the
                # damage, skipped as bad_warc_headers on the next turn.
                yield Record(start, header, block)
                continue
            if outcome == "complete_large":  # more bytes than declared, and too many to hold
                found = src.scan_to_header()
                yield _bytes_after(src, header, start, length, src.offset - body - length - len(blank), found)
                continue
            src.push_back(block + blank)
        elif outcome == "short_large":
            raise FileCut(f"the file ends at {src.describe(src.offset)}, inside the record at "
                          f"{src.describe(start)} (more than {_HOLD} of its {length} bytes are there)")
        elif outcome == "overrun_large":
            yield _truncated_record(src, header, start, length, f"more than {_HOLD}")
            continue
        else:  # short, overrun: the bytes read are the block's so far
            src.push_back(block)
        # The declared length is wrong: the record ends at the next header line, or the end of the file.
        block, end = _read_to_header(src, _HOLD)
        if end == "far":
            found = src.scan_to_header()
            yield _bytes_after(src, header, start, length, src.offset - body - length - len(blank), found)
            continue
        try:
            unsafe = _unsafe_repair(src, start, block, length, end)
        except (FileCut, BadGzip):
            yield _truncated_record(src, header, start, length, len(block)) if len(block) < length else \
                _bytes_after(src, header, start, length, len(block) - length, True)
            raise
        if unsafe is None:
            count(REPAIRED_LENGTH_EVENT)
            block = _without_separator(block)
            header = header[:match.start(1)] + b"%d" % len(block) + header[match.end(1):]
            yield Record(start, header, block)
        elif len(block) < length:
            if end == "end":
                raise FileCut(f"the file ends at {src.describe(src.offset)}, inside the record at "
                              f"{src.describe(start)} ({len(block)} of its {length} bytes are there)")
            yield _truncated_record(src, header, start, length, len(block))
        else:
            after = block[length:]  # counted, as a plain reader would, from the next line that is not blank
            yield _bytes_after(src, header, start, length, len(after) - _BLANK.match(after).end(),
                               end == "header")


# Where a record's declared length is wrong, its end is taken to be the next `WARC/1.x` line (or
# the end of the file) only when nothing makes that end doubtful; otherwise the record is damaged.
REPAIRED_LENGTH_EVENT = "content_length_repaired"
_HEADER_REMNANT = re.compile(rb"^WARC-(?:Type|Record-ID)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _unsafe_repair(src: Source, start: int, block: bytes, length: int, end: str) -> str | None:
    """Why the bytes from a record's block to the next header (or the end) cannot be taken as its
    block, or None when they can. `src` stands at that header (or at the end)."""
    if end == "end" and len(block) < length and not src.one_member_from(start):
        # A plain file (or a gzip member of several records) that ends before the declared length:
        # a cut file looks the same. A gzip member of this one record, whole, is its writer's end.
        return "cut"
    if end == "header":
        size = src.header_size()
        if size is None or _CONTENT_LENGTH.search(src.peek(size)) is None:
            return "no header"  # a `WARC/1.x` line that begins no record header: text, or damage
    if len(block) > length and _BLANK_LINE.match(block, length):
        # The declared bytes end with the blank line that ends a record: the length may be right
        # and the bytes after it junk, or the text may have a blank line there. No telling.
        return "blank line"
    if _HEADER_REMNANT.search(block):
        return "header inside"  # another record's header, its `WARC/1.x` line damaged
    return None


def _without_separator(block: bytes) -> bytes:
    """A block read up to the next header, less the blank line that ends a record."""
    for separator in (b"\r\n\r\n", b"\n\n", b"\r\n", b"\n"):
        if block.endswith(separator):
            return block[:-len(separator)]
    return block


def _truncated_record(src: Source, header: bytes, start: int, length: int, got) -> Damage:
    return Damage("truncated_record", url=_header_uri(header),
                  detail=f"the record at {src.describe(start)} declares {length} bytes, but the next WARC "
                         f"header begins after {got} bytes")


def _bytes_after(src: Source, header: bytes, start: int, length: int, more: int, found: bool) -> Damage:
    upto = f"the next WARC header at {src.describe(src.offset)}" if found else "the end of the file"
    return Damage("bytes_after_record", url=_header_uri(header),
                  detail=f"the record at {src.describe(start)} declares {length} bytes, but "
                         f"{more} more bytes follow it before {upto}")


_BLOCK_DIGEST = re.compile(rb"^WARC-Block-Digest:[ \t]*(sha1|sha256):([A-Za-z0-9=]+)[ \t]*\r?$",
                           re.IGNORECASE | re.MULTILINE)


def _digest_matches(header: bytes, block: bytes) -> bool:
    """True when the header's WARC-Block-Digest (sha1 or sha256, base32 or hex) is the block's."""
    match = _BLOCK_DIGEST.search(header)
    if match is None:
        return False
    digest = hashlib.new(match.group(1).decode().lower(), block).digest()
    declared = match.group(2).decode().upper()
    return declared in (base64.b32encode(digest).decode(), digest.hex().upper())


def _skipped(src: Source, start: int, found: bool, what: str) -> Damage:
    upto = f"the next WARC header at {src.describe(src.offset)}" if found else "the end of the file"
    return Damage("bad_warc_headers",
                  detail=f"{what} at {src.describe(start)}: {src.offset - start} bytes skipped to {upto}")


_URI = re.compile(rb"^WARC-Target-URI:[ \t]*<?([^\r\n>]*)", re.IGNORECASE | re.MULTILINE)


def _header_uri(header: bytes) -> str:
    match = _URI.search(header)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""

