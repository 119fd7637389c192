"""Reddit submissions → the WebText-like URL table (GPT-2's WebText, T5's "WebText-like" C4).

GPT-2's WebText kept pages whose URL was submitted to Reddit and scored at least 3 karma.
This module reads Reddit submissions dumps as Pushshift publishes them (one JSON object a
line; zstd with a long window, xz, bz2, gzip or plain, sniffed from the first bytes) and
Parquet tables of submissions, plus plain URL lists (one URL a line, as OpenWebText
distributes them), and aggregates them into one row per normalised URL:

    normalized_url | url | reddit_score | reddit_submissions | subreddits | first_created_utc | first_id | over_18

    reddit_score        max score over the URL's submissions (null: only from URL lists)
    reddit_submissions  submissions of the URL that passed the link filters (any score)
    subreddits          distinct subreddits, sorted
    first_*             the earliest submission (ties: smallest id)

A URL is kept when its max score >= min_score (or it came from a URL list). URLs are
normalised exactly as the build does (`corpus.urls.normalize_url`), after undoing the HTML
escaping Reddit applies to the `url` field (`&amp;` → `&`).

`build_url_table` is the whole `cleancrawl reddit-urls` command. It is plain Python with
a process pool, not Beam: reading a dump is decompression + JSON parsing, one file per
process, and the aggregate is a hash-partitioned group-by done by Arrow. Map: each file's
submissions are spilled to local Arrow files by hash(normalised URL) % P. Reduce: each
partition is grouped on its own. So peak memory is one partition's submissions (P from
the input size, ~512 MB of compressed dump a partition), never the whole dump.
A malformed line never stops the run: it is counted by reason, and its file and line
number are listed in `OUT/_stats.json`.
"""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import math
import os
import re
import shutil
import tempfile
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from cleancrawl import layout, storage
from cleancrawl.options import option
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.readers import Prepended
from cleancrawl.corpus.urls import normalize_url

# Reddit's own hosts: links there are discussions, not web pages (self posts point here too).
REDDIT_HOSTS = frozenset({"reddit.com", "redd.it", "redditmedia.com", "reddituploads.com", "redditstatic.com", "reddit.app.link"})
# Image and video hosts: their pages hold no text worth keeping (OpenWebText drops them too).
MEDIA_HOSTS = frozenset({
    "imgur.com", "gfycat.com", "giphy.com", "redgifs.com", "gyazo.com", "tinypic.com", "photobucket.com",
    "imageshack.us", "imageshack.com", "flickr.com", "flic.kr", "instagram.com", "500px.com", "deviantart.com",
    "youtube.com", "youtu.be", "vimeo.com", "dailymotion.com", "streamable.com", "twitch.tv", "liveleak.com",
    "vid.me", "tiktok.com", "v.redd.it", "i.redd.it",
})
MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".svg", ".tif", ".tiff",
                    ".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v", ".mp3", ".wav", ".ogg", ".flac")
REQUIRED_FIELDS = ("url", "score", "created_utc")

ZSTD_MAX_WINDOW = 2 ** 31           # Pushshift compresses with `zstd --long=31`
SPILL_BATCH_ROWS = 65_536           # rows a map worker buffers before writing to the spill files
PARTITION_INPUT_BYTES = 512 << 20   # one reduce partition per this much (compressed) input
MAX_PARTITIONS = 4096
# Underscore names: Parquet readers (pyarrow, pandas, Spark) skip them, so `pq.read_table(OUT)` works.
STATS_FILE = "_stats.json"

SUBMISSION_SCHEMA = pa.schema([
    pa.field("normalized_url", pa.string(), nullable=False),
    pa.field("url", pa.string(), nullable=False),
    pa.field("score", pa.int64()),          # null: from a URL list
    pa.field("created_utc", pa.int64()),
    pa.field("id", pa.string()),
    pa.field("subreddit", pa.string()),
    pa.field("over_18", pa.bool_(), nullable=False),
])

