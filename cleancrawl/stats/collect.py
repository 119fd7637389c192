"""Corpus statistics: the build's funnel, and the contents computed from the shards themselves.

`corpus_stats(paths, config)` returns one JSON-able document for one or more corpora; the
terminal tables, the JSON file and the HTML report (`cleancrawl.stats.report`) are all drawn from it.
Scanning reads only the columns it needs (pyarrow), one task per shard over a process pool;
every task returns a partial aggregate (`ContentTally`) that merges exactly into the total.

Memory is bounded by the number of *distinct* values kept exactly: registered domains, TLDs,
months, languages, subreddits and duplicate clusters (C4-sized corpora have ~15 M domains:
about 2 GB of Python dict in the parent). Lengths and scores go into fixed-bin histograms, so
their quantiles are approximate (interpolated inside a bin; bins are 1 wide below 10 and
about 20 % wide above). Everything else — counts, sums, min, max, top lists — is exact.

Every shard needs its text column and its URL column (`--text-column`, `--url-column`; `--url-column -`
for Parquet without URLs, then no domains are counted): a first shard without them is one line
(UserError) naming the option, never "N documents, 0 characters"; a later one is a named problem.

Definitions
    characters  Unicode code points of `text`
    bytes       UTF-8 bytes of `text` (what stats.json counts as kept bytes)
    words       whitespace-separated tokens, exactly Python's `len(text.split())`
    lines       newline-separated lines, `text.count("\\n") + 1` (0 for empty text)
    domain      registered domain of the URL's host (public suffix + one label,
                tldextract's bundled list, never downloaded); the host itself for IPs
    tld         last label of the host's public suffix (`uk` for bbc.co.uk)
    month       the first 7 characters of `timestamp` (WARC-Date), else `unknown`

JSON schema (`schema_version` 1). Counts are integers; `{key: n}` maps are sorted by key
unless said otherwise; a section is `null` when its input is absent.

    {
      "schema_version": 1,
      "generated_by": "cleancrawl stats",
      "config": {"splits": ["train", "validation"] | null, "top_k": 50},
      "corpora": [ CORPUS, ... ]                   # one per corpus, in the order given
    }

    CORPUS = {
      "name": "out",                               # display name (directory name by default)
      "path": "/abs/out",
      "build": {"config": {...}, "cleancrawl_version": str | null,   # from stats.json; null
                "finished_at": "2026-05-18T12:00:00+00:00" | null} | null,  # without it
      "funnel": FUNNEL | null,                     # null without stats.json (and no metrics)
      "beam_metrics_check": {"agree": bool, "differences": [str]} | null,
      "contents": CONTENTS,
      "kept_examples": [{"url", "text"}],          # first train documents (text: an excerpt)
      "dropped": DROPPED | null,                   # null without OUT/dropped/ (build --keep-dropped)
      "duplicates": DUPLICATES | null,             # null without OUT/duplicates/*.parquet
      "tokens": TOKENS | null,                     # null without a token manifest
      "problems": [str]                            # failed/missing shards and files, by name
    }

    FUNNEL = {
      "source": "stats.json" | "beam_metrics",
      "documents": {"read": n, "kept": n, "dropped": n},
      "bytes": {"kept": n, "dropped": n},          # UTF-8 text bytes; 0 where not recorded
      "balanced": bool | null,                     # null: not checkable (metrics hold no "kept")
      "stages": [{"stage": "clean", "skipped": bool, "in": n, "dropped": n, "out": n,
                  "dropped_bytes": n, "balanced": bool,      # in == out + dropped == sum(reasons)
                  "reasons": [{"reason": "too_few_sentences", "documents": n, "bytes": n}]}],
      "lines": [{"stage": "clean", "seen": n | null, "kept": n | null,     # "dedup c4-lines" for
                 "removed": [{"rule": "no_end_mark", "lines": n}]}],   # method:rule; by lines, desc
      "events": {stage: {name: n}},                # other counts of the build, as in stats.json
      "files": n, "file_errors": [{"file", "reason", "detail"}], "unbalanced_files": [str]
    }

    HISTOGRAM = {"edges": [x0, x1, ...], "counts": [c0, c1, ...],   # bin i: edges[i] <= v < edges[i+1],
                 "underflow": n,                                   # the last bin is open; below x0
                 "count": n, "sum": x, "min": x, "max": x, "mean": x,
                 "p50": x, "p90": x, "p99": x}                      # approximate (see above)

    RANKED = {"distinct": n, "total": n, "other": n,               # other: total - sum(top)
              "top": [[key, n], ...]}                              # by count desc, then key; top_k

    CONTENTS = {
      "shards": {"listed": n, "scanned": n, "failed": [{"path", "error"}], "missing": [path]},
      "splits": {"train": {"shards": n, "documents": n, "characters": n, "bytes": n}, ...},
      "documents": n, "characters": n, "bytes": n, "words": n, "lines": n,
      "lengths": {"characters": HISTOGRAM, "words": HISTOGRAM, "lines": HISTOGRAM},
      "languages": {key: n},                       # "(none)": no language ID; {} if none has one
      "language_score": HISTOGRAM | null,          # documents with a language only
      "domains": RANKED, "tlds": RANKED,
      "months": {"2024-05": n, ..., "unknown": n},
      "reddit": {"documents": n, "score": HISTOGRAM, "submissions": HISTOGRAM,
                 "subreddits": RANKED} | null          # null when no document has reddit_score
    }

    DUPLICATES = {"files": n, "rows": n, "failed": [{"path", "error"}],
                  "key_column": str | null, "size_column": str | null,
                  "clusters": n, "documents_in_clusters": n,
                  "sizes": {"2": n, "3": n, ...},             # cluster size -> clusters, by size
                  "largest": [[key, size], ...]}             # top 10

    DROPPED = {"files": n, "rows": n, "failed": [{"path", "error"}],     # corpus.samples
               "reasons": [{"stage", "reason", "documents": n,          # rows written per reason
                            "examples": [{"url", "detail", "text"}]}], # the first 3 by normalized_url
               "domains": [{"domain", "documents": n, "reasons": {"stage/reason": n}}]}  # top 10 by rows

    TOKENS = {"path": str, "tokenizer": {...},               # as in the manifest
              "splits": {"train": {"shards": n, "documents": n, "tokens": n,
                                   "tokens_per_document": x, "characters_per_token": x | null,
                                   "lengths": HISTOGRAM}},     # tokens per document, from the index
              "documents": n, "tokens": n, "tokens_per_document": x,
              "lengths": HISTOGRAM,                             # all splits
              "missing_shards": [path], "failed": [{"path", "error"}]}

The dedup side output (`OUT/duplicates/*.parquet`, `corpus.dedup.audit`: one row per
*removed* document with `kept_id`, `kept_url`, `cluster_size`) is read defensively, so other
tools' audit files work too. Clusters are keyed by the first column present among
KEY_COLUMNS; a cluster's size is its `cluster_size` column when there is one, else its
rows + 1 (the kept document, which is not a row). Without a key column only `rows` is given.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cleancrawl.stats import samples
from cleancrawl import layout, storage
from cleancrawl.options import option
from cleancrawl.pipelines.stages import STAGE_NAMES as STAGE_ORDER  # the build's stage registry, Beam-free
from cleancrawl.corpus.columns import Columns, field_type
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.urls import split_host
from cleancrawl.corpus.safe_text import safe

SCHEMA_VERSION = 1
DEFAULT_TOP_K = 50
BATCH_ROWS = 512          # rows a record batch: bounds memory (text up to ~190 kB a row)

CONTENT_COLUMNS = ("text", "url", "timestamp", "language", "language_score",
                   "reddit_score", "reddit_submissions", "subreddits")
# Duplicates side output: what a row points at, in order of preference.
KEY_COLUMNS = ("cluster_id", "kept_id", "cluster", "duplicate_of", "kept_url",
               "canonical_url", "original_url", "canonical")
SIZE_COLUMN = "cluster_size"
TOKENS_DIR = "tokens"
TOKEN_MANIFEST = "manifest.json"
TOKEN_MANIFEST_FORMAT = "cleancrawl-tokens"


def _length_edges() -> list[float]:
    """0..9 one by one, then ten bins a decade (1-1.2-1.5-2-2.5-3-4-5-6-8) up to 10^9."""
    edges = [float(i) for i in range(10)]
    for decade in range(1, 9):
        edges += [m * 10.0**decade for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)]
    return edges + [1e9]


LENGTH_EDGES = _length_edges()
LANGUAGE_SCORE_EDGES = [i / 10 for i in range(10)] + [0.95, 0.99, 0.995, 0.999, 0.9999]


# ---------------------------------------------------------------------------- histograms

@dataclass
class Histogram:
    """Fixed-bin histogram that merges exactly: bin i is edges[i] <= v < edges[i+1]."""

    edges: list[float]
    counts: np.ndarray = None
    underflow: int = 0
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def __post_init__(self):
        if self.counts is None:
            self.counts = np.zeros(len(self.edges), dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not values.size:
            return
        index = np.searchsorted(self.edges, values, side="right") - 1
        below = index < 0
        self.underflow += int(below.sum())
        self.counts += np.bincount(index[~below], minlength=len(self.edges))
        self.count += int(values.size)
        self.total += float(values.sum())
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))

    def merge(self, other: "Histogram") -> None:
        self.counts += other.counts
        self.underflow += other.underflow
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def quantile(self, q: float) -> float | None:
        """Approximate: linear inside the bin that holds the q-th value, clamped to min/max."""
        if not self.count:
            return None
        rank = q * self.count
        if rank <= self.underflow:
            return self.low
        cumulative = self.underflow
        for i, n in enumerate(self.counts):
            if n and cumulative + n >= rank:
                lo = self.edges[i]
                hi = self.edges[i + 1] if i + 1 < len(self.edges) else self.high
                value = lo + (hi - lo) * (rank - cumulative) / n
                return min(max(value, self.low), self.high)
            cumulative += n
        return self.high

    def to_json(self) -> dict:
        empty = not self.count
        return {
            "edges": [_number(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "underflow": self.underflow,
            "count": self.count,
            "sum": _number(self.total),
            "min": None if empty else _number(self.low),
            "max": None if empty else _number(self.high),
            "mean": None if empty else round(self.total / self.count, 6),
            **{f"p{int(q * 100)}": None if empty else round(float(self.quantile(q)), 6) for q in (0.5, 0.9, 0.99)},
        }


def _number(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 6)


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
            | ((b0 == 0xE2) & (b1 == 0x80) & (((b2 >= 0x80) & (b2 <= 0x8A)) | (b2 == 0xA8) | (b2 == 0xA9) | (b2 == 0xAF)))
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
    data = np.frombuffer(data_buffer, dtype=np.uint8)[start: start + offsets[-1]] if data_buffer is not None else np.zeros(0, np.uint8)
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

_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://(?:[^@/?#]*@)?(?P<host>\[[^\]]*\]|[^:/?#]*)")
def _host_counts(urls: pa.Array) -> Counter:
    hosts = pc.extract_regex(urls, _HOST.pattern).field("host")
    hosts = pc.fill_null(hosts, "")
    counted = pc.value_counts(hosts)
    return Counter(dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist())))


def _value_counts(array: pa.Array) -> Counter:
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
    lengths: dict = field(default_factory=lambda: {k: Histogram(LENGTH_EDGES) for k in ("characters", "words", "lines")})
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
            self.languages.update(_value_counts(languages))
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
            self.months.update(_value_counts(months))
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
            self.subreddits.update(_value_counts(names))

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


def _scan_shard_args(args: tuple[str, str]) -> ShardResult:
    return scan_shard(*args)


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
            with ProcessPoolExecutor(max_workers=workers, initializer=storage.set_filesystem_options if settings else None,
                                     initargs=(settings,) if settings else ()) as pool:
                futures = [pool.submit(scan_shard, *shard, names) for shard in shards]
                for future in as_completed(futures):
                    absorb(future.result())
    return total, sorted(failed, key=lambda f: f["path"])


def list_corpus_shards(corpus: str, splits: Iterable[str] | None, allow_partial: bool) -> tuple[list[tuple[str, str]], list[str]]:
    """(path, split) of every shard to scan, and the shards whose names say they should exist
    but do not (`part-00002-of-00004` absent while its siblings are there).

    Same rules as `layout.list_shards` (a build output needs `_SUCCESS`; a split
    directory or any directory of Parquet files also works), but each split directory is
    listed by itself: on object stores a match of `out/*` returns objects, never "folders".
    """
    corpus = corpus.rstrip("/") or "/"
    try:
        by_split = {split: [n for n in storage.list_dir(storage.join(corpus, split)) if layout.SHARD_NAME.match(n)]
                    for split in layout.SPLITS}
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
                       if names and (splits is None or split in splits)]
    else:                        # a split directory, or any directory of Parquet files
        name = _display_name(corpus)
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


# ---------------------------------------------------------------------------- funnel

def funnel_from_stats(stats: dict) -> dict:
    """The build's stats.json → FUNNEL, re-checking every stage's balance from the reasons."""
    skipped = {s.replace("-", "_") for s in (stats.get("config") or {}).get("skip", [])}
    dropped = stats.get("dropped", {})
    stages = []
    for step in stats.get("funnel", []):
        stage = step["stage"]
        reasons = [{"reason": reason, "documents": slot.get("documents", 0), "bytes": slot.get("bytes", 0)}
                   for reason, slot in sorted(dropped.get(stage, {}).items())]
        entry = _stage(stage, step["in"], step["dropped"], step["out"], reasons, stage in skipped)
        # UTF-8 text bytes entering and leaving the stage (stats.json ≥ this version; else None).
        entry["bytes_in"], entry["bytes_out"] = step.get("bytes_in"), step.get("bytes_out")
        stages.append(entry)
    totals = stats.get("totals", {})
    kept_bytes = sum(s.get("bytes", 0) for s in stats.get("splits", {}).values())
    funnel = _funnel("stats.json", totals.get("read", 0), totals.get("kept", 0), stages, kept_bytes,
                     stats.get("lines", {}), stats.get("file_errors", []), stats.get("unbalanced_files", []),
                     totals.get("files", 0), stats_balanced=totals.get("balanced", True))
    funnel["events"] = stats.get("events", {})
    return funnel


def _stage(stage: str, n_in: int, n_dropped: int, n_out: int, reasons: list, skipped: bool) -> dict:
    reasons = sorted(reasons, key=lambda r: (-r["documents"], r["reason"]))
    by_reason = sum(r["documents"] for r in reasons)
    return {
        "stage": stage, "skipped": skipped, "in": n_in, "dropped": n_dropped, "out": n_out,
        "dropped_bytes": sum(r["bytes"] for r in reasons),
        "balanced": n_in == n_out + n_dropped and n_dropped == by_reason,
        "reasons": reasons,
    }


def _funnel(source, read, kept, stages, kept_bytes, lines, file_errors, unbalanced, files, stats_balanced=True) -> dict:
    dropped = sum(s["dropped"] for s in stages)
    chained = all(a["out"] == b["in"] for a, b in zip(stages, stages[1:]))
    ends = bool(stages) and stages[0]["in"] == read and (kept is None or stages[-1]["out"] == kept)
    balanced = None if kept is None else bool(
        stats_balanced and read == kept + dropped and chained and ends and all(s["balanced"] for s in stages))
    return {
        "source": source,
        "documents": {"read": read, "kept": kept, "dropped": dropped},
        "bytes": {"kept": kept_bytes, "dropped": sum(s["dropped_bytes"] for s in stages)},
        "balanced": balanced,
        "stages": stages,
        "lines": _line_rules(lines),
        "events": {},
        "files": files,
        "file_errors": list(file_errors),
        "unbalanced_files": list(unbalanced),
    }


def _line_rules(lines: Mapping[str, Mapping[str, int]]) -> list[dict]:
    """Per stage (and per method, for rules named `method:rule` such as the dedup stage's
    `c4-lines:duplicate`): lines removed by each rule, and lines seen when a `kept` count
    exists (else `seen` and `kept` are null: e.g. C4 spans count sentences)."""
    groups: dict[str, dict[str, int]] = {}
    for stage, rules in lines.items():
        for rule, n in rules.items():
            method, _, name = rule.rpartition(":")
            groups.setdefault(f"{stage} {method}" if method else stage, {})[name] = n
    out = []
    for stage, rules in sorted(groups.items()):
        removed = sorted(((r, n) for r, n in rules.items() if r != "kept"), key=lambda rn: (-rn[1], rn[0]))
        kept = rules.get("kept")
        out.append({"stage": stage, "seen": None if kept is None else kept + sum(n for _, n in removed), "kept": kept,
                    "removed": [{"rule": r, "lines": n} for r, n in removed]})
    return out


def load_beam_metrics(path: str) -> dict[str, int]:
    """Beam counters as {name: value} from a JSON file.

    Accepted: `{"read/records": 323, "clean/too_few_sentences": 6, ...}` (names with or
    without the `cleancrawl:` namespace), the same under a "counters" key, or the list that
    `gcloud dataflow metrics list JOB --format=json` prints (tentative values are skipped).
    From Python: `{r.key.metric.name: r.committed for r in result.metrics().query()["counters"]
    if r.key.metric.namespace == "cleancrawl"}`.
    """
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"--beam-metrics {path}: {err}") from None
    if isinstance(raw, dict) and isinstance(raw.get("counters"), dict):
        raw = raw["counters"]
    counters: dict[str, int] = {}
    if isinstance(raw, dict):
        items = raw.items()
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            name = entry.get("name", {})
            context = name.get("context", {}) if isinstance(name, dict) else {}
            if str(context.get("tentative", "")).lower() == "true":
                continue
            items.append((name.get("name") if isinstance(name, dict) else name, entry.get("scalar", 0)))
    else:
        raise UserError(f"--beam-metrics {path}: expected a JSON object or list of counters")
    for name, value in items:
        if isinstance(name, str) and isinstance(value, (int, float)):
            name = name.split(":", 1)[1] if name.startswith("cleancrawl:") else name
            counters[name] = counters.get(name, 0) + int(value)
    return counters


def funnel_from_beam_counters(counters: Mapping[str, int]) -> dict:
    """FUNNEL from the build's Beam counters: `read/records`, `<stage>/<reason>` and
    `<stage>/lines/<rule>`. Metrics hold no kept count, so the balance is not checkable."""
    read = counters.get("read/records", 0)
    dropped: dict[str, list] = {}
    lines: dict[str, dict[str, int]] = {}
    events: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        parts = name.split("/", 2)
        if len(parts) == 3 and parts[1] == "lines":
            lines.setdefault(parts[0], {})[parts[2]] = value
        elif len(parts) == 3 and parts[1] == "event":
            events.setdefault(parts[0], {})[parts[2]] = value
        elif len(parts) == 2 and name not in ("read/files", "read/records", "read/documents"):
            dropped.setdefault(parts[0], []).append({"reason": parts[1], "documents": value, "bytes": 0})
    stages, remaining = [], read
    for stage in list(STAGE_ORDER) + sorted(set(dropped) - set(STAGE_ORDER)):
        n = sum(r["documents"] for r in dropped.get(stage, []))
        stages.append(_stage(stage, remaining, n, remaining - n, dropped.get(stage, []), False))
        remaining -= n
    funnel = _funnel("beam_metrics", read, None, stages, 0, lines, [], [], counters.get("read/files", 0))
    funnel["events"] = {stage: dict(sorted(names.items())) for stage, names in sorted(events.items())}
    return funnel


def compare_funnels(from_stats: dict, from_metrics: dict) -> dict:
    """Do stats.json and the Beam counters tell the same story? (Retried bundles can make
    attempted counters larger than committed ones; give committed values.)"""
    differences = []
    if from_stats["documents"]["read"] != from_metrics["documents"]["read"]:
        differences.append(f"read: stats.json {from_stats['documents']['read']}, metrics {from_metrics['documents']['read']}")
    def reasons(funnel):
        return {(s["stage"], r["reason"]): r["documents"] for s in funnel["stages"] for r in s["reasons"]}
    a, b = reasons(from_stats), reasons(from_metrics)
    for key in sorted(set(a) | set(b)):
        if a.get(key, 0) != b.get(key, 0):
            differences.append(f"{key[0]}/{key[1]}: stats.json {a.get(key, 0)}, metrics {b.get(key, 0)}")
    return {"agree": not differences, "differences": differences}


# ---------------------------------------------------------------------------- duplicates

def duplicate_summary(corpus: str) -> dict | None:
    """DUPLICATES from `corpus/duplicates/*.parquet`, or None when there is no side output."""
    directory = storage.join(corpus, layout.DUPLICATES_DIR)
    if not storage.exists(directory):
        return None
    paths = [storage.join(directory, name) for name in storage.list_dir(directory) if name.endswith(".parquet")]
    if not paths:
        return None
    tally = _DuplicateTally()
    failed = []
    for path in paths:
        try:
            with storage.open_seekable(path) as source:
                tally.add_file(pq.ParquetFile(source))
        except Exception as err:  # reported by name; the other files still count
            failed.append({"path": path, "error": f"{type(err).__name__}: {err}"[:500]})
    return tally.to_json(len(paths), failed)


@dataclass
class _DuplicateTally:
    rows: int = 0
    key_column: str | None = None
    size_column: str | None = None
    members: Counter = field(default_factory=Counter)   # cluster key -> rows (removed documents)
    sizes_given: dict = field(default_factory=dict)     # cluster key -> its cluster_size column

    def add_file(self, parquet: pq.ParquetFile) -> None:
        names = parquet.schema_arrow.names
        key = next((c for c in KEY_COLUMNS if c in names), None)
        size = SIZE_COLUMN if SIZE_COLUMN in names else None
        self.key_column = self.key_column or key
        self.size_column = self.size_column or size
        if not key:
            self.rows += parquet.metadata.num_rows
            return
        for batch in parquet.iter_batches(batch_size=65536, columns=[c for c in (key, size) if c]):
            self.rows += batch.num_rows
            keys = pc.cast(batch.column(0), pa.string())
            self.members.update(_value_counts(keys))
            if size:
                for k, n in zip(keys.to_pylist(), batch.column(1).to_pylist()):
                    if n is not None:
                        self.sizes_given[k] = max(self.sizes_given.get(k, 0), int(n))

    def to_json(self, files: int, failed: list) -> dict:
        self.members.pop(None, None)
        cluster_sizes = {k: self.sizes_given.get(k, n + 1) for k, n in self.members.items()}
        histogram = Counter(cluster_sizes.values())
        largest = sorted(cluster_sizes.items(), key=lambda kv: (-kv[1], str(kv[0])))[:10]
        return {
            "files": files, "rows": self.rows, "failed": failed,
            "key_column": self.key_column, "size_column": self.size_column,
            "clusters": len(cluster_sizes), "documents_in_clusters": sum(cluster_sizes.values()),
            "sizes": {str(n): histogram[n] for n in sorted(histogram)},
            "largest": [[k, n] for k, n in largest],
        }


# ---------------------------------------------------------------------------- tokens

def token_summary(tokens_dir: str, split_characters: Mapping[str, dict] | None = None) -> dict:
    """TOKENS from a token directory's manifest.json (written last by the tokenizer, so its
    presence means the token shards are complete). Counts include each document's EOS; the
    length histograms come from each shard's document index (8 bytes a document, tokens unread)."""
    path = storage.join(tokens_dir, TOKEN_MANIFEST)
    if not storage.exists(path):
        raise UserError(f"{tokens_dir}: no {TOKEN_MANIFEST} (not a token directory, or tokenizing did not finish)")
    manifest = _read_json(path)
    if manifest.get("format") != TOKEN_MANIFEST_FORMAT:
        raise UserError(f"{path}: not a cleancrawl token manifest (format {manifest.get('format')!r})")
    from cleancrawl.tokenizer.token_shards import check_manifest, read_document_lengths  # numpy only; the format's one reader
    check_manifest(manifest, path, need_tokenizer=False)  # one line for a malformed manifest or a shard listed twice

    splits, missing, failed = {}, [], []
    all_lengths = Histogram(LENGTH_EDGES)
    for split, entries in sorted((manifest.get("splits") or {}).items()):
        documents = sum(int(e.get("num_docs", 0)) for e in entries)
        tokens = sum(int(e.get("num_tokens", 0)) for e in entries)
        content = (split_characters or {}).get(split)
        same_documents = content is not None and content.get("documents") == documents and tokens
        lengths = Histogram(LENGTH_EDGES)
        for entry in entries:
            if "path" not in entry:
                continue
            path = storage.join(tokens_dir, entry["path"])
            if not storage.exists(path):
                missing.append(path)
                continue
            try:
                with storage.open_seekable(path) as source:
                    lengths.add(read_document_lengths(source, path))
            except Exception as err:  # a corrupt shard is named; the manifest's totals still stand
                failed.append({"path": path, "error": f"{type(err).__name__}: {err}"[:500]})
        all_lengths.merge(lengths)
        splits[split] = {
            "shards": len(entries), "documents": documents, "tokens": tokens,
            "tokens_per_document": round(tokens / documents, 3) if documents else None,
            "characters_per_token": round(content["characters"] / tokens, 3) if same_documents else None,
            "lengths": lengths.to_json(),
        }
    documents = sum(s["documents"] for s in splits.values())
    tokens = sum(s["tokens"] for s in splits.values())
    return {
        "path": tokens_dir, "tokenizer": manifest.get("tokenizer", {}), "splits": splits,
        "documents": documents, "tokens": tokens,
        "tokens_per_document": round(tokens / documents, 3) if documents else None,
        "lengths": all_lengths.to_json(),
        "missing_shards": missing, "failed": failed,
    }


