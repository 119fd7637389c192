"""Duplicate clusters, from the dedup side output: the DUPLICATES section of the stats document.

The dedup side output (`OUT/duplicates/*.parquet`, `corpus.dedup.audit`: one row per *removed*
document with `kept_id`, `kept_url`, `cluster_size`) is read defensively, so other tools' audit
files work too. Clusters are keyed by the first column present among KEY_COLUMNS; a cluster's
size is its `cluster_size` column when there is one, else its rows + 1 (the kept document, which
is not a row). Without a key column only `rows` is given. DUPLICATES' fields: stats/SCHEMA.md.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cleancrawl import layout, storage
from cleancrawl.stats.contents import value_counts

# Duplicates side output: what a row points at, in order of preference.
KEY_COLUMNS = ("cluster_id", "kept_id", "cluster", "duplicate_of", "kept_url",
               "canonical_url", "original_url", "canonical")
SIZE_COLUMN = "cluster_size"


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
            self.members.update(value_counts(keys))
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