URL_TABLE_SCHEMA = pa.schema(
    [
        pa.field("normalized_url", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("reddit_score", pa.int64()),
        pa.field("reddit_submissions", pa.int64(), nullable=False),
        pa.field("subreddits", pa.list_(pa.string()), nullable=False),
        pa.field("first_created_utc", pa.int64()),
        pa.field("first_id", pa.string()),
        pa.field("over_18", pa.bool_(), nullable=False),
    ],
    metadata={b"cleancrawl.url_table_version": b"1"},
)


@dataclass(frozen=True)
class LinkFilter:
    """Which submissions count. Defaults: WebText's (score >= 3, no self posts, no media)."""

    # field metadata: the command-line options (cleancrawl/options.py)
    min_score: int = option(3, help="keep a URL whose best submission scored at least this (default: %(default)s)")
    keep_self_posts: bool = option(False, help="count self (text) posts")
    keep_reddit_links: bool = option(False, help="count links to reddit.com / redd.it")
    keep_media_links: bool = option(False, help="count links to image/video hosts (imgur, youtube, …) and media files")
    drop_over_18: bool = option(False, help="do not count submissions marked NSFW")


class Submission(NamedTuple):
    normalized_url: str
    url: str
    score: int | None
    created_utc: int | None
    id: str | None
    subreddit: str | None
    over_18: bool
    is_self: bool = False


class Karma(NamedTuple):
    """What the build attaches to a document selected by URL (None: unknown, e.g. a plain list)."""

    score: int | None
    submissions: int | None
    subreddits: tuple[str, ...] | None


@dataclass
class FileReport:
    """What reading one input file found. `skipped_lines` lists at most `max_listed` examples."""

    path: str
    max_listed: int = 1000
    format: str = ""
    lines: int = 0
    blank: int = 0                    # blank lines (and # comments in URL lists): nothing to read
    eligible: int = 0                 # submissions that passed the link filters (any score)
    eligible_min_score: int = 0       # ... of which score >= min_score (or no score: URL lists)
    skipped: Counter = field(default_factory=Counter)      # malformed lines by reason
    filtered: Counter = field(default_factory=Counter)     # well-formed submissions not counted, by reason
    skipped_lines: list = field(default_factory=list)      # [{"file", "line", "reason", "detail"}]
    error: dict | None = None         # the file could not be read to its end

    def skip(self, line: int, reason: str, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.skipped_lines) < self.max_listed:
            self.skipped_lines.append({"file": self.path, "line": line, "reason": reason, "detail": detail[:200]})

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "lines": self.lines,
            "blank": self.blank,
            "skipped": dict(sorted(self.skipped.items())),
            "filtered": dict(sorted(self.filtered.items())),
            "eligible": self.eligible,
            "eligible_min_score": self.eligible_min_score,
            "error": self.error,
        }


# ---------------------------------------------------------------------------- opening files

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


def _peek(raw: BinaryIO, n: int = 8) -> tuple[bytes, BinaryIO]:
    head = raw.read(n)
    if raw.seekable():
        raw.seek(0)
        return head, raw
    return head, Prepended(head, raw)


# Errors a truncated or corrupt compressed stream raises part-way through.
_STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error, zstandard.ZstdError, ValueError)


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


# ---------------------------------------------------------------------------- one submission

def _as_int(value) -> int | None:
    """An integer from JSON (int, integral float, numeric string); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                return None
            return int(number) if number.is_integer() else None
    return None


def _valid_text(value) -> str | None:
    """A str that Arrow can store (no lone surrogates), or None."""
    if not isinstance(value, str):
        return None if value is None else str(value)
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def unescape_reddit_url(url: str) -> str:
    """Undo the HTML escaping of Reddit's API in the `url` field (`&amp;` → `&`, `&lt;`, `&gt;`)."""
    if "&" not in url:
        return url
    return url.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def parse_submission(obj) -> Submission | str:
    """One decoded JSON object (or Parquet row) → a Submission, or the reason it is skipped."""
    if not isinstance(obj, dict):
        return "not_an_object"
    for name in REQUIRED_FIELDS:
        if obj.get(name) is None:
            return f"missing_{name}"
    url = obj["url"]
    if not isinstance(url, str) or not url.strip():
        return "bad_url"
    score = _as_int(obj["score"])
    if score is None:
        return "bad_score"
    created = _as_int(obj["created_utc"])
    if created is None:
        return "bad_created_utc"
    return _make_submission(unescape_reddit_url(url.strip()), score, created, obj.get("id"), obj.get("subreddit"),
                            over_18=bool(obj.get("over_18") or False), is_self=bool(obj.get("is_self") or False))


