"""The WebText-like URL table: its schema, and reading it back for the build's join.

One row per normalised URL, as `cleancrawl reddit-urls` writes it (`selection.reddit`):

    normalized_url | url | reddit_score | reddit_submissions | subreddits | first_created_utc | first_id | over_18

    reddit_score        max score over the URL's submissions (null: only from URL lists)
    reddit_submissions  submissions of the URL that passed the link filters (any score)
    subreddits          distinct subreddits, sorted
    first_*             the earliest submission (ties: smallest id)

Reading it back (`pipelines.select` joins documents on it): a reddit-urls output directory, one
Parquet file with `normalized_url` or `url` (the karma columns optional: other tools' tables work),
or a plain URL list in any compression, which has no karma.

    list_url_table(path)     the files of a URL source (an unfinished reddit-urls run is refused)
    read_url_table(raw)      (normalised URL, Karma) for every row of one file
    count_url_table(raw)     its rows, from the Parquet footer or by counting lines
    merge_karma(karmas)      one Karma for a URL listed more than once (a Beam combiner)
"""
from __future__ import annotations

from typing import BinaryIO, Iterable, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from cleancrawl import layout, storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.selection.inputs import decompressed, expand_paths, peek, sniff_format

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


class Karma(NamedTuple):
    """What the build attaches to a document selected by URL (None: unknown, e.g. a plain list)."""

    score: int | None
    submissions: int | None
    subreddits: tuple[str, ...] | None


def list_url_table(path: str) -> list[str]:
    """The files of a URL source: a reddit-urls output directory, a Parquet file, a URL list, or a glob.

    A directory with `part-*` files but no `_SUCCESS` is an unfinished reddit-urls run: refused.
    """
    entries = ([storage.join(path.rstrip("/"), n) for n in storage.list_dir(path.rstrip("/"))]
               if not any(c in path for c in "*?[") else [])
    if entries:
        names = {p.rsplit("/", 1)[-1] for p in entries}
        if any(n.startswith("part-") for n in names) and layout.SUCCESS_MARKER not in names:
            raise UserError(f"{path}: no {layout.SUCCESS_MARKER} marker: the reddit-urls run that wrote it did not "
                            "finish")
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
    head, raw = peek(raw)
    container = sniff_format(head)
    if container == "parquet":
        return _parquet_karma(raw)
    return _listed_karma(raw, container)


def count_url_table(raw: BinaryIO) -> int:
    """Rows of a URL table file (Parquet footer) or non-blank lines of a URL list."""
    head, raw = peek(raw)
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
