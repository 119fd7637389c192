"""Read Common Crawl WARC and WET files into `Document`s, accounting for every record.

`read_crawl_file` yields, for each record of a file, either a `Document` (a WET
`conversion` record, or a WARC `response` record whose HTML was extracted) or a `Drop`
naming why it is not one. A file that cannot be read to its end (not a WARC file, a
truncated gzip member, an I/O error, an empty file) yields one more `Drop` in the `read`
stage whose reason names the problem, so the loss is visible in the stats and the run
goes on.

Records are cut from the file's bytes, and damaged ones named, by `corpus.warc_framing`;
warcio parses each record's headers and payload. ARC files are read by warcio alone (with ids
derived from each record, not warcio's random ones). `read_paths_listing` reads a Common Crawl
`*.paths.gz` listing.

The readers take an open binary file object, so the caller decides where bytes come from
(`cleancrawl.storage`: a local file, gs://, s3://). Details of file errors name where reading
stopped and what was expected, never the file's contents.
"""
from __future__ import annotations

import gzip
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
from cleancrawl.corpus.record import Document, Drop, utf8_len
from cleancrawl.corpus.safe_text import one_line
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.corpus.warc_framing import BadGzip, Damage, FileCut, Source, frame

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
        src = Source(fileobj)
        src.skip_blank()
        if src.at_end():
            yield Drop(STAGE, "empty_file", source_file,
                       detail="no WARC records" + (" (empty gzip data)" if src.gzip else ""))
            return
        head = src.peek(16)
        if head.startswith(b"filedesc://"):  # ARC, the WARC's predecessor: warcio alone
            yield from _read_arc(src.replay(), source_file, wanted, config, extractor, count)
            return
        src.format_known()
        if not head.startswith(b"WARC/"):
            what = "its gzip content does not" if src.gzip else "it does not"
            yield Drop(STAGE, "not_warc", source_file,
                       detail=f"{what} begin with a WARC/1.x record header "
                              "(expected a WARC or WET file, plain or gzip)")
            return
        for item in frame(src, count):
            records += 1
            if isinstance(item, Damage):
                yield Drop(STAGE, item.reason, source_file, url=item.url, detail=item.detail)
                continue
            start, header, block = item
            try:
                record = _LOADER.parse_record_stream(io.BytesIO(header + block), known_format="warc")
            except (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, EOFError):
                yield Drop(STAGE, "bad_warc_headers", source_file,
                           detail=f"the WARC header at {src.describe(start)} cannot be parsed")
                continue
            try:
                yield _record_to_document(record, src.record_offset(start), source_file, wanted, config, extractor,
                                          count)
            except Exception as err:  # the web is weirder than any list of cases: count, go on
                yield Drop(STAGE, "record_error", source_file, url=_target_uri(record), detail=one_line(err))
    except FileCut as err:
        yield Drop(STAGE, "truncated_file", source_file, detail=f"after {records} records: {err}")
    except BadGzip as err:
        yield Drop(STAGE, "truncated_file", source_file,
                   detail=f"after {records} records: {err}; reading stopped at {_stopped_at(src)}")
    except Exception as err:  # I/O errors and anything else a reader raises mid-file
        yield Drop(STAGE, "read_error", source_file, detail=f"after {records} records: {_error_name(err)}")


def _stopped_at(src) -> str:
    return src.where() if src is not None else "byte 0"


def _error_name(err: BaseException) -> str:
    """An I/O error's type and errno text, without any bytes of the file."""
    if isinstance(err, OSError) and err.strerror:
        return f"{type(err).__name__}: {err.strerror}"
    return one_line(err) if isinstance(err, OSError) else type(err).__name__


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
                item = Drop(STAGE, "record_error", source_file, url=_target_uri(record), detail=one_line(err))
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
        return Drop(STAGE, "bad_content_encoding", source_file, url=url, detail=one_line(err))
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
        return Drop(STAGE, "too_long", source_file, url=url, text_bytes=utf8_len(text))
    return Document(text=text, content_type=content_type, content_length=len(payload), **common)


def _declares_http(record) -> bool:
    content_type = (record.rec_headers.get_header("Content-Type") or "").replace(" ", "").lower()
    return content_type.startswith("application/http")


def read_local_file(path: str, config: ReaderConfig = ReaderConfig(), **kwargs) -> Iterator[Document | Drop]:
    """Convenience for local paths (tests, notebooks): open, read, account."""
    try:
        fileobj = open(path, "rb")
    except OSError as err:
        yield Drop(STAGE, "read_error", path, detail=one_line(err))
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
