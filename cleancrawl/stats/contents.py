"""What a corpus holds, computed from its shards: the CONTENTS section of the stats document.

    summarize_contents(path, ...)   every shard of a corpus listed, its columns checked, scanned → CONTENTS
    scan_shards(shards, workers)    one task per shard over a process pool → one merged ContentTally
    text_metrics(texts)             characters, bytes, words, lines per document, vectorised
    check_columns(columns, schema)  the text and URL columns a shard must have, or one line naming the option

Scanning reads only the columns it needs (pyarrow); every task returns a partial aggregate
(`ContentTally`) that merges exactly into the total, so workers and shard counts do not change it.

Memory is bounded by the number of *distinct* values kept exactly: registered domains, TLDs,
months, languages and subreddits (C4-sized corpora have ~15 M domains: about 2 GB of Python dict
in the parent). Lengths and scores go into fixed-bin histograms (`stats.histogram`), so their
quantiles are approximate. Everything else — counts, sums, min, max, top lists — is exact.

Every shard needs its text column and its URL column (`--text-column`, `--url-column`; `--url-column -`
for Parquet without URLs, then no domains are counted): a first shard without them is one line
(UserError) naming the option, never "N documents, 0 characters"; a later one is a named problem.

What each count means (characters, bytes, words, lines, domain, tld, month): stats/SCHEMA.md.
"""
from __future__ import annotations

import os
import re
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cleancrawl import layout, storage
from cleancrawl.corpus.columns import Columns, field_type
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.urls import split_host
from cleancrawl.stats.histogram import LENGTH_EDGES, Histogram

BATCH_ROWS = 512          # rows a record batch: bounds memory (text up to ~190 kB a row)

CONTENT_COLUMNS = ("text", "url", "timestamp", "language", "language_score",
                   "reddit_score", "reddit_submissions", "subreddits")
LANGUAGE_SCORE_EDGES = [i / 10 for i in range(10)] + [0.95, 0.99, 0.995, 0.999, 0.9999]
NO_URL = "-"  # --url-column -: the Parquet has no URLs (text-only data); domains and TLDs are not counted


# ---------------------------------------------------------------------------- text metrics

def _whitespace_mask(data: np.ndarray) -> np.ndarray:
    """True at every byte of a character Python's str.split() splits on.

    That set is ASCII 9-13 and 28-32, plus U+0085, U+00A0, U+1680, U+2000-200A, U+2028/2029,
    U+202F, U+205F, U+3000, whose UTF-8 forms start with C2, E1, E2 or E3: those lead bytes
    are rare enough in most text to be looked at one by one. Whole-array comparisons only
    (uint8 arithmetic wraps, so `data - 9 < 5` is 9 <= data <= 13).
    """
    ws = ((data - np.uint8(9)) < 5) | ((data - np.uint8(28)) < 5)
    leads = np.flatnonzero((data == 0xC2) | ((data - np.uint8(0xE1)) < 3))
    if leads.size:
        padded = np.concatenate([data, np.zeros(2, dtype=np.uint8)])
        b0, b1, b2 = padded[leads], padded[leads + 1], padded[leads + 2]
        two = (b0 == 0xC2) & ((b1 == 0x85) | (b1 == 0xA0))
        three = (
            ((b0 == 0xE1) & (b1 == 0x9A) & (b2 == 0x80))
            | ((b0 == 0xE2) & (b1 == 0x80)
               & (((b2 >= 0x80) & (b2 <= 0x8A)) | (b2 == 0xA8) | (b2 == 0xA9) | (b2 == 0xAF)))
            | ((b0 == 0xE2) & (b1 == 0x81) & (b2 == 0x9F))
            | ((b0 == 0xE3) & (b1 == 0x80) & (b2 == 0x80))
        )
        for width, mask in ((2, two), (3, three)):
            for k in range(width):
                ws[leads[mask] + k] = True
    return ws


