"""Read Common Crawl WARC and WET files into `Document`s, accounting for every record.

`read_crawl_file` yields, for each record of a file, either a `Document` (a WET
`conversion` record, or a WARC `response` record whose HTML was extracted) or a `Drop`
naming why it is not one. A file that cannot be read to its end (not a WARC file, a
truncated gzip member, an I/O error, an empty file) yields one more `Drop` in the `read`
stage whose reason names the problem, so the loss is visible in the stats and the run
goes on.

The readers take an open binary file object, so the caller decides where bytes come from
(local file, gs://, s3:// through Beam's FileSystems). warcio handles plain and gzip
(one member per record, as Common Crawl writes them) transparently.
"""
from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from cleancrawl.corpus.extract import HtmlExtractor, decode_html, is_html_content_type
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.corpus.urls import normalize_url

STAGE = "read"

# Reasons a whole file (or its unreadable tail) is lost. `--strict` fails the run on any.
FILE_ERROR_REASONS = ("empty_file", "not_warc", "truncated_file", "read_error")
# Reasons one record is not a document (README, "Accounting and bad input").
RECORD_DROP_REASONS = ("non_document_record", "too_long", "empty", "not_html", "http_status", "html_too_large",
                       "extraction_failed", "truncated_record", "bad_http_headers", "bad_content_encoding",
                       "no_url", "record_error")

_HTTP_PARSER = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0"], verify=False)

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
    try:
        iterator = ArchiveIterator(fileobj, arc2warc=True)
        for record in iterator:
            records += 1
            offset = iterator.offset  # start of this record (get_record_offset() would consume it)
            try:
                item = _record_to_document(record, offset, source_file, wanted, config, extractor, count)
            except (ArchiveLoadFailed, EOFError, zlib.error, gzip.BadGzipFile):
                raise  # the file's problem, not this record's: handled below
            except Exception as err:  # the web is weirder than any list of cases: count, go on
                item = Drop(STAGE, "record_error", source_file, url=_target_uri(record), detail=_one_line(err))
            yield item
    except ArchiveLoadFailed as err:
        reason = "truncated_file" if records else "not_warc"
        yield Drop(STAGE, reason, source_file, detail=f"after {records} records: {_one_line(err)}")
        return
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        yield Drop(STAGE, "truncated_file", source_file, detail=f"after {records} records: {_one_line(err)}")
        return
    except Exception as err:  # I/O errors and anything else a reader raises mid-file
        yield Drop(STAGE, "read_error", source_file, detail=f"after {records} records: {_one_line(err)}")
        return
    if records == 0:
        yield Drop(STAGE, "empty_file", source_file, detail="no WARC records")


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
            return Drop(STAGE, "bad_http_headers", source_file, url=url, detail=_one_line(err))
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


def read_paths_listing(data: bytes, prefix: str = "") -> list[str]:
    """Common Crawl `*.paths.gz` (or plain) listing → full paths (prefix + relative path)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    lines = io.StringIO(data.decode("utf-8")).read().splitlines()
    paths = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        paths.append(prefix + line if prefix else line)
    return paths