def _read_json(path: str) -> dict:
    try:
        if storage.is_remote(path):
            with storage.filesystems().open(path, compression_type="uncompressed") as f:
                return json.loads(f.read().decode("utf-8"))
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable JSON ({err})") from None


# ---------------------------------------------------------------------------- whole corpora

def _split_option(text: str) -> tuple[str, ...] | None:
    """--split all|train|validation → the splits to scan (None: every one)."""
    if text not in ("all", "train", "validation"):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from all, train, validation)")
    return None if text == "all" else (text,)


def _none_for_dash(text: str) -> str | None:
    return None if text == "-" else text


@dataclass
class StatsConfig:
    # field metadata: the command-line options of `cleancrawl stats` (cleancrawl/options.py)
    splits: tuple[str, ...] | None = option(  # None: every split
        None, flag="--split", type=_split_option, metavar="{all,train,validation}",
        help="which split's shards to scan (default: all)")
    workers: int = option(0, help="processes scanning shards in parallel (default 0: one per core)")
    top_k: int = option(DEFAULT_TOP_K, flag="--top", help=(
        "entries kept in each ranked list: domains, TLDs, subreddits (default: %(default)s)"))
    allow_partial: bool = option(False, help="also read a build without _SUCCESS (crashed or still running)")
    progress: bool = option(True, flag="--no-progress", action="store_false", help="no progress bar")  # tqdm, on a terminal
    tokens: tuple[str | None, ...] = option((), list="repeat", type=_none_for_dash, metavar="DIR", help=(
        "token directory (with manifest.json) of a corpus; repeat once per corpus, "
        "in order, '-' for none (default: CORPUS/tokens when it exists)"))
    beam_metrics: tuple[str | None, ...] = option((), list="repeat", type=_none_for_dash, metavar="FILE", help=(
        "the build's Beam counters as JSON (e.g. from a Dataflow job); repeat once per "
        "corpus, '-' for none. Checked against stats.json, or used for the funnel when it is missing"))
    names: tuple[str, ...] = option((), metavar="NAMES", help="comma-separated display names, one per corpus")
    columns: Columns = option(default_factory=Columns, exclude=("record_id",), help="text/URL columns of other tools' Parquet")