def parse_listed_url(line) -> Submission | str:
    """One line of a plain URL list → a Submission with no score, or the reason it is skipped."""
    if not isinstance(line, str) or not line.strip():
        return "bad_url"
    return _make_submission(line.strip(), None, None, None, None)


def _make_submission(url, score, created, sub_id, subreddit, over_18=False, is_self=False) -> Submission | str:
    try:
        url.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape: no crawled URL can match it
        return "bad_url"
    return Submission(normalize_url(url), url, score, created, _valid_text(sub_id), _valid_text(subreddit),
                      over_18, is_self)


_HTTP_AUTHORITY = re.compile(r"(?i)^https?://([^/?#]*)")


def host_of(url: str) -> str | None:
    """Lower-case host of an http(s) URL; None when it is not one. (A regex: urlsplit costs as
    much as the JSON parse.)"""
    match = _HTTP_AUTHORITY.match(url)
    if match is None:
        return None
    host = match.group(1).rpartition("@")[2]          # drop user:password@
    if host.startswith("["):                           # IPv6 literal
        host = host[1:host.find("]")] if "]" in host else ""
    else:
        host = host.partition(":")[0]                  # drop :port
    host = host.rstrip(".").lower()
    return host or None


def _on_hosts(host: str, hosts: frozenset) -> bool:
    """True when `host` is one of `hosts` or a subdomain of one."""
    while True:
        if host in hosts:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1:]


def link_filter_reason(sub: Submission, config: LinkFilter) -> str | None:
    """Why a well-formed submission does not count (None: it counts, whatever its score)."""
    if sub.is_self and not config.keep_self_posts:
        return "self_post"
    host = host_of(sub.url)
    if host is None:
        return "not_http_url"
    # A kept self post links to its own Reddit discussion: that is the point of keeping it.
    if not config.keep_reddit_links and not sub.is_self and _on_hosts(host, REDDIT_HOSTS):
        return "reddit_link"
    if not config.keep_media_links:
        if _on_hosts(host, MEDIA_HOSTS):
            return "media_link"
        path = sub.url.split("?", 1)[0].split("#", 1)[0].lower()
        if path.endswith(MEDIA_EXTENSIONS):
            return "media_link"
    if config.drop_over_18 and sub.over_18:
        return "over_18"
    return None


# ---------------------------------------------------------------------------- one input file

def _json_rows(stream: BinaryIO, report: FileReport) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(stream, 1):
        report.lines = number
        if not line.strip():
            report.blank += 1
            continue
        try:
            yield number, json.loads(line)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            report.skip(number, "malformed_json", _one_line(err))


def _parquet_rows(raw: BinaryIO, report: FileReport) -> Iterator[tuple[int, object]]:
    parquet = pq.ParquetFile(raw)
    wanted = set(REQUIRED_FIELDS) | {"is_self", "over_18", "subreddit", "id"}
    columns = [name for name in parquet.schema_arrow.names if name in wanted]
    number = 0
    for batch in parquet.iter_batches(columns=columns, batch_size=8192):
        for row in batch.to_pylist():
            number += 1
            report.lines = number
            yield number, row


def _list_rows(stream: BinaryIO, report: FileReport) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(stream, 1):
        report.lines = number
        text = line.decode("utf-8", "replace").strip()
        if text and not text.startswith("#"):
            yield number, text
        else:
            report.blank += 1


def read_submissions(raw: BinaryIO, path: str, config: LinkFilter = LinkFilter(), url_list: bool = False,
                     max_listed: int = 1000) -> tuple[Iterator[Submission], FileReport]:
    """Submissions of one file that pass the link filters, and the report filled as they stream.

    `raw` is the file as stored (compression is sniffed). With `url_list`, each line is one
    URL with no score. A Parquet file with a `url` but no `score` column is read as a URL
    list. The report is complete once the iterator is exhausted.
    """
    report = FileReport(path, max_listed=max_listed)
    return _submissions(raw, report, config, url_list), report


def _submissions(raw, report: FileReport, config: LinkFilter, url_list: bool) -> Iterator[Submission]:
    try:
        rows, url_list = _rows(raw, report, url_list)
        parse = parse_listed_url if url_list else parse_submission
        for number, row in rows:
            sub = parse(row)
            if isinstance(sub, str):
                report.skip(number, sub)
                continue
            reason = link_filter_reason(sub, config)
            if reason is not None:
                report.filtered[reason] += 1
                continue
            report.eligible += 1
            if sub.score is None or sub.score >= config.min_score:
                report.eligible_min_score += 1
            yield sub
    except _STREAM_ERRORS as err:
        reason = "truncated_file" if report.lines else "read_error"
        report.error = {"file": report.path, "reason": reason, "detail": f"after line {report.lines}: {_one_line(err)}"}


