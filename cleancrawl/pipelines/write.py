"""Deterministic, atomic Parquet shards, then stats.json and the _SUCCESS marker.

Why not `beam.io.WriteToParquet`: it spreads elements over shards in arrival order, so two
runs give different bytes. Here a document's shard is a hash of its normalised URL, each
shard is sorted by `corpus.record.sort_key` and written to a temporary name, then renamed
into place; `_SUCCESS` is written last, after stats.json, by a step that waits for every
shard. A crashed run therefore leaves no `_SUCCESS` and readers refuse it.

A shard is built in one worker's memory: keep shards around 100–500 MB of text
(`--shard-bytes`, default 256 MB; or set `--num-shards`).
"""
from __future__ import annotations

import hashlib
import io
import json
import math

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from cleancrawl import layout, output_folder, storage
from cleancrawl.corpus.dataset_card import CARD_NAME, dataset_card
from cleancrawl.corpus.record import DOCUMENT_SCHEMA, Document, documents_to_table, sort_key
from cleancrawl.corpus.urls import split_for
from cleancrawl.pipelines import progress
from cleancrawl.pipelines.accounting import text_bytes
from cleancrawl.pipelines.spill import pack, release_free_memory, remove_spill, unpack
from cleancrawl.storage import write_atomically

PARQUET_OPTIONS = dict(compression="zstd", compression_level=3,
                       use_dictionary=["language", "content_type", "source_file"],
                       write_statistics=True, row_group_size=10_000)


def shard_of(normalized_url: str, num_shards: int) -> int:
    # Not md5 % n: C4's validation split is md5 % 1000 == 0, which would put every
    # validation document into shard 0 whenever n divides 1000.
    return (int.from_bytes(hashlib.sha1(normalized_url.encode("utf-8", "surrogatepass")).digest()[:8], "big")
            % num_shards)


def shard_count(total_bytes: int, target_bytes: int, fixed: int = 0) -> int:
    if fixed > 0:
        return fixed
    return max(1, math.ceil(total_bytes / max(1, target_bytes)))


def encode_table(docs: list[Document]) -> bytes:
    buffer = io.BytesIO()
    if not docs:  # no row group at all, not one of zero rows: HF datasets reads the first row
        # group's row count as its batch size and fails on 0 ("BatchSize must be greater than 0")
        options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
        pq.ParquetWriter(buffer, DOCUMENT_SCHEMA, **options).close()
        return buffer.getvalue()
    pq.write_table(documents_to_table(docs), buffer, **PARQUET_OPTIONS)
    return buffer.getvalue()


_CHUNK = 1024  # documents converted at once by the shard writer (a multiple of pyarrow's write batch)


class _Sink(io.RawIOBase):
    """Any file system's writable file as pyarrow wants a sink (write, tell, closed); errors such as
    a full disk come out as they were raised."""

    def __init__(self, f):
        self._f, self._position = f, 0

    def writable(self):
        return True

    def write(self, data):
        self._f.write(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self):
        return self._position


class _WriteShardFn(beam.DoFn):
    """((split, index, count), [packed document]) → one shard, written atomically.

    Documents stay packed (compressed) until their row group is written: a shard's documents are
    sorted by `order` (each unpacked once for its key: the keys are not shuffled beside them),
    then unpacked, converted and written 10,000 at a time (the same bytes as one `write_table`
    call), so a shard costs ~1/3 of its text in memory, not ~4x."""

    def __init__(self, output: str, order, encode=None):
        self._output = output
        self._order = order
        self._encode = encode  # None: documents, streamed; else rows -> bytes (side folders)

    def process(self, element):
        (split, index, count), values = element
        order = self._order
        values = sorted(((order(unpack(packed)), packed) for packed in values), key=lambda value: value[0])
        path = storage.join(self._output, split, layout.shard_name(index, count))
        if self._encode is not None:
            write_atomically(path, self._encode([unpack(packed) for _, packed in values]))
        elif not values:
            write_atomically(path, encode_table([]))
        else:
            rows = PARQUET_OPTIONS["row_group_size"]
            options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}
            with storage.atomic_writer(path) as f, pq.ParquetWriter(_Sink(f), DOCUMENT_SCHEMA, **options) as writer:
                for start in range(0, len(values), rows):
                    group = values[start:start + rows]
                    # Converted 1,024 documents at a time: only the row group's Arrow columns are
                    # held whole. Chunks of a multiple of pyarrow's write batch (1,024 rows) give
                    # the same pages, hence the same bytes, as one table (tested).
                    chunks = [documents_to_table([unpack(packed) for _, packed in group[i:i + _CHUNK]])
                              for i in range(0, len(group), _CHUNK)]
                    writer.write_table(pa.concat_tables(chunks), row_group_size=rows)
        release_free_memory()
        progress.shard_written(split, len(values))  # the terminal's progress line, when there is one
        yield split, index, count, len(values)


