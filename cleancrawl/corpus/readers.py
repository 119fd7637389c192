"""Read Common Crawl WARC and WET files into `Document`s, accounting for every record.

`read_crawl_file` yields, for each record of a file, either a `Document` (a WET
`conversion` record, or a WARC `response` record whose HTML was extracted) or a `Drop`
naming why it is not one. A file that cannot be read to its end (not a WARC file, a
truncated gzip member, an I/O error, an empty file) yields one more `Drop` in the `read`
stage whose reason names the problem, so the loss is visible in the stats and the run
goes on.

Records are framed here by their declared Content-Length, checked against what follows each
record (see `_frame`); where the length is wrong but the record's end is unambiguous, the record
is read up to that end and counted (`content_length_repaired`), as the reference C4 reader, which
splits at `WARC/1.0` lines, would read it. warcio parses each record's headers and payload. Plain
and gzip files read alike, whether gzip has one member per record (as Common Crawl writes them) or
one stream for the whole file. ARC files are read by warcio alone (with ids derived from each
record, not warcio's random ones).

The readers take an open binary file object, so the caller decides where bytes come from
(local file, gs://, s3:// through Beam's FileSystems). Details of file errors name where
reading stopped and what was expected, never the file's contents.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import posixpath
import re
import uuid
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.extract import HtmlExtractor, decode_html, is_html_content_type
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.corpus.urls import normalize_url

STAGE = "read"

# Reasons a whole file (or its unreadable tail) is lost. `--strict` fails the run on any.
FILE_ERROR_REASONS = ("empty_file", "not_warc", "truncated_file", "read_error")
# Reasons one record is not a document (README, "Accounting and bad input").
RECORD_DROP_REASONS = ("non_document_record", "too_long", "empty", "not_html", "http_status", "html_too_large",
                       "extraction_failed", "truncated_record", "bytes_after_record", "bad_warc_headers",
                       "bad_http_headers", "bad_content_encoding", "no_url", "record_error")
# Record drops that mean the file's bytes are damaged (a wrong Content-Length, a broken header):
# the reader goes on at the next record, and the loss is listed with the file errors (`--strict`).
DAMAGED_RECORD_REASONS = ("truncated_record", "bytes_after_record", "bad_warc_headers")
# What `stats.json` lists under `file_errors`, each with its file and where: what `--strict` fails on.
FILE_LOSS_REASONS = FILE_ERROR_REASONS + DAMAGED_RECORD_REASONS

_HTTP_PARSER = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0"], verify=False)

_LOADER = ArcWarcRecordLoader(arc2warc=True)

DOCUMENT_RECORD_TYPES = {"wet": ("conversion",), "warc": ("response",), "auto": ("conversion", "response")}


@dataclass(frozen=True)
class ReaderConfig:
    source: str = "auto"               # wet | warc | auto: which record kinds become documents
    max_text_chars: int = 190_000      # C4: pages whose text is longer are dropped (too_long)
    max_html_bytes: int = 5_000_000    # WARC: larger HTML payloads are not parsed (html_too_large)
    max_payload_bytes: int = 0         # read at most this much of a WET payload (0: 4 * max_text_chars + 4)
    extraction: str = "full"           # WARC: trafilatura mode, see corpus.extract.HtmlExtractor

    def payload_cap(self) -> int:
        # UTF-8 uses at most 4 bytes a character: more bytes than this is certainly too long.
        return self.max_payload_bytes or 4 * self.max_text_chars + 4


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _read_capped(stream, cap: int) -> tuple[bytes, bool]:
    """Read up to `cap` bytes; return (data, exceeded). The rest is left for warcio to skip."""
    chunks, size = [], 0
    while size <= cap:
        chunk = stream.read(cap + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    data = b"".join(chunks)
    if len(data) > cap:
        return data[:cap], True
    return data, False


def _decode_wet_text(payload: bytes, count: Callable[[str], None]) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        # Common Crawl writes WET as UTF-8; a broken byte is replaced (U+FFFD) and counted,
        # rather than losing the page (the reference's reader would fail the whole file).
        count("invalid_utf8_repaired")
        return payload.decode("utf-8", errors="replace")


def _truncated(record) -> bool:
    """True when the record's block ended before its declared Content-Length."""
    return getattr(record.raw_stream, "limit", 0) > 0


