"""`build --decontaminate PATH`: drop every document sharing one n-gram with the eval documents.

    docs ─ Decontaminate (corpus.ngrams.Decontaminator; its exact eval index loaded in setup)
            ├ kept
            ├ dropped: stage decontaminate, reason contaminated, detail "SOURCE#DOC: the n-gram"
            └ contamination ─ OUT/contamination/part-XXXXX-of-NNNNN.parquet
                 dropped_url, dropped_id, eval_source, eval_document, ngram   (datatrove's audit)

The audit shards are written like OUT/dropped/ (hash of the normalised URL, sorted, atomic, all N
of N present even when empty) and `_SUCCESS` waits for them. The eval paths take the forms of
`cleancrawl overlap --eval` (NAME=PATH or PATH; text, Parquet, a corpus).
"""
from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from cleancrawl.corpus.ngrams import REASON, Decontaminator
from cleancrawl.corpus.record import Document
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, StageFn, text_bytes
from cleancrawl.pipelines.overlap import build_index
from cleancrawl.pipelines.write import PARQUET_OPTIONS, WriteFolderShards

STAGE = "decontaminate"  # its tallies' stage; the build checks it is the registry's
FOLDER = "contamination"
CONTAMINATION = "contamination"
SCHEMA = pa.schema(
    [pa.field("dropped_url", pa.string(), nullable=False), pa.field("dropped_id", pa.string(), nullable=False),
     pa.field("eval_source", pa.string(), nullable=False), pa.field("eval_document", pa.int64(), nullable=False),
     pa.field("ngram", pa.string(), nullable=False)],
    metadata={b"cleancrawl.content": b"decontamination audit"},
)
_OPTIONS = {**PARQUET_OPTIONS, "use_dictionary": ["eval_source"]}


@dataclass(frozen=True)
class ContaminationRow:
    """One dropped document and the eval n-gram it shared (one row of OUT/contamination/)."""

    normalized_url: str      # the shard key
    dropped_url: str
    dropped_id: str
    eval_source: str
    eval_document: int
    ngram: str

    source_file = ""         # (WriteShards tallies by source file; the tally is not used)

    def text_bytes(self) -> int:  # sizes the audit shards (by --shard-bytes)
        return len(self.ngram) + len(self.dropped_url)


def order(row: ContaminationRow) -> tuple:
    return (row.normalized_url, row.dropped_url, row.dropped_id, row.eval_source, row.eval_document, row.ngram)


def encode(rows: list[ContaminationRow]) -> bytes:
    columns = {name: [getattr(r, name) for r in rows] for name in SCHEMA.names}
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pydict(columns, schema=SCHEMA), buffer, **_OPTIONS)
    return buffer.getvalue()


def load_decontaminator(paths: tuple[str, ...], n: int) -> Decontaminator:
    """The stage, its eval index read from `paths` (on the worker, in `setup`)."""
    return Decontaminator(build_index(list(paths), n, option="--decontaminate"))


class _DecontaminateFn(StageFn):
    """StageFn that also emits the audit row of each drop on the `contamination` output."""

    def process(self, doc: Document):
        self.count_flow("in", 1, text_bytes(doc))
        self.count_flow("out", 0, 0)
        try:
            found = self._stage.match(doc)
        except Exception as err:  # one strange page must not fail the whole run: count it
            yield self.dropped(doc.drop("stage_error", detail=f"{type(err).__name__}: {err}"[:300]))
            return
        if found is None:
            self.count_flow("out", 1, text_bytes(doc))
            yield doc
            return
        yield self.dropped(doc.drop(REASON, detail=found.detail))
        yield beam.pvalue.TaggedOutput(CONTAMINATION, ContaminationRow(
            doc.normalized_url, doc.url, doc.record_id, found.eval_source, found.eval_document, found.ngram))


class Decontaminate(beam.PTransform):
    """docs → outputs kept, dropped, tally and contamination (the audit rows)."""

    def __init__(self, paths, n: int):
        super().__init__()
        self._paths, self._n = tuple(paths), n

    def expand(self, docs):
        make = functools.partial(load_decontaminator, self._paths, self._n)
        return docs | beam.ParDo(_DecontaminateFn(make, STAGE)).with_outputs(DROPPED, TALLY, CONTAMINATION, main=KEPT)


class WriteContamination(WriteFolderShards):
    """Audit rows → OUT/contamination/part-*.parquet; returns the written shards, for `_SUCCESS`."""

    def __init__(self, output: str, shard_bytes: int):
        super().__init__(output, FOLDER, encode, order, shard_bytes)