def summarize_corpus(path: str, config: StatsConfig, name: str | None = None,
                     tokens_dir: str | None = None, beam_metrics: str | None = None) -> dict:
    """CORPUS for one corpus directory (a build output, a split directory, or Parquet files)."""
    problems: list[str] = []
    shards, missing = list_corpus_shards(path, config.splits, config.allow_partial)
    if not shards and not missing:
        raise UserError(f"{path}: no Parquet shards to read")
    if shards:  # no text/URL column where looked (another tool's names): one line, not N problems
        try:
            with storage.open_seekable(shards[0][0]) as source:
                schema = pq.ParquetFile(source).schema_arrow
        except Exception:  # unreadable: named among the problems by the scan
            schema = None
        if schema is not None:
            check_columns(config.columns, schema, shards[0][0])
    tally, failed = scan_shards(shards, config.workers, config.progress, label=safe(name or path), names=config.columns)
    problems += [f"missing shard: {m}" for m in missing]
    problems += [f"unreadable shard: {f['path']}: {f['error']}" for f in failed]

    contents = tally.to_json(config.top_k)
    listed_splits = Counter(split for _, split in shards)
    contents = {
        "shards": {"listed": len(shards), "scanned": len(shards) - len(failed), "failed": failed, "missing": missing},
        "splits": {s: {"shards": listed_splits[s], **tally.by_split.get(s, {"documents": 0, "characters": 0, "bytes": 0})}
                   for s in sorted(listed_splits)},
        **contents,
    }

    funnel = metrics_check = build = None
    stats_path = storage.join(path, layout.STATS_FILE)
    if storage.exists(stats_path):
        build_stats = _read_json(stats_path)
        funnel = funnel_from_stats(build_stats)
        build = {"config": build_stats.get("config") or {}, "cleancrawl_version": build_stats.get("cleancrawl_version"),
                 "finished_at": build_stats.get("finished_at")}
    if beam_metrics:
        from_metrics = funnel_from_beam_counters(load_beam_metrics(beam_metrics))
        if funnel is None:
            funnel = from_metrics
        else:
            metrics_check = compare_funnels(funnel, from_metrics)
    if funnel and funnel["balanced"] is False:
        problems.append("funnel does not balance: kept + dropped != read at some stage")

    dropped = samples.dropped_summary(path)
    if dropped:
        problems += [f"unreadable dropped-documents file: {f['path']}: {f['error']}" for f in dropped["failed"]]
    duplicates = duplicate_summary(path)
    if duplicates:
        problems += [f"unreadable duplicates file: {f['path']}: {f['error']}" for f in duplicates["failed"]]
    if tokens_dir is None and storage.exists(storage.join(path, TOKENS_DIR, TOKEN_MANIFEST)):
        tokens_dir = storage.join(path, TOKENS_DIR)
    tokens = token_summary(tokens_dir, contents["splits"]) if tokens_dir else None
    if tokens:
        problems += [f"missing token shard: {m}" for m in tokens["missing_shards"]]
        problems += [f"unreadable token shard: {f['path']}: {f['error']}" for f in tokens["failed"]]

    return {
        "name": name or _display_name(path),
        "path": path if storage.is_remote(path) else os.path.abspath(path),
        "build": build,
        "funnel": funnel,
        "beam_metrics_check": metrics_check,
        "contents": contents,
        "kept_examples": samples.kept_examples(path),
        "dropped": dropped,
        "duplicates": duplicates,
        "tokens": tokens,
        "problems": problems,
    }


