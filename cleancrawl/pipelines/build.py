"""The build: Common Crawl WARC/WET → C4-clean, sharded Parquet (one Beam pipeline).

    Read ─ URL dedup ─ [select] ─ clean ─ [dedup] ─ language ID ─ badwords ─ write
     │        │           │         │        │          │            │         └ stats.json, _SUCCESS
     └────────┴───────────┴─────────┴── dropped documents, counted by stage and reason ┘

Each box is a composite transform over a pure `corpus/` stage, listed once, in order, in
`pipelines.stages.STAGES` (name, report title, --skip, options, how it is built from the
config); `build_pipeline` walks that list, and every Drop a stage makes names that stage.
`run_build(config)` is what `cleancrawl build` calls; `run_finish(pieces, output)` what `cleancrawl
finish` calls (the same pipeline over the pieces of `build --piece`, `pipelines.pieces`). Any Beam
pipeline option passes through (`--runner`, `--direct_num_workers`, `--project`, …).
"""
from __future__ import annotations

import dataclasses
import datetime
import functools

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from cleancrawl import layout, options, output_folder, storage, write_failures
from cleancrawl.corpus.accounting import summarize
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.readers import FILE_LOSS_REASONS
from cleancrawl.corpus.record import Drop
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, SumTallies
from cleancrawl.pipelines.config import BuildConfig
from cleancrawl.pipelines.dropped import SplitDrops, WriteDropped
from cleancrawl.pipelines.pieces import ReadPieces, ReplayStage, check_pieces, finish_source
from cleancrawl.pipelines.read import ReadCrawl, resolve_inputs
from cleancrawl.pipelines.run_outcome import (  # noqa: F401 (some re-exported)
    FAILED_FILE_REASONS,
    check_failure_limit,
    failed_files,
    spill_removed_on_failure,
    version,
    within_failure_limit,
)
from cleancrawl.pipelines.select import plan_selection
from cleancrawl.pipelines.stages import STAGES, resolve_skip
from cleancrawl.pipelines.url_dedup import DedupUrls  # noqa: F401 (re-exported)
from cleancrawl.pipelines.worker_exit import runner_for
from cleancrawl.pipelines.write import Finalize, WriteShards

# ---------------------------------------------------------------------------- inputs / output

OUTPUT_FOLDERS = layout.CORPUS_LAYOUT.folders


def _files_under(output: str) -> list[str]:
    """The files of a build in `output` (shards, temporary files of a crashed run, stats.json,
    _SUCCESS, the lock), as paths; anything else there is not a build's and is never listed."""
    ours, _ = output_folder.output_files(output, layout.CORPUS_LAYOUT)
    return [storage.join(output, relative) for relative in ours]


def prepare_output(output: str, overwrite: bool, inputs: list[str] = (), command: str = "build"):
    """Make `output` ready for a build; returns the output lock the run holds (release it after).

    Refused with one line: an output that is, holds or lies inside an input; a folder holding any
    file a build did not write (named: --overwrite never deletes a user's file); existing build
    output without --overwrite (a crashed run that left only `train/` shards too); a folder another
    live run is writing. --overwrite removes every file of the old build, so stale shards of
    another shard count cannot mix with the new ones. Then checks that the folder is writable.
    """
    lock = output_folder.prepare_output_folder(output, layout.corpus_layout(command), overwrite, inputs)
    probe = storage.join(output, output_folder.WRITE_PROBE)
    try:
        with storage.create(probe) as f:
            f.write(b"probe")  # not empty: S3 refuses to complete an upload of zero parts
        storage.delete([probe])
    except Exception as err:
        lock.release()
        raise UserError(f"cannot write to {output}: {err}") from None
    return lock


# ---------------------------------------------------------------------------- stages

