"""The audit trail of near-duplicate removal: one row per dropped document, naming the kept one.

`OUT/duplicates/part-XXXXX-of-NNNNN.parquet`, rows sorted by (dropped_url, dropped_id):

  dropped_url, dropped_id, dropped_source_file     the document removed
  kept_url, kept_id                                the survivor of its cluster
  method                                           "minhash"
  cluster_size                                     documents in the cluster (survivor included)

Ids are `corpus.dedup.document_id` (the WARC record id, else `source_file#offset`).
"""
from __future__ import annotations

import pyarrow as pa

DUPLICATE_SCHEMA = pa.schema(
    [
        pa.field("dropped_url", pa.string(), nullable=False),
        pa.field("dropped_id", pa.string(), nullable=False),
        pa.field("dropped_source_file", pa.string(), nullable=False),
        pa.field("kept_url", pa.string(), nullable=False),
        pa.field("kept_id", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("cluster_size", pa.int64(), nullable=False),
    ],
    metadata={b"cleancrawl.duplicates_version": b"1"},
)


def duplicate_record(dropped_url, dropped_id, dropped_source_file, kept_url, kept_id, cluster_size,
                     method="minhash") -> dict:
    return dict(
        dropped_url=dropped_url, dropped_id=dropped_id, dropped_source_file=dropped_source_file,
        kept_url=kept_url, kept_id=kept_id, method=method, cluster_size=int(cluster_size),
    )


def sort_key(record: dict) -> tuple:
    return record["dropped_url"], record["dropped_id"]


def records_to_table(records: list[dict]) -> pa.Table:
    columns = {f.name: [r[f.name] for r in records] for f in DUPLICATE_SCHEMA}
    return pa.Table.from_pydict(columns, schema=DUPLICATE_SCHEMA)