def read_crawl_file(
    fileobj: BinaryIO,
    source_file: str,
    config: ReaderConfig = ReaderConfig(),
    extractor: HtmlExtractor | None = None,
    count: Callable[[str], None] = lambda name: None,
) -> Iterator[Document | Drop]:
    """Yield one `Document` or `Drop` per record of a WARC/WET file (plain or gzip).

    `count(name)` is called for events that are not drops (e.g. a repaired charset).
    """
    wanted = DOCUMENT_RECORD_TYPES[config.source]
    if extractor is None and "response" in wanted:
        extractor = HtmlExtractor(config.extraction)  # once per file, not per record
    records = 0
    src = None
    try:
        src = _Source(fileobj)
        src.skip_blank()
        if src.at_end():
            yield Drop(STAGE, "empty_file", source_file, detail="no WARC records" + (" (empty gzip data)" if src.gzip else ""))
            return
        head = src.peek(16)
        if head.startswith(b"filedesc://"):  # ARC, the WARC's predecessor: warcio alone
            yield from _read_arc(src.replay(), source_file, wanted, config, extractor, count)
            return
        src.format_known()
        if not head.startswith(b"WARC/"):
            what = "its gzip content does not" if src.gzip else "it does not"
            yield Drop(STAGE, "not_warc", source_file,
                       detail=f"{what} begin with a WARC/1.x record header (expected a WARC or WET file, plain or gzip)")
            return
        for item in _frame(src, source_file, count):
            records += 1
            if isinstance(item, Drop):
                yield item
                continue
            start, header, block = item
            try:
                record = _LOADER.parse_record_stream(io.BytesIO(header + block), known_format="warc")
            except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError):
                yield Drop(STAGE, "bad_warc_headers", source_file,
                           detail=f"the WARC header at {src.describe(start)} cannot be parsed")
                continue
            try:
                yield _record_to_document(record, src.record_offset(start), source_file, wanted, config, extractor, count)
            except Exception as err:  # the web is weirder than any list of cases: count, go on
                yield Drop(STAGE, "record_error", source_file, url=_target_uri(record), detail=_one_line(err))
    except _FileCut as err:
        yield Drop(STAGE, "truncated_file", source_file, detail=f"after {records} records: {err}")
    except _BadGzip as err:
        yield Drop(STAGE, "truncated_file", source_file, detail=f"after {records} records: {err}; reading stopped at {_stopped_at(src)}")
    except Exception as err:  # I/O errors and anything else a reader raises mid-file
        yield Drop(STAGE, "read_error", source_file, detail=f"after {records} records: {_error_name(err)}")


def _stopped_at(src) -> str:
    return src.where() if src is not None else "byte 0"


def _error_name(err: BaseException) -> str:
    """An I/O error's type and errno text, without any bytes of the file."""
    if isinstance(err, OSError) and err.strerror:
        return f"{type(err).__name__}: {err.strerror}"
    return _one_line(err) if isinstance(err, OSError) else type(err).__name__


def _read_arc(fileobj, source_file, wanted, config, extractor, count) -> Iterator[Document | Drop]:
    """ARC files, through warcio's own iterator (no resynchronisation)."""
    records = 0
    try:
        iterator = ArchiveIterator(fileobj, arc2warc=True)
        for record in iterator:
            records += 1
            offset = iterator.offset  # start of this record (get_record_offset() would consume it)
            try:
                record.rec_headers.replace_header("WARC-Record-ID", _arc_record_id(record, offset))
                item = _record_to_document(record, offset, source_file, wanted, config, extractor, count)
            except (ArchiveLoadFailed, EOFError, zlib.error, gzip.BadGzipFile):
                raise  # the file's problem, not this record's: handled below
            except Exception as err:
                item = Drop(STAGE, "record_error", source_file, url=_target_uri(record), detail=_one_line(err))
            yield item
    except (ArchiveLoadFailed, EOFError, zlib.error, gzip.BadGzipFile) as err:
        # warcio's message quotes the file's bytes: name the kind of error only.
        yield Drop(STAGE, "truncated_file", source_file, detail=f"after {records} ARC records: {type(err).__name__}")
    except Exception as err:
        yield Drop(STAGE, "read_error", source_file, detail=f"after {records} ARC records: {_error_name(err)}")