def _rows(raw, report: FileReport, url_list: bool) -> tuple[Iterator[tuple[int, object]], bool]:
    """(line number, JSON object | Parquet row | URL) pairs of one file, and whether it is a URL list."""
    head, raw = _peek(raw)
    container = sniff_format(head)
    if container != "parquet":
        report.format = f"{'urls' if url_list else 'jsonl'}-{container}"
        stream = decompressed(raw, container)
        return (_list_rows(stream, report) if url_list else _json_rows(stream, report)), url_list
    names = pq.ParquetFile(raw).schema_arrow.names
    raw.seek(0)
    if "url" not in names:
        raise ValueError(f"Parquet file has no url column (columns: {', '.join(names)})")
    url_list = url_list or "score" not in names
    report.format = "parquet-urls" if url_list else "parquet"
    rows = _parquet_rows(raw, report)
    if url_list:
        rows = ((number, row.get("url")) for number, row in rows)
    return rows, url_list


# ---------------------------------------------------------------------------- aggregation

def _sorted_lists(lists: pa.ListArray) -> pa.ListArray:
    """Sort the values inside each list (vectorised: by parent row, then value)."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    parents = pc.list_parent_indices(lists)
    values = pc.list_flatten(lists)
    order = pc.sort_indices(pa.table({"row": parents, "value": values}), sort_keys=[("row", "ascending"), ("value", "ascending")])
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.ListArray.from_arrays(offsets, values.take(order), type=pa.list_(pa.string()))


def aggregate_submissions(submissions: pa.Table, min_score: int) -> tuple[pa.Table, dict]:
    """Submissions (SUBMISSION_SCHEMA) → the kept URL table rows (URL_TABLE_SCHEMA), sorted by URL.

    Also returns {"urls": distinct URLs, "kept": rows kept, "below_min_score": rows not kept}.
    """
    if submissions.num_rows == 0:
        return URL_TABLE_SCHEMA.empty_table(), {"urls": 0, "kept": 0, "below_min_score": 0}
    # Sorted by time (nulls last, the default), so that single-threaded "first" is the earliest submission.
    ordered = submissions.sort_by(
        [("normalized_url", "ascending"), ("created_utc", "ascending"), ("id", "ascending"), ("url", "ascending")]
    )
    grouped = ordered.group_by("normalized_url", use_threads=False).aggregate([
        ("url", "first"),
        ("score", "max"),
        ("score", "count", pc.CountOptions("only_null")),    # submissions from URL lists
        ([], "count_all"),
        ("subreddit", "distinct", pc.CountOptions("only_valid")),
        ("created_utc", "min"),
        ("id", "first"),
        ("over_18", "any"),
    ])
    table = pa.table(
        {
            "normalized_url": grouped["normalized_url"],
            "url": grouped["url_first"],
            "reddit_score": grouped["score_max"],
            "reddit_submissions": grouped["count_all"],
            "subreddits": _sorted_lists(grouped["subreddit_distinct"]),
            "first_created_utc": grouped["created_utc_min"],
            "first_id": grouped["id_first"],
            "over_18": grouped["over_18_any"],
        },
        schema=URL_TABLE_SCHEMA,
    )
    listed = pc.greater(grouped["score_count"], 0)
    keep = pc.fill_null(pc.or_kleene(pc.greater_equal(table["reddit_score"], min_score), listed), False)
    kept = table.filter(keep).sort_by("normalized_url")
    return kept, {"urls": table.num_rows, "kept": kept.num_rows, "below_min_score": table.num_rows - kept.num_rows}


def partition_of(normalized_url: str, partitions: int) -> int:
    return zlib.crc32(normalized_url.encode("utf-8")) % partitions


class _Spill:
    """One map task's submissions, spread over P Arrow stream files by hash of the URL."""

    def __init__(self, directory: str, name: str, partitions: int, batch_rows: int = SPILL_BATCH_ROWS):
        self._paths = [os.path.join(directory, f"p{p:05d}", name) for p in range(partitions)]
        self._buffers: list[list] = [[] for _ in range(partitions)]
        self._writers: list = [None] * partitions
        self._buffered = 0
        self._batch_rows = batch_rows

    def add(self, sub: Submission) -> None:
        self._buffers[partition_of(sub.normalized_url, len(self._buffers))].append(sub[:7])  # without is_self
        self._buffered += 1
        if self._buffered >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        for p, rows in enumerate(self._buffers):
            if not rows:
                continue
            if self._writers[p] is None:
                os.makedirs(os.path.dirname(self._paths[p]), exist_ok=True)
                self._writers[p] = pa.ipc.new_stream(self._paths[p], SUBMISSION_SCHEMA)
            columns = [pa.array(values, type=f.type) for values, f in zip(zip(*rows), SUBMISSION_SCHEMA)]
            self._writers[p].write_batch(pa.RecordBatch.from_arrays(columns, schema=SUBMISSION_SCHEMA))
            rows.clear()
        self._buffered = 0

    def close(self) -> None:
        self._flush()
        for writer in self._writers:
            if writer is not None:
                writer.close()


