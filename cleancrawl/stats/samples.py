"""Example documents for the stats report: what was kept, and what each drop reason removed.

    dropped_summary(corpus)   OUT/dropped/ (written by `build --keep-dropped`) → per (stage,
                              reason): rows and the first few examples; per top domain: rows
                              by reason. None when the build kept no dropped documents.
    kept_examples(corpus)     the first few documents of the first train shard

"First" is a stable order, the same on every run of `stats` over the same build: examples are
the rows with the smallest (normalized_url, url, record_id) — the order shards are sorted
in — whatever the shard count. Only the key columns are scanned; the text is read for the
chosen rows alone, so a large dropped/ folder costs one pass over small columns.
"""
from __future__ import annotations

import heapq
from collections import Counter, defaultdict

import pyarrow.parquet as pq

from cleancrawl import storage
from cleancrawl.pipelines.stages import STAGE_NAMES as STAGE_ORDER  # the build's stage registry, Beam-free
from cleancrawl.stats.contents import URL_HOST

DROPPED_DIR = "dropped"
EXAMPLES = 3             # examples per reason
EXCERPT_CHARS = 400      # characters of text kept per example
TOP_DOMAINS = 10
_KEY_COLUMNS = ["stage", "reason", "detail", "url", "normalized_url", "record_id"]


def _excerpt(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip() + " …"


def _host(url: str) -> str:
    match = URL_HOST.match(url or "")
    return match.group("host") if match else ""


def _parquet_files(directory: str) -> list[str]:
    return [storage.join(directory, n) for n in storage.list_dir(directory)
            if n.endswith(".parquet") and not n.startswith(".")]


def _read_texts(path: str, rows: list[int]) -> dict[int, str]:
    """Text of the given row numbers of one Parquet file, reading only their row groups."""
    out = {}
    with storage.open_seekable(path) as source:
        parquet = pq.ParquetFile(source)
        start = 0
        wanted = sorted(rows)
        for group in range(parquet.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            inside = [r for r in wanted if start <= r < start + size]
            if inside:
                texts = parquet.read_row_group(group, columns=["text"]).column("text")
                for r in inside:
                    out[r] = texts[r - start].as_py()
            start += size
    return out


def dropped_summary(corpus: str, examples: int = EXAMPLES, top_domains: int = TOP_DOMAINS) -> dict | None:
    """DROPPED (stats/SCHEMA.md) from `corpus/dropped/*.parquet`, or None when there is none."""
    from cleancrawl.corpus.urls import split_host
    directory = storage.join(corpus, DROPPED_DIR)
    if not storage.exists(directory):
        return None
    paths = _parquet_files(directory)
    if not paths:
        return None
    counts: Counter = Counter()
    smallest: dict[tuple, list] = defaultdict(list)   # (stage, reason) -> heap of (-key, ...) of size `examples`
    by_domain: dict[str, Counter] = defaultdict(Counter)
    failed, rows = [], 0
    for file_index, path in enumerate(paths):
        try:
            with storage.open_seekable(path) as source:
                parquet = pq.ParquetFile(source)
                row = 0
                for batch in parquet.iter_batches(batch_size=65536, columns=_KEY_COLUMNS):
                    columns = [batch.column(name).to_pylist() for name in _KEY_COLUMNS]
                    for stage, reason, detail, url, normalized, record_id in zip(*columns):
                        slot = (stage, reason)
                        counts[slot] += 1
                        by_domain[split_host(_host(url))[0]][f"{stage}/{reason}"] += 1
                        key = (normalized or "", url or "", record_id or "", file_index, row)
                        entry = (tuple(_Reverse(k) for k in key), key, detail or "")
                        heap = smallest[slot]
                        if len(heap) < examples:
                            heapq.heappush(heap, entry)
                        elif entry > heap[0]:
                            heapq.heapreplace(heap, entry)
                        row += 1
                rows += row
        except Exception as err:  # reported by name; the other files still count
            failed.append({"path": path, "error": f"{type(err).__name__}: {err}"[:500]})

    chosen = {slot: sorted((key, detail) for _, key, detail in heap) for slot, heap in smallest.items()}
    wanted: dict[int, list[int]] = defaultdict(list)
    for picks in chosen.values():
        for key, _ in picks:
            wanted[key[3]].append(key[4])
    texts = {}
    for file_index, row_numbers in wanted.items():
        try:
            for r, text in _read_texts(paths[file_index], row_numbers).items():
                texts[(file_index, r)] = text
        except Exception:  # already named above when the file is unreadable
            pass

    def stage_rank(slot):
        stage, reason = slot
        return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), -counts[slot], reason)

    reasons = [{"stage": stage, "reason": reason, "documents": counts[(stage, reason)],
                "examples": [{"url": key[1], "detail": detail, "text": _excerpt(texts.get((key[3], key[4])))}
                             for key, detail in chosen.get((stage, reason), [])]}
               for stage, reason in sorted(counts, key=stage_rank)]
    domains = sorted(by_domain.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:top_domains]
    return {
        "files": len(paths), "rows": rows, "failed": failed,
        "reasons": reasons,
        "domains": [{"domain": d, "documents": sum(c.values()),
                     "reasons": dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))}
                    for d, c in domains],
    }


class _Reverse:
    """Inverts the order of a value, so a min-heap keeps the n smallest keys."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __lt__(self, other):
        return self.value > other.value

    def __gt__(self, other):
        return self.value < other.value

    def __eq__(self, other):
        return self.value == other.value


def kept_examples(corpus: str, examples: int = EXAMPLES) -> list[dict]:
    """The first `examples` documents of the train split (its first shard, sorted as written)."""
    directory = storage.join(corpus, "train")
    if not storage.exists(directory):
        return []
    for path in _parquet_files(directory):
        try:
            with storage.open_seekable(path) as source:
                parquet = pq.ParquetFile(source)
                names = parquet.schema_arrow.names
                if "text" not in names:
                    return []
                columns = [c for c in ("url", "text") if c in names]
                for batch in parquet.iter_batches(batch_size=examples, columns=columns):
                    rows = batch.to_pylist()
                    if rows:
                        return [{"url": r.get("url") or "", "text": _excerpt(r["text"])} for r in rows[:examples]]
        except Exception:
            return []
    return []