def build_pipeline(pipeline: beam.Pipeline, config: BuildConfig, input_files: list[str], run_id: str = "",
                   stages=STAGES, source=None):
    """Add the build's transforms to `pipeline`. Returns the PCollection of totals.

    The stages are those of `stages` (the registry `pipelines.stages.STAGES`) that `config`
    enables and does not --skip, in their order. `run_id`: the output lock's; the run checks it
    still holds the folder before it writes stats.json and _SUCCESS (none given: no check).
    `source`: in place of reading `input_files`, a transform of the pipeline's root giving what
    the reader gives (`cleancrawl finish`: `pipelines.pieces.ReadPieces`); the stages a piece
    recorded (`Stage.replayed`) are then replayed from its records."""
    skip = resolve_skip(config.skip, stages)
    drops, tallies = [], []
    dropped_rows = []  # --keep-dropped: the dropped documents, for OUT/dropped/
    also_written = []  # side outputs (dedup's audit shards, dropped documents) _SUCCESS waits for
    stages_run = []

    def add(out, stage_name):  # the documents leave the drops right here (see pipelines.dropped)
        # Every Drop names the registry's stage: stamped where none is named, a ValueError where another is.
        stamped = out[DROPPED] | f"StageOfDrops{len(drops)}" >> beam.Map(Drop.at_stage, stage_name)
        bare, rows = stamped | f"SplitDrops{len(drops)}" >> SplitDrops(config.keep_dropped, config.keep_dropped_seed)
        drops.append(bare)
        if rows is not None:
            dropped_rows.append(rows)
        tallies.append(out[TALLY])
        stages_run.append(stage_name)
        return out[KEPT]

    if source is None:
        read = pipeline | "InputFiles" >> beam.Create(input_files) | "Read" >> ReadCrawl(config.reader_config())
    else:
        read = pipeline | "ReadPieces" >> source
    docs = add(read, "read")
    replaying = isinstance(source, ReadPieces)
    # Dedup's key shuffles are sized to the input (`DedupConfig.for_inputs`); the config the run
    # records keeps 0 there, so a piece (a slice of the files) and its finish record the same.
    staged = dataclasses.replace(config, dedup=config.dedup.for_inputs(len(input_files)))
    for stage in stages:
        if stage.name == "read" or not stage.runs(config, skip):
            continue
        if replaying and stage.replayed:
            out = docs | stage.label >> ReplayStage(functools.partial(stage.filter, stage.options(config)), stage.name)
        else:
            out = docs | stage.label >> stage.transform(staged)
        docs = add(out, stage.name)
        if stage.writes is not None:
            also_written.append(stage.writes(out, config))

    written, shard_counts, kept_tally = docs | "Write" >> WriteShards(
        config.output, config.num_shards, config.shard_bytes, config.validation_modulus,
        per_language=config.per_language)
    if dropped_rows:  # --keep-dropped: OUT/dropped/, which _SUCCESS waits for too
        rows = dropped_rows | "AllDroppedDocuments" >> beam.Flatten()
        also_written.append(rows | "WriteDropped" >> WriteDropped(config.output, config.shard_bytes))
    if also_written:  # _SUCCESS also waits for the audit shards
        written = [written, *also_written] | "AllWritten" >> beam.Flatten()
    tallies.append(kept_tally)
    all_drops = drops | "AllDrops" >> beam.Flatten()
    all_tallies = tallies | "AllTallies" >> beam.Flatten()
    summed = (all_tallies, all_drops) | "SumTallies" >> SumTallies()
    file_errors = all_drops | "FileErrors" >> beam.FlatMap(
        lambda d: ([{"file": d.source_file, "reason": d.reason, "detail": d.detail}]
                   if d.reason in FILE_LOSS_REASONS else [])
    )
    summarize_fn = functools.partial(_summarize, config=config.to_dict(), stages=stages_run)
    succeeded = functools.partial(within_failure_limit, limit=config.max_failed_files)
    return (written, shard_counts, summed, file_errors) | "Finalize" >> Finalize(
        config.output, summarize_fn, run_id, succeeded, per_language=config.per_language)


def _summarize(tallies, file_errors, splits, config, stages):
    stats = summarize(tallies, file_errors, config=config, splits=splits, stages=stages)
    # When and by what the build finished (stats.json only: the shards stay byte-identical).
    stats["cleancrawl_version"] = version()
    stats["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return stats


# ---------------------------------------------------------------------------- entry point

class BuildOptions(PipelineOptions):
    """The build's options as Beam pipeline options, for launching from Python with Beam's own option parsing."""

    @classmethod
    def _add_argparse_args(cls, parser):
        options.add_arguments(parser, BuildConfig, config_file=False)


def run_build(config: BuildConfig, pipeline_args: list[str] | None = None, stages=STAGES) -> dict:
    """Run the build and return the stats it wrote (also `OUT/stats.json`). `stages`: the
    registry to build from (default `pipelines.stages.STAGES`)."""
    resolve_skip(config.skip, stages)  # an unknown stage: one line, before anything is read
    options = PipelineOptions(pipeline_args or [])
    # Remote file systems (s3 endpoint and credentials, gcs project) take their settings from
    # the pipeline options, also for the listing and checks done here before the run.
    storage.use_pipeline_options(options)
    return _run(config, options, resolve_inputs(config), stages)


def run_finish(folders: list[str], output: str, overwrite: bool = False, pipeline_args: list[str] | None = None,
               stages=STAGES) -> dict:
    """`cleancrawl finish`: join the pieces in `folders` (`build --piece`) into the corpus the
    whole build over their files writes, in `output`. Returns its stats."""
    options = PipelineOptions(pipeline_args or [])
    storage.use_pipeline_options(options)
    config, input_files, records = check_pieces(folders, stages)
    config = dataclasses.replace(config, output=output, overwrite=overwrite)
    return _run(config, options, input_files, stages, source=finish_source(records), also_inputs=folders)


def _run(config: BuildConfig, options: PipelineOptions, input_files: list[str], stages, source=None,
         also_inputs=()) -> dict:
    if config.select.enabled:
        plan_selection(config.select)  # a missing URL table or a bad allowlist fails before the output is touched
    lock = prepare_output(config.output, config.overwrite,
                          [*input_files, config.input_list, *_select_inputs(config), *also_inputs])
    with lock, write_failures.write_errors_are_user_errors(config.output), spill_removed_on_failure(lock):
        with beam.Pipeline(runner=runner_for(options), options=options) as pipeline:
            build_pipeline(pipeline, config, input_files, run_id=lock.run_id, stages=stages, source=source)
    stats = layout.read_stats(config.output)
    check_failure_limit(stats, config.max_failed_files)
    return stats


def _select_inputs(config: BuildConfig) -> list[str]:
    # --decontaminate's eval files: checked before the output is touched
    from cleancrawl.pipelines.overlap import eval_paths

    return [p for p in (config.select.urls, config.select.domains) if p] + eval_paths(
        config.decontaminate, "--decontaminate", config.decontaminate_ngram, read=True)
