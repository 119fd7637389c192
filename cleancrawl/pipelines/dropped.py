"""`--keep-dropped [FRACTION]`: the documents the build removed, with the stage and reason.

    OUT/dropped/part-XXXXX-of-NNNNN.parquet     stage, reason, detail + the document's columns

Like datatrove's exclusion writers: a user reads what each filter removed (`duckdb -c "select
reason, url from 'OUT/dropped/*.parquet'"`). Only drops that are documents (a URL and a text:
every stage after the reader) are written; file-level errors and records that never became
documents are in stats.json. The text is the document as the dropping stage saw it (before
cleaning, for the clean stage).

FRACTION < 1 keeps a deterministic sample: a drop is kept when a hash of (seed, record id,
URL, timestamp) falls below FRACTION, so the same records are kept on every run, with any
worker count, and a larger fraction keeps a superset. The shards are written like `train/`
(`WriteShards`: hash of the normalised URL, sorted, atomic renames), sized by --shard-bytes.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from cleancrawl.corpus.record import DOCUMENT_SCHEMA, Document, Drop, documents_to_table, sort_key
from cleancrawl.pipelines.write import PARQUET_OPTIONS, WriteFolderShards

FOLDER = "dropped"
DROPPED_SCHEMA = pa.schema(
    [pa.field("stage", pa.string(), nullable=False), pa.field("reason", pa.string(), nullable=False),
     pa.field("detail", pa.string(), nullable=False), *DOCUMENT_SCHEMA],
    metadata={**DOCUMENT_SCHEMA.metadata, b"cleancrawl.content": b"dropped documents"},
)
_OPTIONS = {**PARQUET_OPTIONS, "use_dictionary": ["stage", "reason", *PARQUET_OPTIONS["use_dictionary"]]}


@dataclass(frozen=True)
class DroppedDocument:
    """A document and why it left the build (what one row of `OUT/dropped/` holds)."""

    document: Document
    stage: str
    reason: str
    detail: str

    @property
    def normalized_url(self) -> str:   # the shard key, as for kept documents
        return self.document.normalized_url

    @property
    def source_file(self) -> str:
        return self.document.source_file

    def text_bytes(self) -> int:
        return self.document.text_bytes()


def order(row: DroppedDocument) -> tuple:
    """Total order inside a shard: the kept documents' order, then the drop."""
    return (*sort_key(row.document), row.stage, row.reason, row.detail, row.document.text)


def encode(rows: list[DroppedDocument]) -> bytes:
    table = documents_to_table([r.document for r in rows])
    columns = {"stage": [r.stage for r in rows], "reason": [r.reason for r in rows], "detail": [r.detail for r in rows]}
    for name in DOCUMENT_SCHEMA.names:
        columns[name] = table.column(name)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(columns, schema=DROPPED_SCHEMA), buffer, **_OPTIONS)
    return buffer.getvalue()


def sampled(document: Document, fraction: float, seed: int = 0) -> bool:
    """Is this document in the `fraction` sample? Deterministic per record, whatever the run."""
    if fraction >= 1:
        return True
    if fraction <= 0:
        return False
    key = "\0".join((str(seed), document.record_id, document.url, document.timestamp))
    value = int.from_bytes(hashlib.sha1(key.encode("utf-8", "surrogatepass")).digest()[:8], "big")
    return value < fraction * 2 ** 64


def split_drop(drop: Drop, fraction: float = 0.0, seed: int = 0):
    """A stage's Drop → (the Drop without its document, for counting; the row to keep or None)."""
    document = drop.document
    if document is None:
        return drop, None
    bare = Drop(drop.stage, drop.reason, drop.source_file, url=drop.url, text_bytes=drop.text_bytes, detail=drop.detail)
    row = DroppedDocument(document, drop.stage, drop.reason, drop.detail) if sampled(document, fraction, seed) else None
    return bare, row


class SplitDrops(beam.PTransform):
    """Drops → (drops without documents, rows for OUT/dropped/). Applied right where a stage's
    drops come out, so the text rides no further than the step that made the drop."""

    def __init__(self, fraction: float, seed: int = 0):
        super().__init__()
        self._fraction, self._seed = fraction, seed

    def expand(self, drops):
        fraction, seed = self._fraction, self._seed
        if fraction <= 0:
            return drops | "StripDocuments" >> beam.Map(lambda d: split_drop(d)[0]), None
        pairs = drops | "SplitDocuments" >> beam.Map(split_drop, fraction, seed)
        bare = pairs | "Counted" >> beam.Map(lambda pair: pair[0])
        rows = pairs | "Kept" >> beam.FlatMap(lambda pair: [pair[1]] if pair[1] is not None else [])
        return bare, rows


class WriteDropped(WriteFolderShards):
    """Rows → OUT/dropped/part-XXXXX-of-NNNNN.parquet; returns the written shards, for `_SUCCESS` to wait on."""

    def __init__(self, output: str, shard_bytes: int):
        super().__init__(output, FOLDER, encode, order, shard_bytes)
