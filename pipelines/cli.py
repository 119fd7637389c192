"""`cleancrawl build`: parse options, call `pipelines.build.run_build`.

Options not listed here are Beam pipeline options and pass through unchanged
(`--runner DataflowRunner --project P --region R --temp_location gs://…`,
`--direct_num_workers 2 --direct_running_mode multi_processing`, …).
"""
from __future__ import annotations

import argparse
import json
import sys

from apache_beam.options.pipeline_options import PipelineOptions

from corpus.readers import FILE_ERROR_REASONS
from pipelines.build import SKIPPABLE_STAGES, BuildConfig, run_build

_DEFAULTS = BuildConfig()


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The build's own options (shared by the CLI and `BuildOptions`)."""
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", action="append", dest="inputs", metavar="PATH_OR_GLOB",
                    help="WARC/WET file(s), gzip or plain; local, gs://, s3://; repeatable "
                         "(default: the bundled sample crawl, 323 real pages as WET)")
    io.add_argument("--input-list", help="a Common Crawl *.paths(.gz) listing, one relative path a line")
    io.add_argument("--input-prefix", default="", help="prefix joined to each listed path, e.g. s3://commoncrawl/")
    io.add_argument("--output", default=_DEFAULTS.output, help="output directory (default: %(default)s)")
    io.add_argument("--source", choices=("auto", "wet", "warc"), default="auto",
                    help="which records become documents: WET conversion records, WARC HTML responses, "
                         "or whichever each file holds (default: %(default)s)")
    io.add_argument("--num-shards", type=int, default=0,
                    help="train shards (default 0: one per --shard-bytes of text); validation is sized by bytes")
    io.add_argument("--shard-bytes", type=int, default=_DEFAULTS.shard_bytes, help="target text bytes a shard (default: %(default)s)")
    io.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    io.add_argument("--strict", action="store_true",
                    help="exit 1 when any input file was unreadable (the run still completes)")

    stages = parser.add_argument_group("stages (defaults are C4's)")
    stages.add_argument("--skip", default="",
                        help="comma-separated stages to turn off: " + ",".join(SKIPPABLE_STAGES)
                             + " (all four: the T5 paper's 'C4 unfiltered')")
    stages.add_argument("--max-text-chars", type=int, default=_DEFAULTS.max_text_chars,
                        help="drop pages with longer text (default: %(default)s)")
    stages.add_argument("--max-html-bytes", type=int, default=_DEFAULTS.max_html_bytes,
                        help="WARC: do not parse larger HTML payloads (default: %(default)s)")
    stages.add_argument("--min-words-per-line", type=int, default=_DEFAULTS.min_words_per_line)
    stages.add_argument("--min-sentences", type=int, default=_DEFAULTS.min_sentences)
    stages.add_argument("--max-word-length", type=int, default=_DEFAULTS.max_word_length)
    stages.add_argument("--language", default=_DEFAULTS.language, help="target language (default: %(default)s)")
    stages.add_argument("--min-language-score", type=float, default=_DEFAULTS.min_language_score)
    stages.add_argument("--langdetect-seed", type=int, default=_DEFAULTS.langdetect_seed)
    stages.add_argument("--validation-modulus", type=int, default=_DEFAULTS.validation_modulus,
                        help="validation split when md5(normalized_url) %% N == 0 (default: %(default)s)")


def config_from_args(args: argparse.Namespace) -> BuildConfig:
    return BuildConfig(
        inputs=args.inputs or list(_DEFAULTS.inputs),
        input_list=args.input_list,
        input_prefix=args.input_prefix,
        output=args.output,
        source=args.source,
        skip=tuple(s.strip() for s in args.skip.split(",") if s.strip()),
        max_text_chars=args.max_text_chars,
        max_html_bytes=args.max_html_bytes,
        min_words_per_line=args.min_words_per_line,
        min_sentences=args.min_sentences,
        max_word_length=args.max_word_length,
        language=args.language,
        min_language_score=args.min_language_score,
        langdetect_seed=args.langdetect_seed,
        num_shards=args.num_shards,
        shard_bytes=args.shard_bytes,
        validation_modulus=args.validation_modulus,
        overwrite=args.overwrite,
        strict=args.strict,
    )


class BuildOptions(PipelineOptions):
    """The build's options as Beam pipeline options, for `python -m pipelines.build_main`-style launches."""

    @classmethod
    def _add_argparse_args(cls, parser):
        add_build_arguments(parser)


def print_summary(stats: dict, output: str, out=sys.stdout) -> None:
    totals = stats["totals"]
    print(f"read {totals['read']} records from {totals['files']} file(s); kept {totals['kept']}, "
          f"dropped {totals['dropped']} ({'balanced' if totals['balanced'] else 'UNBALANCED'})", file=out)
    for step in stats["funnel"]:
        if step["dropped"]:
            reasons = ", ".join(f"{r} {n}" for r, n in step["reasons"].items())
            print(f"  {step['stage']:<10} {step['in']:>8} → {step['out']:<8} dropped: {reasons}", file=out)
    for split, info in stats["splits"].items():
        print(f"  {split}: {info.get('documents', 0)} documents in {info.get('shards', 0)} shard(s)", file=out)
    for error in stats["file_errors"]:
        print(f"  unreadable: {error['file']}: {error['reason']} ({error['detail']})", file=out)
    print(f"wrote {output}/ (stats.json, _SUCCESS)", file=out)


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    stats = run_build(config, args.pipeline_args)
    print_summary(stats, config.output)
    if args.json_summary:
        print(json.dumps(stats["totals"]))
    if config.strict and stats["file_errors"]:
        return 1
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "build",
        help="crawl files → C4-clean, sharded Parquet (Apache Beam)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_build_arguments(parser)
    parser.add_argument("--json-summary", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=_run, accepts_pipeline_options=True)