NO_URL = "-"  # --url-column -: the Parquet has no URLs (text-only data); domains and TLDs are not counted


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


def _display_name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] or path


def corpus_stats(paths: list[str], config: StatsConfig | None = None) -> dict:
    """The whole stats document (schema above) for one or more corpora."""
    config = config or StatsConfig()
    if not paths:
        raise UserError("give at least one corpus directory")
    if config.names and len(config.names) != len(paths):
        raise UserError(f"--names: {len(config.names)} name(s) for {len(paths)} corpora")
    for flag, values in (("--tokens", config.tokens), ("--beam-metrics", config.beam_metrics)):
        if len(values) > len(paths):
            raise UserError(f"{flag}: {len(values)} given for {len(paths)} corpora (one per corpus, in order)")
    corpora = []
    for i, path in enumerate(paths):
        corpora.append(summarize_corpus(
            path, config,
            name=config.names[i] if config.names else None,
            tokens_dir=config.tokens[i] if i < len(config.tokens) else None,
            beam_metrics=config.beam_metrics[i] if i < len(config.beam_metrics) else None,
        ))
    names = [c["name"] for c in corpora]
    for i, c in enumerate(corpora):   # same directory names (a/out, b/out): number them
        if names.count(c["name"]) > 1:
            c["name"] = f"{c['name']} ({i + 1})"
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_by": "cleancrawl stats",
        "config": {"splits": list(config.splits) if config.splits else None, "top_k": config.top_k},
        "corpora": corpora,
    }