def read_spilled(paths: Iterable[str]) -> pa.Table:
    tables = [pa.ipc.open_stream(path).read_all() for path in paths]
    return pa.concat_tables(tables) if tables else SUBMISSION_SCHEMA.empty_table()


# ---------------------------------------------------------------------------- the command

@dataclass(frozen=True)
class UrlTableConfig:
    """`cleancrawl reddit-urls`: inputs, output, filters, parallelism."""

    OPTION_GROUPS = (IO := "input and output", RULES := "which submissions count (defaults: GPT-2's WebText)",
                     RUN := "execution")

    submissions: tuple[str, ...] = option((), list="repeat", metavar="PATH_OR_GLOB", group=IO, help=(
        "Pushshift submissions dumps: JSON lines, zstd (long window)/xz/bz2/gzip/plain, "
        "or Parquet with the same fields; local, gs://, s3://; repeatable"))
    url_lists: tuple[str, ...] = option((), flag="--url-list", list="repeat", metavar="PATH_OR_GLOB", group=IO, help=(
        "plain URL lists, one URL a line (as OpenWebText distributes); no score, "
        "so --min-score does not apply to them; repeatable"))
    output: str = option("reddit-urls", required=True, cli_default=None, group=IO, help="output directory for the URL table")
    link_filter: LinkFilter = option(LinkFilter(), group=RULES, help="which submissions count")
    partitions: int = option(0, group=RUN, help=(  # reduce partitions = output parts
        "output parts = aggregation partitions (default: one per 512 MB of input); "
        "memory per worker is about one partition's submissions"))
    workers: int = option(0, group=RUN, help="processes (default: one per core)")  # at most one per task
    max_listed: int = option(1000, flag="--max-skipped-listed", group=RUN, help=(
        "skipped lines listed with file and line number, per file (all are counted)"))
    overwrite: bool = option(False, group=IO, help="replace an existing URL table in --output")
    tmp_dir: str | None = option(None, group=RUN, help="local directory for the spill files (default: system temp)")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def expand_paths(patterns: Iterable[str]) -> list[tuple[str, int]]:
    """Globs → sorted (path, size) pairs; a pattern matching nothing is a UserError."""
    found: dict[str, int] = {}
    for pattern in patterns:
        matches = storage.match_files(pattern)
        if not matches:
            raise UserError(f"no file matches {pattern}")
        found.update(matches)
    return sorted(found.items())


def auto_partitions(total_bytes: int) -> int:
    return max(1, min(MAX_PARTITIONS, math.ceil(total_bytes / PARTITION_INPUT_BYTES)))


URL_TABLE_LAYOUT = storage.OutputLayout(
    "reddit-urls", r"^\.?(part-\d{5}-of-\d{5}\.parquet|_stats\.json|_SUCCESS)" + storage.TEMP_SUFFIX + "$", noun="URL table")


def prepare_output(output: str, overwrite: bool, inputs: Iterable[str] = ()) -> None:
    """Refuse an output that holds an input, or any file reddit-urls did not write (even with
    `overwrite`: a user's file is never deleted), or an existing table unless `overwrite`."""
    storage.prepare_output_folder(output, URL_TABLE_LAYOUT, overwrite, inputs, lock=False)
    if not storage.is_remote(output):
        os.makedirs(output, exist_ok=True)