def _arc_record_id(record, offset: int) -> str:
    """An ARC record has no id; warcio makes a random one. This one is derived from the record
    (its URL, date and offset in the file), so that the same file gives the same ids every run."""
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    date = record.rec_headers.get_header("WARC-Date") or ""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'arc-record {offset} {date} {url}')}>"


# ---------------------------------------------------------------------------- bytes → records
#
# A record is its header, exactly Content-Length bytes, blank lines, then the next `WARC/1.x`
# header or the end of the file. When anything else follows a record's declared end, the length
# is wrong (hand-made and third-party WET files often carry made-up lengths). The record then
# ends at the first `WARC/1.x` line after its header, or at the end of the file: its block is
# read up to there, less the blank line that ends a record, and counted as repaired — when that
# end is unambiguous (`_unsafe_repair`): the line begins a real WARC header; no other record's
# header lies before it; a file that ends before the declared length is a whole gzip member of
# this one record (a plain file cut short looks the same as a wrong length); the declared bytes
# are not followed by a record's blank line and then more (the length may be right, the rest
# junk). Otherwise the record is dropped (`truncated_record`, `bytes_after_record`, or the file
# is `truncated_file`), never with another record's bytes, and reading goes on at the next
# header, so one bad length costs at most one record. Only the bytes after each record are
# looked at; the search for the record's end runs when that check fails.
#
# Gzip is decompressed as one stream, member after member, so a file with one member per record
# (Common Crawl) and a file compressed whole (`gzip file.warc`) read alike. A record that begins
# a gzip member reports the member's compressed offset as `source_offset` (seek there and read);
# any other record the offset of its header in the decompressed bytes.

