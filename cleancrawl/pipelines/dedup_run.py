"""`cleancrawl dedup`'s pipeline: Parquet shards → DedupDocuments → the build's layout.

Reads any Parquet shards with `url` and `text` columns (see `pipelines.dedup_cli` for what
the inputs may be), deduplicates them with `pipelines.dedup.DedupDocuments`, and writes the
survivors with `pipelines.write.WriteShards` + `Finalize`, the audit trail with
`WriteDuplicates`, and `stats.json` with `corpus.accounting.summarize`, as the build does.
"""
from __future__ import annotations

import functools

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from cleancrawl import layout, output_folder, storage, write_failures
from cleancrawl.corpus.accounting import summarize
from cleancrawl.corpus.columns import Columns
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import DOCUMENT_SCHEMA, table_to_documents
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, CountingFn, SumTallies
from cleancrawl.pipelines.build import prepare_output, spill_removed_on_failure
from cleancrawl.pipelines.dedup import DUPLICATES, DedupDocuments, WriteDuplicates
from cleancrawl.pipelines.dedup_config import DedupRunConfig
from cleancrawl.pipelines.stages import STAGE_NAMES
from cleancrawl.pipelines.worker_exit import runner_for
from cleancrawl.pipelines.write import Finalize, WriteShards

REQUIRED_COLUMNS = ("url", "text")


# ---------------------------------------------------------------------------- inputs

def resolve_shards(inputs: list[str], allow_partial: bool = False, columns: Columns = Columns()) -> list[str]:
    """Every Parquet shard the inputs name, sorted; fail early on none or on missing columns."""
    paths: list[str] = []
    for item in inputs:
        if item.endswith(".parquet") or any(c in item for c in "*?["):
            found = sorted(path for path, _ in storage.match_files(item) if path.endswith(".parquet"))
        else:
            found = layout.list_shards(item, split=None, allow_partial=allow_partial)
        if not found:
            raise UserError(f"no Parquet shards in {item}")
        paths += found
    paths = sorted(dict.fromkeys(paths))
    if not paths:
        raise UserError("no input shards (give --input)")
    # named columns (or fields of a struct: metadata.url), present and of string type
    storage.check_text_shards(paths, columns, required=REQUIRED_COLUMNS)
    return paths


def _check_output(inputs: list[str], output: str) -> None:
    """An output that is, holds or lies inside an input corpus (or a shard's folder) is refused."""
    output_folder.check_not_input(output, [item.rsplit("/", 1)[0] if item.endswith(".parquet") and "/" in item
                                    else "." if item.endswith(".parquet") else item for item in inputs])


class _ReadShardFn(CountingFn):
    """A Parquet shard → Documents, plus ("read", source_file) tallies so that stats balance."""

    stage = "read"

    def __init__(self, batch_size: int = 4096, columns: Columns = Columns()):
        self._batch_size = batch_size
        self._columns = columns

    def process(self, path: str):
        read: dict[str, int] = {}
        row = 0
        with storage.open_binary(path) as f:
            shard = pq.ParquetFile(f)
            for batch in shard.iter_batches(batch_size=self._batch_size):
                if not self._columns.is_default:  # another tool's names → cleancrawl's
                    batch = self._columns.rename(batch, keep=[f.name for f in DOCUMENT_SCHEMA])
                for doc in table_to_documents(pa.Table.from_batches([batch])):
                    doc = _complete(doc, path, row)
                    row += 1
                    read[doc.source_file] = read.get(doc.source_file, 0) + 1
                    yield doc
        for source_file, n in sorted(read.items()):
            self.count_read(source_file, n)
        self.count_event("input_shards")


def _complete(doc, path: str, row: int):
    changes = {}
    if doc.text is None:
        changes["text"] = ""
    if doc.url is None:
        changes["url"] = ""
    if not doc.normalized_url:
        changes["normalized_url"] = normalize_url(changes.get("url", doc.url))
    if not doc.source_file:
        changes["source_file"] = path
        changes["source_offset"] = row
    for name in ("timestamp", "record_id", "content_type", "language"):
        if getattr(doc, name) is None:
            changes[name] = ""
    for name in ("source_offset", "content_length", "language_score"):
        if getattr(doc, name) is None and name not in changes:
            changes[name] = 0
    return doc.replace(**changes) if changes else doc


class ReadParquetCorpus(beam.PTransform):
    """Shard paths → `.kept` Documents and `.tally` read counts (`columns`: where text, URL, id are)."""

    def __init__(self, columns: Columns = Columns()):
        super().__init__()
        self._columns = columns

    def expand(self, paths):
        return (
            paths
            | "SpreadShards" >> beam.Reshuffle()
            | "ReadShards" >> beam.ParDo(_ReadShardFn(columns=self._columns)).with_outputs(TALLY, main=KEPT)
        )


# ---------------------------------------------------------------------------- pipeline

def dedup_pipeline(pipeline: beam.Pipeline, config: DedupRunConfig, shard_paths: list[str], run_id: str = ""):
    read = pipeline | "InputShards" >> beam.Create(shard_paths) | "Read" >> ReadParquetCorpus(config.columns)
    dedup = read[KEPT] | "Dedup" >> DedupDocuments(config.dedup.for_inputs(len(shard_paths)), config.output,
                                                   drop_documents=False)
    written, shard_counts, kept_tally = dedup[KEPT] | "Write" >> WriteShards(
        config.output, config.num_shards, config.shard_bytes, config.validation_modulus)
    duplicates_written = dedup[DUPLICATES] | "WriteDuplicates" >> WriteDuplicates(config.output)
    all_written = (written, duplicates_written) | "AllWritten" >> beam.Flatten()
    tallies = (read[TALLY], dedup[TALLY], kept_tally) | "AllTallies" >> beam.Flatten()
    summed = (tallies, dedup[DROPPED]) | "SumTallies" >> SumTallies()
    no_file_errors = pipeline | "NoFileErrors" >> beam.Create([])
    summarize_fn = functools.partial(_summarize, config=config.to_dict())
    return ((all_written, shard_counts, summed, no_file_errors)
            | "Finalize" >> Finalize(config.output, summarize_fn, run_id))


def _summarize(tallies, file_errors, splits, config):
    return summarize(tallies, file_errors, config=config, splits=splits, order=STAGE_NAMES)


def run_dedup(config: DedupRunConfig, pipeline_args: list[str] | None = None) -> dict:
    """Deduplicate the shards of `config.inputs` into `config.output`; return stats.json."""
    if not config.dedup.methods:
        raise UserError("--method none: nothing to do")
    _check_output(config.inputs, config.output)
    shard_paths = resolve_shards(config.inputs, config.allow_partial, config.columns)
    lock = prepare_output(config.output, config.overwrite, [*config.inputs, *shard_paths], command="dedup")
    options = PipelineOptions(pipeline_args or [])
    storage.use_pipeline_options(options)
    with lock, write_failures.write_errors_are_user_errors(config.output), spill_removed_on_failure(lock):
        with beam.Pipeline(runner=runner_for(options), options=options) as pipeline:
            dedup_pipeline(pipeline, config, shard_paths, run_id=lock.run_id)
    return layout.read_stats(config.output)