def _count_per_document(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    # One count_nonzero per document (a few hundred a batch) beats any whole-array
    # prefix sum or nonzero() over the tens of MB a batch holds.
    return np.fromiter((np.count_nonzero(mask[a:b]) for a, b in zip(lo.tolist(), hi.tolist())),
                       dtype=np.int64, count=len(lo))


def text_metrics(texts: pa.Array) -> dict[str, np.ndarray]:
    """Per document: characters, bytes, words, lines — vectorised over the UTF-8 buffer."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    n = len(texts)
    offset_type = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[texts.offset: texts.offset + n + 1].astype(np.int64)
    start = offsets[0]
    offsets -= start
    data = (np.frombuffer(data_buffer, dtype=np.uint8)[start: start + offsets[-1]] if data_buffer is not None
            else np.zeros(0, np.uint8))
    lo, hi = offsets[:-1], offsets[1:]
    nonempty = hi > lo

    ws = _whitespace_mask(data)
    # A word starts at a non-space byte that follows a space byte or opens the document.
    starts = np.empty_like(ws)
    starts[:1] = ~ws[:1]
    np.greater(ws[:-1], ws[1:], out=starts[1:])          # ws[i-1] and not ws[i]
    first = lo[nonempty]
    starts[first] = ~ws[first]
    words = _count_per_document(starts, lo, hi)
    lines = _count_per_document(data == 10, lo, hi) + nonempty

    characters = pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return {"characters": characters, "bytes": hi - lo, "words": words, "lines": lines}


# ---------------------------------------------------------------------------- domains

# The host of a URL as the domain counts take it (the dropped-documents summary too).
URL_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)")


def _host_counts(urls: pa.Array) -> Counter:
    hosts = pc.extract_regex(urls, URL_HOST.pattern).field("host")
    hosts = pc.fill_null(hosts, "")
    counted = pc.value_counts(hosts)
    return Counter(dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())))


def value_counts(array: pa.Array) -> Counter:
    counted = pc.value_counts(pc.drop_null(array))
    return Counter({k: v for k, v in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())})


# ---------------------------------------------------------------------------- content tally

@dataclass
class ContentTally:
    """A partial aggregate over some documents; `merge` adds another one exactly."""

    documents: int = 0
    characters: int = 0
    bytes: int = 0
    words: int = 0
    lines: int = 0
    by_split: dict = field(default_factory=dict)   # split -> {"documents", "characters", "bytes"}
    lengths: dict = field(default_factory=lambda: {k: Histogram(LENGTH_EDGES)
                                                   for k in ("characters", "words", "lines")})
    languages: Counter = field(default_factory=Counter)
    language_score: Histogram = field(default_factory=lambda: Histogram(LANGUAGE_SCORE_EDGES))
    domains: Counter = field(default_factory=Counter)
    tlds: Counter = field(default_factory=Counter)
    months: Counter = field(default_factory=Counter)
    reddit_documents: int = 0
    reddit_score: Histogram = field(default_factory=lambda: Histogram(LENGTH_EDGES))
    reddit_submissions: Histogram = field(default_factory=lambda: Histogram(LENGTH_EDGES))
    subreddits: Counter = field(default_factory=Counter)

    def add_batch(self, batch: pa.RecordBatch, split: str) -> None:
        columns = dict(zip(batch.schema.names, batch.columns))
        n = batch.num_rows
        self.documents += n
        split_slot = self.by_split.setdefault(split, {"documents": 0, "characters": 0, "bytes": 0})
        split_slot["documents"] += n
        if "text" in columns:
            metrics = text_metrics(columns["text"])
            for name in ("characters", "bytes", "words", "lines"):
                setattr(self, name, getattr(self, name) + int(metrics[name].sum()))
            for name in ("characters", "words", "lines"):
                self.lengths[name].add(metrics[name])
            split_slot["characters"] += int(metrics["characters"].sum())
            split_slot["bytes"] += int(metrics["bytes"].sum())
        if "language" in columns:
            # "" = language ID did not run (e.g. --skip langid): no language, no score.
            languages = pc.fill_null(columns["language"], "")
            self.languages.update(value_counts(languages))
            if "language_score" in columns:
                identified = pc.not_equal(languages, "")
                scores = pc.filter(columns["language_score"], identified)
                self.language_score.add(scores.to_numpy(zero_copy_only=False))
        if "url" in columns:
            for host, count in _host_counts(columns["url"]).items():
                domain, tld = split_host(host)
                self.domains[domain] += count
                self.tlds[tld] += count
        if "timestamp" in columns:
            months = pc.utf8_slice_codeunits(pc.fill_null(columns["timestamp"], ""), 0, 7)
            self.months.update(value_counts(months))
        if "reddit_score" in columns:
            self._add_reddit(columns)

    def _add_reddit(self, columns: dict) -> None:
        scores = columns["reddit_score"]
        selected = pc.is_valid(scores)
        n = int(pc.sum(selected).as_py() or 0)
        if not n:
            return
        self.reddit_documents += n
        self.reddit_score.add(pc.filter(scores, selected).to_numpy(zero_copy_only=False))
        if "reddit_submissions" in columns:
            submissions = pc.drop_null(columns["reddit_submissions"])
            self.reddit_submissions.add(submissions.to_numpy(zero_copy_only=False))
        if "subreddits" in columns:
            names = pc.list_flatten(pc.drop_null(columns["subreddits"]))
            self.subreddits.update(value_counts(names))

    def merge(self, other: "ContentTally") -> None:
        for name in ("documents", "characters", "bytes", "words", "lines", "reddit_documents"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for split, slot in other.by_split.items():
            mine = self.by_split.setdefault(split, {"documents": 0, "characters": 0, "bytes": 0})
            for key, value in slot.items():
                mine[key] += value
        for name, histogram in other.lengths.items():
            self.lengths[name].merge(histogram)
        for name in ("language_score", "reddit_score", "reddit_submissions"):
            getattr(self, name).merge(getattr(other, name))
        for name in ("languages", "domains", "tlds", "months", "subreddits"):
            getattr(self, name).update(getattr(other, name))

    def to_json(self, top_k: int) -> dict:
        return {
            "documents": self.documents,
            "characters": self.characters,
            "bytes": self.bytes,
            "words": self.words,
            "lines": self.lines,
            "lengths": {name: h.to_json() for name, h in self.lengths.items()},
            "languages": _languages(self.languages),
            "language_score": self.language_score.to_json() if self.language_score.count else None,
            "domains": ranked(self.domains, top_k),
            "tlds": ranked(self.tlds, top_k),
            "months": _months(self.months),
            "reddit": None if not self.reddit_documents else {
                "documents": self.reddit_documents,
                "score": self.reddit_score.to_json(),
                "submissions": self.reddit_submissions.to_json(),
                "subreddits": ranked(self.subreddits, top_k),
            },
        }


def ranked(counts: Counter, top_k: int) -> dict:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    total = sum(counts.values())
    return {"distinct": len(counts), "total": total, "other": total - sum(n for _, n in top),
            "top": [[k, n] for k, n in top]}


def _languages(counts: Counter) -> dict:
    """{language: documents}; documents without one are "(none)"; {} when none has one."""
    if not any(k for k in counts):
        return {}
    return dict(sorted(("(none)" if not k else k, n) for k, n in counts.items()))


_MONTH = re.compile(r"^\d{4}-\d{2}$")


def _months(counts: Counter) -> dict:
    months: Counter = Counter()
    for key, n in counts.items():
        months[key if _MONTH.match(key or "") else "unknown"] += n
    return dict(sorted(months.items()))


# ---------------------------------------------------------------------------- reading shards

@dataclass
class ShardResult:
    path: str
    split: str
    tally: ContentTally | None = None
    error: str | None = None


def scan_shard(path: str, split: str, names: Columns | None = None) -> ShardResult:
    """One shard → its partial aggregate, or the error that stopped it (never raises).
    `names`: where text and URL are in another tool's Parquet (`corpus.columns`)."""
    try:
        with storage.open_seekable(path) as source:
            parquet = pq.ParquetFile(source)
            check_columns(names or Columns(), parquet.schema_arrow, path)  # not 0 characters, silently
            columns = [c for c in CONTENT_COLUMNS if c in parquet.schema_arrow.names]
            if names is not None and not names.is_default:
                columns = names.read_columns(parquet.schema_arrow, ("text", "url"), CONTENT_COLUMNS)
            tally = ContentTally()
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                if names is not None and not names.is_default:
                    batch = names.rename(batch, keep=[c for c in CONTENT_COLUMNS if c not in ("text", "url")])
                tally.add_batch(batch, split)
        return ShardResult(path, split, tally)
    except Exception as err:  # a corrupt shard is reported by name; the rest still counts
        return ShardResult(path, split, error=f"{type(err).__name__}: {err}"[:500])


def scan_shards(shards: list[tuple[str, str]], workers: int = 0, progress: bool = False,
                label: str = "", names: Columns | None = None) -> tuple[ContentTally, list[dict]]:
    """(path, split) pairs → merged tally and the shards that failed. workers 0 = all cores."""
    from tqdm import tqdm

    workers = min(workers or os.cpu_count() or 1, max(1, len(shards)))
    total = ContentTally()
    failed = []
    bar = tqdm(total=len(shards), unit="shard", desc=f"scanning {label}".strip(),
               disable=not (progress and sys.stderr.isatty()), file=sys.stderr)

    def absorb(result: ShardResult) -> None:
        if result.error is not None:
            failed.append({"path": result.path, "error": result.error})
        else:
            total.merge(result.tally)
        bar.update(1)

    with bar:
        if workers == 1:
            for shard in shards:
                absorb(scan_shard(*shard, names))
        else:
            settings = storage.filesystem_args()
            with ProcessPoolExecutor(max_workers=workers,
                                     initializer=storage.set_filesystem_options if settings else None,
                                     initargs=(settings,) if settings else ()) as pool:
                futures = [pool.submit(scan_shard, *shard, names) for shard in shards]
                for future in as_completed(futures):
                    absorb(future.result())
    return total, sorted(failed, key=lambda f: f["path"])

def list_corpus_shards(corpus: str, splits: Iterable[str] | None,
                       allow_partial: bool) -> tuple[list[tuple[str, str]], list[str]]:
    """(path, split) of every shard to scan, and the shards whose names say they should exist
    but do not (`part-00002-of-00004` absent while its siblings are there).

    Same rules as `layout.list_shards` (a build output needs `_SUCCESS`; a split
    directory or any directory of Parquet files also works), but each split directory is
    listed by itself: on object stores a match of `out/*` returns objects, never "folders".
    """
    corpus = corpus.rstrip("/") or "/"
    try:
        by_split = {split: [n for n in storage.list_dir(storage.join(corpus, split)) if layout.SHARD_NAME.match(n)]
                    for split in [*layout.split_dirs(corpus), *layout.SPLITS]}  # with --per-language, de/train …
        # On an object store a "directory" is only a key prefix: it exists when something is under it.
        found = any(by_split.values()) or storage.exists(corpus) or bool(storage.list_dir(corpus))
    except Exception as err:  # no file system for the scheme, no credentials, ...
        raise UserError(f"{corpus}: cannot list: {type(err).__name__}: {err}"[:400]) from None
    if not found:
        raise UserError(f"{corpus}: no such corpus directory")
    if any(by_split.values()):   # a cleancrawl build output
        if not allow_partial and not storage.exists(storage.join(corpus, layout.SUCCESS_MARKER)):
            raise UserError(f"{corpus}: no {layout.SUCCESS_MARKER} marker: the build that wrote it did not "
                            "finish (rerun it with --overwrite, or pass --allow-partial)")
        extra, _ = layout.shards_not_of_run(corpus, by_split)  # missing ones are reported below
        if extra:
            raise UserError(f"{corpus}: {layout.mixed_shards_message(extra, [])}")
        directories = [(storage.join(corpus, split), split, names) for split, names in by_split.items()
                       if names and (splits is None or split in splits or split.rpartition("/")[2] in splits)]
    else:                        # a split directory, or any directory of Parquet files
        name = display_name(corpus)
        directories = [(corpus, name if name in layout.SPLITS else "all",
                        [n for n in storage.list_dir(corpus) if n.endswith(".parquet")])]
    shards, missing = [], []
    for directory, split, names in directories:
        shards += [(storage.join(directory, n), split) for n in names]
        missing += [storage.join(directory, n) for n in _missing_names(names)]
    return shards, missing


def _missing_names(names: list[str]) -> list[str]:
    present: dict[int, set[int]] = {}
    for name in names:
        match = layout.SHARD_NAME.match(name)
        if match:
            present.setdefault(int(match.group(2)), set()).add(int(match.group(1)))
    return [layout.shard_name(i, count) for count, found in sorted(present.items())
            for i in range(count) if i not in found]


# ---------------------------------------------------------------------------- columns

def check_columns(columns: Columns, schema: pa.Schema, source: str) -> None:
    """UserError, one line naming the option to set and the columns there are, unless `schema`
    has the text column and the URL column (`--url-column -`: none) that `columns` name."""
    required = ["text"] + [k for k, v in columns.mapping().items()
                           if k != v and k != "text" and not (k == "url" and v == NO_URL)]
    columns.check(schema, source, required=required)
    if columns.url == NO_URL or "url" in required or field_type(schema, columns.url) is not None:
        return
    names = list(schema.names)
    listed = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    raise UserError(f"{source}: no url column {columns.url!r} (set --url-column, or --url-column {NO_URL} "
                    f"to count no domains; its columns: {listed})")


def display_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


# ---------------------------------------------------------------------------- one corpus

def summarize_contents(path: str, *, top_k: int, splits: Iterable[str] | None = None, allow_partial: bool = False,
                       workers: int = 0, progress: bool = False, label: str = "",
                       columns: Columns | None = None) -> dict:
    """CONTENTS of one corpus directory (a build output, a split directory, or Parquet files).
    Missing and unreadable shards are named in its "shards" entry; the rest is still summarised."""
    columns = columns or Columns()
    shards, missing = list_corpus_shards(path, splits, allow_partial)
    if not shards and not missing:
        raise UserError(f"{path}: no Parquet shards to read")
    if shards:  # no text/URL column where looked (another tool's names): one line, not N problems
        try:
            with storage.open_seekable(shards[0][0]) as source:
                schema = pq.ParquetFile(source).schema_arrow
        except Exception:  # unreadable: named among the problems by the scan
            schema = None
        if schema is not None:
            check_columns(columns, schema, shards[0][0])
    tally, failed = scan_shards(shards, workers, progress, label=label, names=columns)
    listed_splits = Counter(split for _, split in shards)
    return {
        "shards": {"listed": len(shards), "scanned": len(shards) - len(failed), "failed": failed, "missing": missing},
        "splits": {s: {"shards": listed_splits[s],
                       **tally.by_split.get(s, {"documents": 0, "characters": 0, "bytes": 0})}
                   for s in sorted(listed_splits)},
        **tally.to_json(top_k),
    }
