"""The build: Common Crawl WARC/WET → C4-clean, sharded Parquet (one Beam pipeline).

    Read ─ URL dedup ─ [select] ─ clean ─ [dedup] ─ language ID ─ badwords ─ write
     │        │           │         │        │          │            │         └ stats.json, _SUCCESS
     └────────┴───────────┴─────────┴── dropped documents, counted by stage and reason ┘

Each box is a composite transform over a pure `corpus/` stage, listed once, in order, in
`pipelines.stages.STAGES` (name, report title, --skip, options, how it is built from the
config); `build_pipeline` walks that list, and every Drop a stage makes names that stage.
`run_build(config)` is what `cleancrawl build` calls. Any Beam pipeline option passes through
(`--runner`, `--direct_num_workers`, `--project`, …).
"""
from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.metadata

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from cleancrawl import layout, options, output_folder, storage, write_failures
from cleancrawl.corpus.accounting import summarize
from cleancrawl.corpus.errors import RunFailed, UserError
from cleancrawl.corpus.readers import FILE_LOSS_REASONS
from cleancrawl.corpus.record import Drop
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, SumTallies
from cleancrawl.pipelines.config import BuildConfig
from cleancrawl.pipelines.dropped import SplitDrops, WriteDropped
from cleancrawl.pipelines.read import ReadCrawl, resolve_inputs
from cleancrawl.pipelines.select import plan_selection
from cleancrawl.pipelines.spill import remove_spill
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
                   stages=STAGES):
    """Add the build's transforms to `pipeline`. Returns the PCollection of totals.

    The stages are those of `stages` (the registry `pipelines.stages.STAGES`) that `config`
    enables and does not --skip, in their order. `run_id`: the output lock's; the run checks it
    still holds the folder before it writes stats.json and _SUCCESS (none given: no check)."""
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

    docs = add(pipeline | "InputFiles" >> beam.Create(input_files) | "Read" >> ReadCrawl(config.reader_config()),
               "read")
    for stage in stages:
        if stage.name == "read" or not stage.runs(config, skip):
            continue
        out = docs | stage.label >> stage.transform(config)
        docs = add(out, stage.name)
        if stage.writes is not None:
            also_written.append(stage.writes(out, config))

    written, shard_counts, kept_tally = docs | "Write" >> WriteShards(
        config.output, config.num_shards, config.shard_bytes, config.validation_modulus
    )
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
    return (written, shard_counts, summed, file_errors) | "Finalize" >> Finalize(config.output, summarize_fn, run_id,
                                                                                 succeeded)


# Files nothing could be read from: not opened (missing, 404, retries exhausted) or not WARC at all.
# A file cut short (`truncated_file`) gave its records up to the cut: named, and `--strict` fails on it.
FAILED_FILE_REASONS = ("read_error", "not_warc")


def failed_files(stats: dict) -> dict[str, str]:
    """The input files that could not be read: file → its first reason and detail."""
    failed: dict[str, str] = {}
    for error in stats.get("file_errors", []):
        if error["reason"] in FAILED_FILE_REASONS:
            failed.setdefault(error["file"], f"{error['reason']} ({error.get('detail', '')})")
    return failed


def within_failure_limit(stats: dict, limit: float) -> bool:
    """May a build whose stats are `stats` be declared a success? Not when every input file
    failed, nor when more than `limit` of them did (`--max-failed-files`)."""
    files = stats["totals"].get("files", 0)
    failed = len(failed_files(stats))
    return not files or (failed < files and failed <= limit * files)


def _summarize(tallies, file_errors, splits, config, stages):
    stats = summarize(tallies, file_errors, config=config, splits=splits, stages=stages)
    # When and by what the build finished (stats.json only: the shards stay byte-identical).
    stats["cleancrawl_version"] = _version()
    stats["finished_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return stats


def _version() -> str:
    try:
        return importlib.metadata.version("cleancrawl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


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
    input_files = resolve_inputs(config)
    if config.select.enabled:
        plan_selection(config.select)  # a missing URL table or a bad allowlist fails before the output is touched
    lock = prepare_output(config.output, config.overwrite, [*input_files, config.input_list, *_select_inputs(config)])
    with lock, write_failures.write_errors_are_user_errors(config.output), spill_removed_on_failure(lock):
        with beam.Pipeline(runner=runner_for(options), options=options) as pipeline:
            build_pipeline(pipeline, config, input_files, run_id=lock.run_id, stages=stages)
    stats = layout.read_stats(config.output)
    if not within_failure_limit(stats, config.max_failed_files):
        failed = failed_files(stats)
        first = "; ".join(f"{file}: {why}" for file, why in list(failed.items())[:2])
        raise RunFailed(f"{len(failed)} of {stats['totals']['files']} input files could not be read (more than "
                        f"--max-failed-files {config.max_failed_files:g}); no _SUCCESS, stats.json lists them: {first}")
    return stats


@contextlib.contextmanager
def spill_removed_on_failure(lock: output_folder.OutputLock):
    """A run that fails (a full disk, a worker error, Ctrl-C; not a kill) deletes its spill
    files: they are useless without the run, and on a full disk they are what fills it. Not when
    another run has taken the folder: the spill files there may be that run's."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            if lock.owned():
                remove_spill(lock.output)
        raise


def _select_inputs(config: BuildConfig) -> list[str]:
    # --decontaminate's eval files: checked before the output is touched
    from cleancrawl.pipelines.overlap import eval_paths

    return [p for p in (config.select.urls, config.select.domains) if p] + eval_paths(
        config.decontaminate, "--decontaminate", config.decontaminate_ngram, read=True)