_CHUNK = 1 << 16               # bytes read from the file at a time (zlib copies what follows each member)
_MAX_INFLATE = 8 << 20         # decompressed bytes made a step (a gzip bomb stays bounded)
_HEADER_LIMIT = 1 << 20        # a WARC header longer than this is not one
_HOLD = 64 << 20               # a record block up to this size is held in memory; beyond, streamed
_HEADER_END = re.compile(rb"\n\r?\n")
_BLANK = re.compile(rb"[\r\n]*")
_NEXT_HEADER = re.compile(rb"\nWARC/1\.\d\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length:[ \t]*(\d{1,15})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


class _FileCut(Exception):
    """The file ends inside a record or a gzip member: the rest of the file is lost."""


class _BadGzip(Exception):
    """Gzip data that cannot be decompressed: reading stops there."""


class _Source:
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
                    raise _FileCut(f"the file ends at byte {self._raw_read}, inside the gzip member that begins "
                                   f"at byte {self._member_start}")
            data_in, self._pending = tail + self._pending, b""
            try:
                out = self._inflater.decompress(data_in, _MAX_INFLATE)
            except zlib.error:
                raise _BadGzip(f"the gzip member at byte {self._member_start} is not readable gzip data") from None
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


def _header_inside(block: bytes) -> int | None:
    """Where a `WARC/1.x` header line begins inside a record's block, if one does."""
    match = _NEXT_HEADER.search(block)
    return match.start() + 1 if match else None


def _read_block(src: _Source, length: int) -> tuple[bytes, str]:
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


def _read_to_header(src: _Source, limit: int) -> tuple[bytes, str]:
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


def _frame(src: _Source, source_file: str, count: Callable[[str], None]) -> Iterator[tuple[int, bytes, bytes] | Drop]:
    """(offset, header, block) for each record whose length checks out or whose end is unambiguous
    (repaired, `count`ed), a `Drop` for each that is not."""
    while True:
        src.skip_blank()
        if src.at_end():
            return
        start = src.offset
        size = src.header_size()
        if src.peek(5) != b"WARC/" or size is None:
            if src.peek(5) == b"WARC/" and len(src.peek(_HEADER_LIMIT)) < _HEADER_LIMIT:
                raise _FileCut(f"the file ends inside the WARC header at {src.describe(start)}")
            found = src.scan_to_header()
            yield _skipped(src, source_file, start, found, "bytes that are not a WARC record header")
            continue
        header = src.read(size)
        match = _CONTENT_LENGTH.search(header)
        if match is None:
            src.push_back(header)
            found = src.scan_to_header()
            yield _skipped(src, source_file, start, found, "a WARC header without a valid Content-Length")
            continue
        length = int(match.group(1))
        body, blank = src.offset, b""
        block, outcome = _read_block(src, length)
        if outcome in ("complete", "complete_large"):
            try:
                blank = src.skip_blank()
                intact = src.at_end() or src.peek(5) == b"WARC/"
            except (_FileCut, _BadGzip):
                yield start, header, block  # the record itself is whole; the file ends badly after it
                raise
            if intact or _digest_matches(header, block):
                # With a matching WARC-Block-Digest the record is whole: what follows it is the
                # damage, skipped as bad_warc_headers on the next turn.
                yield start, header, block
                continue
            if outcome == "complete_large":  # more bytes than declared, and too many to hold
                found = src.scan_to_header()
                yield _bytes_after(src, source_file, header, start, length, src.offset - body - length - len(blank), found)
                continue
            src.push_back(block + blank)
        elif outcome == "short_large":
            raise _FileCut(f"the file ends at {src.describe(src.offset)}, inside the record at "
                           f"{src.describe(start)} (more than {_HOLD} of its {length} bytes are there)")
        elif outcome == "overrun_large":
            yield _truncated_record(src, source_file, header, start, length, f"more than {_HOLD}")
            continue
        else:  # short, overrun: the bytes read are the block's so far
            src.push_back(block)
        # The declared length is wrong: the record ends at the next header line, or the end of the file.
        block, end = _read_to_header(src, _HOLD)
        if end == "far":
            found = src.scan_to_header()
            yield _bytes_after(src, source_file, header, start, length, src.offset - body - length - len(blank), found)
            continue
        try:
            unsafe = _unsafe_repair(src, start, block, length, end)
        except (_FileCut, _BadGzip):
            yield _truncated_record(src, source_file, header, start, length, len(block)) if len(block) < length else \
                _bytes_after(src, source_file, header, start, length, len(block) - length, True)
            raise
        if unsafe is None:
            count(REPAIRED_LENGTH_EVENT)
            block = _without_separator(block)
            header = header[:match.start(1)] + b"%d" % len(block) + header[match.end(1):]
            yield start, header, block
        elif len(block) < length:
            if end == "end":
                raise _FileCut(f"the file ends at {src.describe(src.offset)}, inside the record at "
                               f"{src.describe(start)} ({len(block)} of its {length} bytes are there)")
            yield _truncated_record(src, source_file, header, start, length, len(block))
        else:
            after = block[length:]  # counted, as a plain reader would, from the next line that is not blank
            yield _bytes_after(src, source_file, header, start, length, len(after) - _BLANK.match(after).end(),
                               end == "header")


# Where a record's declared length is wrong, its end is taken to be the next `WARC/1.x` line (or
# the end of the file) only when nothing makes that end doubtful; otherwise the record is dropped.
REPAIRED_LENGTH_EVENT = "content_length_repaired"
_HEADER_REMNANT = re.compile(rb"^WARC-(?:Type|Record-ID)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _unsafe_repair(src: _Source, start: int, block: bytes, length: int, end: str) -> str | None:
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


def _truncated_record(src: _Source, source_file: str, header: bytes, start: int, length: int, got) -> Drop:
    return Drop(STAGE, "truncated_record", source_file, url=_header_uri(header),
                detail=f"the record at {src.describe(start)} declares {length} bytes, but the next WARC "
                       f"header begins after {got} bytes")


def _bytes_after(src: _Source, source_file: str, header: bytes, start: int, length: int, more: int, found: bool) -> Drop:
    upto = f"the next WARC header at {src.describe(src.offset)}" if found else "the end of the file"
    return Drop(STAGE, "bytes_after_record", source_file, url=_header_uri(header),
                detail=f"the record at {src.describe(start)} declares {length} bytes, but "
                       f"{more} more bytes follow it before {upto}")


_BLOCK_DIGEST = re.compile(rb"^WARC-Block-Digest:[ \t]*(sha1|sha256):([A-Za-z0-9=]+)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)


def _digest_matches(header: bytes, block: bytes) -> bool:
    """True when the header's WARC-Block-Digest (sha1 or sha256, base32 or hex) is the block's."""
    match = _BLOCK_DIGEST.search(header)
    if match is None:
        return False
    digest = hashlib.new(match.group(1).decode().lower(), block).digest()
    declared = match.group(2).decode().upper()
    return declared in (base64.b32encode(digest).decode(), digest.hex().upper())


def _skipped(src: _Source, source_file: str, start: int, found: bool, what: str) -> Drop:
    upto = f"the next WARC header at {src.describe(src.offset)}" if found else "the end of the file"
    return Drop(STAGE, "bad_warc_headers", source_file,
                detail=f"{what} at {src.describe(start)}: {src.offset - start} bytes skipped to {upto}")


_URI = re.compile(rb"^WARC-Target-URI:[ \t]*<?([^\r\n>]*)", re.IGNORECASE | re.MULTILINE)


def _header_uri(header: bytes) -> str:
    match = _URI.search(header)
    return match.group(1).decode("utf-8", "replace").strip() if match else ""


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}"[:300]


def _target_uri(record) -> str:
    return (record.rec_headers.get_header("WARC-Target-URI") or "").strip()


def _record_to_document(record, offset, source_file, wanted, config, extractor, count) -> Document | Drop:
    rec_type = record.rec_type
    url = _target_uri(record)
    if rec_type not in wanted:
        return Drop(STAGE, "non_document_record", source_file, url=url, detail=rec_type or "")
    timestamp = (record.rec_headers.get_header("WARC-Date") or "").strip()
    record_id = (record.rec_headers.get_header("WARC-Record-ID") or "").strip()
    if not url:
        return Drop(STAGE, "no_url", source_file, detail=record_id)
    common = dict(
        url=url,
        normalized_url=normalize_url(url),
        timestamp=timestamp,
        record_id=record_id,
        source_file=source_file,
        source_offset=offset,
    )
    if rec_type == "conversion":
        return _wet_document(record, common, config, count)
    return _warc_document(record, common, config, extractor, count)


def _wet_document(record, common, config, count) -> Document | Drop:
    source_file, url = common["source_file"], common["url"]
    payload, exceeded = _read_capped(record.content_stream(), config.payload_cap())
    if exceeded:
        return Drop(STAGE, "too_long", source_file, url=url, text_bytes=len(payload), detail="payload over cap")
    if _truncated(record):
        return Drop(STAGE, "truncated_record", source_file, url=url, text_bytes=len(payload))
    text = _decode_wet_text(payload, count)
    if not text.strip():
        return Drop(STAGE, "empty", source_file, url=url)
    if len(text) > config.max_text_chars:
        return Drop(STAGE, "too_long", source_file, url=url, text_bytes=len(payload))
    content_type = (record.rec_headers.get_header("Content-Type") or "").strip()
    return Document(text=text, content_type=content_type, content_length=len(payload), **common)


def _warc_document(record, common, config, extractor, count) -> Document | Drop:
    source_file, url = common["source_file"], common["url"]
    http = record.http_headers
    if http is None and _declares_http(record):
        # warcio parses HTTP headers only for http(s):// target URIs; real crawls also hold
        # other schemes and malformed URIs whose block is still an HTTP response.
        try:
            http = record.http_headers = _HTTP_PARSER.parse(record.raw_stream)
        except (EOFError, ValueError, StatusAndHeadersParserException) as err:
            return Drop(STAGE, "bad_http_headers", source_file, url=url,
                        detail=f"{type(err).__name__}: the block does not begin with an HTTP response header")
    if http is not None:
        status = http.get_statuscode() or ""
        if status != "200":
            return Drop(STAGE, "http_status", source_file, url=url, detail=status)
        content_type = (http.get_header("Content-Type") or "").strip()
    else:
        content_type = (record.rec_headers.get_header("Content-Type") or "").strip()
    if not is_html_content_type(content_type):
        return Drop(STAGE, "not_html", source_file, url=url, detail=content_type[:100])
    try:
        payload, exceeded = _read_capped(record.content_stream(), config.max_html_bytes)
    except (zlib.error, OSError, ValueError) as err:  # broken Content-Encoding
        return Drop(STAGE, "bad_content_encoding", source_file, url=url, detail=_one_line(err))
    if exceeded:
        return Drop(STAGE, "html_too_large", source_file, url=url, text_bytes=len(payload))
    if _truncated(record):
        return Drop(STAGE, "truncated_record", source_file, url=url, text_bytes=len(payload))
    if not payload.strip():
        return Drop(STAGE, "empty", source_file, url=url)
    html, repaired = decode_html(payload, content_type)
    if repaired:
        count("invalid_charset_repaired")
    text = extractor.extract(html, url)
    if text is None:
        return Drop(STAGE, "extraction_failed", source_file, url=url, text_bytes=len(payload))
    if not text.strip():
        return Drop(STAGE, "empty", source_file, url=url)
    if len(text) > config.max_text_chars:
        return Drop(STAGE, "too_long", source_file, url=url, text_bytes=_utf8_bytes(text))
    return Document(text=text, content_type=content_type, content_length=len(payload), **common)


def _declares_http(record) -> bool:
    content_type = (record.rec_headers.get_header("Content-Type") or "").replace(" ", "").lower()
    return content_type.startswith("application/http")


def read_local_file(path: str, config: ReaderConfig = ReaderConfig(), **kwargs) -> Iterator[Document | Drop]:
    """Convenience for local paths (tests, notebooks): open, read, account."""
    try:
        fileobj = open(path, "rb")
    except OSError as err:
        yield Drop(STAGE, "read_error", path, detail=_one_line(err))
        return
    with fileobj:
        yield from read_crawl_file(fileobj, path, config, **kwargs)


_CRAWL_FILE = re.compile(r"\.(warc|wet|wat|arc)(\.gz)?$")


def read_paths_listing(data: bytes, prefix: str = "", name: str = "the listing") -> list[str]:
    """Common Crawl `*.paths.gz` (or plain) listing → full paths (prefix + relative path).

    Each entry must name a crawl file (…`.warc`, `.wet`, `.wat`, `.arc`, optionally `.gz`) and,
    under a prefix, stay inside it (no absolute path, no `..` above it). A listing that is not
    one is refused by line number, without quoting it: a wrong file given here is often private.
    """
    def refuse(what: str) -> UserError:
        return UserError(f"--input-list {name}: {what} (expected a Common Crawl *.paths or *.paths.gz listing: "
                         "one relative path to a WARC/WET file a line)")

    try:
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        text = data.decode("utf-8")
    except (OSError, EOFError, zlib.error, UnicodeDecodeError):
        raise refuse("not a text listing") from None
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    paths = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.isprintable() or not _CRAWL_FILE.search(line):
            raise refuse(f"line {number} does not name a WARC/WET/ARC file")
        if prefix:
            normal = posixpath.normpath(line)
            if line.startswith("/") or "://" in line or normal == ".." or normal.startswith("../"):
                raise refuse(f"line {number} leaves --input-prefix {prefix} (an absolute path or '..')")
            line = normal
        paths.append(prefix + line)
    return paths