def _map_file(task) -> dict:
    """Map task: read one input file, spill its submissions; return its report."""
    index, path, url_list, spill_dir, partitions, link_filter, max_listed = task
    spill = _Spill(spill_dir, f"f{index:06d}.arrow", partitions)
    try:
        raw = storage.open_binary(path)
    except Exception as err:
        report = FileReport(path, max_listed=max_listed)
        report.error = {"file": path, "reason": "read_error", "detail": _one_line(err)}
    else:
        with raw:
            submissions, report = read_submissions(raw, path, link_filter, url_list, max_listed)
            for sub in submissions:
                spill.add(sub)
    spill.close()
    return {"path": path, "report": report.to_dict(), "skipped_lines": report.skipped_lines}


def _reduce_partition(task) -> dict:
    """Reduce task: group one partition's submissions by URL, write one Parquet part."""
    index, spill_dir, partitions, output, min_score = task
    directory = os.path.join(spill_dir, f"p{index:05d}")
    paths = sorted(os.path.join(directory, n) for n in os.listdir(directory)) if os.path.isdir(directory) else []
    table, counts = aggregate_submissions(read_spilled(paths), min_score)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=100_000)
    name = layout.shard_name(index, partitions)
    storage.write_atomically(storage.join(output, name), buffer.getvalue())
    return {"part": name, **counts}