class _FinalizeFn(beam.DoFn):
    """Runs once, after every shard: empty shards for gaps, stats.json, the spill files gone, then _SUCCESS."""

    def __init__(self, output: str, summarize, run_id: str = "", succeeded=None, per_language: bool = False):
        self._output = output
        self._summarize = summarize
        self._run_id = run_id
        self._succeeded = succeeded  # stats -> may the run be declared a success (None: always)
        self._per_language = per_language

    def process(self, _, written, shard_counts, tallies, file_errors):
        if self._run_id:  # the folder is still this run's: else another run's shards may be mixed in
            output_folder.check_lock_owner(self._output, self._run_id)
        done = {(split, index) for split, index, _, _ in written}
        splits = {}
        for split in split_names(shard_counts, self._per_language):
            count = shard_counts.get(split, 1)
            for index in range(count):
                if (split, index) not in done:
                    path = storage.join(self._output, split, layout.shard_name(index, count))
                    write_atomically(path, encode_table([]))
            splits[split] = {"shards": count}
        documents = {s: sum(n for split, _, _, n in written if split == s) for s in splits}
        write_atomically(storage.join(self._output, CARD_NAME), dataset_card(documents))  # for HF datasets
        stats = self._summarize(tallies, file_errors, splits)
        data = (json.dumps(stats, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")
        write_atomically(storage.join(self._output, layout.STATS_FILE), data)
        remove_spill(self._output)  # every stage that read a spill file is done: the shards are written
        if self._succeeded is not None and not self._succeeded(stats):
            yield stats["totals"]  # stats.json says what failed; without _SUCCESS no reader takes the corpus
            return
        # Not empty: object stores (S3) refuse zero-byte multipart uploads.
        write_atomically(storage.join(self._output, layout.SUCCESS_MARKER), layout.SUCCESS_CONTENT)
        yield stats["totals"]


def split_of(doc: Document, modulus: int, per_language: bool = False) -> str:
    """The split folder of a kept document: C4's (md5 of the URL), under its language's with --per-language."""
    split = split_for(doc.normalized_url, modulus)
    return f"{doc.language or 'und'}/{split}" if per_language else split


def split_names(shard_counts: dict, per_language: bool) -> list[str]:
    """Every split folder a build writes: train and validation, or both for each language written."""
    if not per_language:
        return list(layout.SPLITS)
    languages = sorted({name.partition("/")[0] for name in shard_counts})
    return [f"{language}/{split}" for language in languages for split in layout.SPLITS]


class WriteShards(beam.PTransform):
    """Kept documents → `OUT/{train,validation}/part-XXXXX-of-NNNNN.parquet`.

    Returns a PCollection of ((key), (count, bytes)) tallies `("kept", split, source_file)`
    and the list of written shards; `Finalize` consumes both.

    `folder`: write every element into `OUT/folder/` instead of the splits, each shard sorted by
    `order` and encoded by `encode` (elements need `normalized_url` and `text_bytes()`), as
    `--keep-dropped` does for `OUT/dropped/`.
    """

    def __init__(self, output: str, num_shards: int = 0, shard_bytes: int = 256 << 20, validation_modulus: int = 1000,
                 folder: str | None = None, encode=None, order=None, per_language: bool = False):
        super().__init__()
        self._output = output
        self._num_shards = num_shards
        self._shard_bytes = shard_bytes
        self._modulus = validation_modulus
        self._folder, self._encode, self._order = folder, encode, order
        self._per_language = per_language

    def expand(self, docs):
        modulus, fixed, target, folder = self._modulus, self._num_shards, self._shard_bytes, self._folder
        order, per_language = self._order or sort_key, self._per_language
        # (split, normalised URL, text bytes, the document packed): a grouped document is one
        # compressed bytes value — what DirectRunner holds in memory for the write is ~1/3 of the
        # kept text, not the Python objects — and its order key is made again where it is written.
        rows = docs | "PackDocuments" >> beam.Map(
            lambda d: (folder or split_of(d, modulus, per_language), d.normalized_url, text_bytes(d), pack(d)))
        bytes_per_split = (
            rows
            | "SplitBytes" >> beam.Map(lambda row: (row[0], row[2]))
            | "SumSplitBytes" >> beam.CombinePerKey(sum)
        )
        # --num-shards fixes the train shard count (each language's); validation is always sized by bytes.
        shard_counts = bytes_per_split | "ShardCounts" >> beam.Map(
            lambda kv: (kv[0], shard_count(kv[1], target, fixed if kv[0].rpartition("/")[2] == "train" else 0))
        )
        counts_view = beam.pvalue.AsDict(shard_counts)
        written = (
            rows
            | "AssignShard" >> beam.Map(
                lambda row, counts: ((row[0], shard_of(row[1], counts[row[0]]), counts[row[0]]), row[3]),
                counts=counts_view,
            )
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShardFn(self._output, order, self._encode))
        )
        kept_tally = docs | "KeptTally" >> beam.Map(
            lambda d: (("kept", folder or split_of(d, modulus, per_language), d.source_file), (1, text_bytes(d)))
        )
        return written, shard_counts, kept_tally


class Finalize(beam.PTransform):
    """Waits for every shard, then writes stats.json and `_SUCCESS`; with `run_id` (the output
    lock's, `output_folder.OutputLock`) it first checks that the run still holds the folder."""

    def __init__(self, output: str, summarize, run_id: str = "", succeeded=None, per_language: bool = False):
        super().__init__()
        self._output = output
        self._summarize = summarize
        self._run_id = run_id
        self._succeeded = succeeded
        self._per_language = per_language

    def expand(self, pcolls):
        written, shard_counts, tallies, file_errors = pcolls
        return (
            written.pipeline
            | "Once" >> beam.Create([None])
            | "WriteStatsAndMarker" >> beam.ParDo(
                _FinalizeFn(self._output, self._summarize, self._run_id, self._succeeded, self._per_language),
                written=beam.pvalue.AsList(written),
                shard_counts=beam.pvalue.AsDict(shard_counts),
                tallies=beam.pvalue.AsSingleton(tallies, default_value=[]),
                file_errors=beam.pvalue.AsList(file_errors),
            )
        )


class _FillGapsFn(beam.DoFn):
    """Once, after a side folder's shards: an empty shard for each index that got no row (one
    empty shard when there were none), so the folder always holds all N of N."""

    def __init__(self, output: str, folder: str, encode):
        self._output, self._folder, self._encode = output, folder, encode

    def process(self, _, written, shard_counts):
        count = shard_counts.get(self._folder, 1)
        done = {index for folder, index, _, _ in written if folder == self._folder}
        for index in range(count):
            if index not in done:
                path = storage.join(self._output, self._folder, layout.shard_name(index, count))
                write_atomically(path, self._encode([]))
                yield self._folder, index, count, 0
        yield from written


class WriteFolderShards(beam.PTransform):
    """Rows of a side folder (`dropped/`, `contamination/`) → `OUT/FOLDER/part-XXXXX-of-NNNNN.parquet`,
    sharded and sorted as the splits are, every shard present; returns the written shards, for
    `_SUCCESS` to wait on."""

    def __init__(self, output: str, folder: str, encode, order, shard_bytes: int):
        super().__init__()
        self._output, self._folder, self._encode, self._order = output, folder, encode, order
        self._shard_bytes = shard_bytes

    def expand(self, rows):
        written, shard_counts, _ = rows | "Shards" >> WriteShards(
            self._output, shard_bytes=self._shard_bytes, folder=self._folder, encode=self._encode, order=self._order)
        return (
            rows.pipeline
            | "Once" >> beam.Create([None])
            | "FillGaps" >> beam.ParDo(_FillGapsFn(self._output, self._folder, self._encode),
                                       written=beam.pvalue.AsList(written),
                                       shard_counts=beam.pvalue.AsDict(shard_counts))
        )
