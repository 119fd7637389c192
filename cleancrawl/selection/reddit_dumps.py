"""Reading Reddit submissions dumps: one file → the submissions that count, and a report of the rest.

    read_submissions(raw, path, config)       the file's Submissions that pass the link filters, and its
                                              FileReport (lines, blank, skipped by reason with line numbers,
                                              filtered by reason), complete once the iterator is exhausted
    parse_submission(obj)                     one JSON object (or Parquet row) → a Submission, or why it is skipped
    link_filter_reason(sub, config)           why a well-formed submission does not count (None: it counts)

Dumps as Pushshift publishes them: one JSON object a line; zstd with a long window, xz, bz2, gzip
or plain, sniffed from the first bytes (`selection.inputs`); Parquet tables of submissions with
the same fields; and plain URL lists (one URL a line, as OpenWebText distributes them), whose
URLs have no score. URLs are normalised exactly as the build does (`corpus.urls.normalize_url`),
after undoing the HTML escaping Reddit applies to the `url` field (`&amp;` → `&`). A malformed
line never stops the reading: it is counted by reason, and listed with its line number.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, NamedTuple

import pyarrow.parquet as pq

from cleancrawl.corpus.safe_text import one_line
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.options import option
from cleancrawl.selection.inputs import STREAM_ERRORS, decompressed, peek, sniff_format

# Reddit's own hosts: links there are discussions, not web pages (self posts point here too).
REDDIT_HOSTS = frozenset({"reddit.com", "redd.it", "redditmedia.com", "reddituploads.com", "redditstatic.com",
                          "reddit.app.link"})
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
            report.skip(number, "malformed_json", one_line(err))


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
    except STREAM_ERRORS as err:
        reason = "truncated_file" if report.lines else "read_error"
        report.error = {"file": report.path, "reason": reason, "detail": f"after line {report.lines}: {one_line(err)}"}


def _rows(raw, report: FileReport, url_list: bool) -> tuple[Iterator[tuple[int, object]], bool]:
    """(line number, JSON object | Parquet row | URL) pairs of one file, and whether it is a URL list."""
    head, raw = peek(raw)
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