class _Inline:
    """The executor interface, run in this process (one worker: no start-up cost)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items):
        return map(fn, items)


def _executor(workers: int, tasks: int):
    workers = min(workers or os.cpu_count() or 1, max(1, tasks))
    if workers == 1:
        return _Inline()
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def build_url_table(config: UrlTableConfig, progress: Callable[[str], None] = lambda message: None) -> dict:
    """Read every input, write `OUT/part-*.parquet`, `OUT/_stats.json`, `OUT/_SUCCESS`; return the stats."""
    inputs = [(path, size, False) for path, size in expand_paths(config.submissions)]
    inputs += [(path, size, True) for path, size in expand_paths(config.url_lists)]
    if not inputs:
        raise UserError("no input: give --submissions and/or --url-list")
    if config.link_filter.min_score < 0:
        raise UserError("--min-score must be >= 0")
    prepare_output(config.output, config.overwrite, [path for path, _, _ in inputs])
    partitions = config.partitions or auto_partitions(sum(size for _, size, _ in inputs))
    spill_dir = tempfile.mkdtemp(prefix="cleancrawl-reddit-", dir=config.tmp_dir)
    try:
        map_tasks = [(i, path, url_list, spill_dir, partitions, config.link_filter, config.max_listed)
                     for i, (path, _, url_list) in enumerate(inputs)]
        with _executor(config.workers, len(map_tasks)) as pool:
            files = []
            for result in pool.map(_map_file, map_tasks):
                files.append(result)
                progress(f"read {result['path']}: {result['report']['lines']} lines")
        reduce_tasks = [(p, spill_dir, partitions, config.output, config.link_filter.min_score) for p in range(partitions)]
        with _executor(config.workers, partitions) as pool:
            parts = list(pool.map(_reduce_partition, reduce_tasks))
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    stats = url_table_stats(config, files, parts)
    data = (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    storage.write_atomically(storage.join(config.output, STATS_FILE), data)
    storage.write_atomically(storage.join(config.output, layout.SUCCESS_MARKER), layout.SUCCESS_CONTENT)
    return stats


def url_table_stats(config: UrlTableConfig, files: list[dict], parts: list[dict]) -> dict:
    skipped: Counter = Counter()
    filtered: Counter = Counter()
    for f in files:
        skipped.update(f["report"]["skipped"])
        filtered.update(f["report"]["filtered"])
    file_errors = [f["report"]["error"] for f in files if f["report"]["error"]]
    return {
        "stats_version": 1,
        "config": config.to_dict(),
        "totals": {
            "files": len(files),
            "lines": sum(f["report"]["lines"] for f in files),
            "blank_lines": sum(f["report"].get("blank", 0) for f in files),
            "skipped_lines": sum(skipped.values()),
            "filtered_submissions": sum(filtered.values()),
            "eligible_submissions": sum(f["report"]["eligible"] for f in files),
            "eligible_min_score": sum(f["report"]["eligible_min_score"] for f in files),
            "urls": sum(p["urls"] for p in parts),
            "urls_kept": sum(p["kept"] for p in parts),
            "urls_below_min_score": sum(p["below_min_score"] for p in parts),
            "file_errors": len(file_errors),
        },
        "skipped": dict(sorted(skipped.items())),
        "filtered": dict(sorted(filtered.items())),
        "parts": [p["part"] for p in parts],
        "files": {f["path"]: f["report"] for f in files},
        "skipped_lines": [line for f in files for line in f["skipped_lines"]],
        "file_errors": file_errors,
    }


# ---------------------------------------------------------------------------- reading it back

def list_url_table(path: str) -> list[str]:
    """The files of a URL source: a reddit-urls output directory, a Parquet file, a URL list, or a glob.

    A directory with `part-*` files but no `_SUCCESS` is an unfinished reddit-urls run: refused.
    """
    entries = [storage.join(path.rstrip("/"), n) for n in storage.list_dir(path.rstrip("/"))] if not any(c in path for c in "*?[") else []
    if entries:
        names = {p.rsplit("/", 1)[-1] for p in entries}
        if any(n.startswith("part-") for n in names) and layout.SUCCESS_MARKER not in names:
            raise UserError(f"{path}: no {layout.SUCCESS_MARKER} marker: the reddit-urls run that wrote it did not finish")
        files = sorted(p for p in entries if p.endswith(".parquet"))
        if not files:
            raise UserError(f"{path}: a directory with no .parquet file")
        return files
    return [p for p, _ in expand_paths([path])]


def _parquet_karma(raw: BinaryIO) -> Iterator[tuple[str, Karma]]:
    parquet = pq.ParquetFile(raw)
    names = set(parquet.schema_arrow.names)
    key = "normalized_url" if "normalized_url" in names else "url"
    if key not in names:
        raise UserError("a URL table needs a normalized_url or url column")
    optional = [c for c in ("reddit_score", "reddit_submissions", "subreddits") if c in names]
    for batch in parquet.iter_batches(columns=[key] + optional, batch_size=65_536):
        columns = {name: batch.column(name).to_pylist() for name in batch.schema.names}
        urls = columns[key] if key == "normalized_url" else [normalize_url(u) if u else u for u in columns[key]]
        none = [None] * len(urls)
        for url, score, submissions, subreddits in zip(urls, columns.get("reddit_score", none),
                                                       columns.get("reddit_submissions", none),
                                                       columns.get("subreddits", none)):
            if url:
                yield url, Karma(score, submissions, tuple(subreddits) if subreddits is not None else None)


def _listed_karma(raw: BinaryIO, container: str) -> Iterator[tuple[str, Karma]]:
    unknown = Karma(None, None, None)
    for line in decompressed(raw, container):
        text = line.decode("utf-8", "replace").strip()
        if text and not text.startswith("#"):
            yield normalize_url(text), unknown


def read_url_table(raw: BinaryIO) -> Iterator[tuple[str, Karma]]:
    """(normalised URL, Karma) for every row of a URL table file (Parquet) or URL list (text, any compression).

    A Parquet file needs `normalized_url` (used as is) or `url` (normalised here); the
    karma columns are optional. A plain list has no karma: Karma(None, None, None).
    """
    head, raw = _peek(raw)
    container = sniff_format(head)
    if container == "parquet":
        return _parquet_karma(raw)
    return _listed_karma(raw, container)


def count_url_table(raw: BinaryIO) -> int:
    """Rows of a URL table file (Parquet footer) or non-blank lines of a URL list."""
    head, raw = _peek(raw)
    container = sniff_format(head)
    if container == "parquet":
        return pq.ParquetFile(raw).metadata.num_rows
    return sum(1 for line in decompressed(raw, container) if line.strip() and not line.lstrip().startswith(b"#"))


def merge_karma(karmas: Iterable[Karma]) -> Karma:
    """One Karma for a URL listed more than once (associative and commutative: a Beam combiner)."""
    scores, counts, subreddits = [], [], set()
    any_subreddits = False
    for k in karmas:
        if k.score is not None:
            scores.append(k.score)
        if k.submissions is not None:
            counts.append(k.submissions)
        if k.subreddits is not None:
            any_subreddits = True
            subreddits.update(k.subreddits)
    return Karma(max(scores) if scores else None, sum(counts) if counts else None,
                 tuple(sorted(subreddits)) if any_subreddits else None)
