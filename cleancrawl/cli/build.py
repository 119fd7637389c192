"""`cleancrawl build`: parse options, call `pipelines.build.run_build`.

Options not listed here are Beam pipeline options and pass through unchanged
(`--runner DataflowRunner --project P --region R --temp_location gs://…`,
`--direct_num_workers 2 --direct_running_mode multi_processing`, …).
"""
from __future__ import annotations

import argparse
import json
import sys

from cleancrawl import options
from cleancrawl.cli.common import add_command, add_workers_argument, with_direct_workers
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.safe_text import safe
from cleancrawl.pipelines.config import BuildConfig

BUILD_DESCRIPTION = """\
Build a C4-style corpus: read WARC/WET files, deduplicate URLs, [select by Reddit URL table or
domain], apply C4's line and page filters, deduplicate (C4 lines, MinHash), keep the target
language, drop pages with badwords, and write deterministic Parquet shards with stats.json.
Defaults are C4's (TFDS c4/en v3.1.0) plus MinHash near-dedup; every stage is counted.

Options not listed here are Beam pipeline options and pass through unchanged
(--runner DataflowRunner --project P --region R --temp_location gs://…, …); on the DirectRunner,
--workers N runs N worker processes.
"""


def print_summary(stats: dict, output: str, out=None) -> None:
    out = out or sys.stdout  # looked up at call time: tests and callers may replace sys.stdout
    totals = stats["totals"]
    print(f"read {totals['read']} records from {totals['files']} file(s); kept {totals['kept']}, "
          f"dropped {totals['dropped']} ({'balanced' if totals['balanced'] else 'UNBALANCED'})", file=out)
    for step in stats["funnel"]:
        if step["dropped"]:
            reasons = safe(", ".join(f"{r} {n}" for r, n in step["reasons"].items()))
            print(f"  {step['stage']:<10} {step['in']:>8} → {step['out']:<8} dropped: {reasons}", file=out)
    languages: dict[str, dict] = {}
    for split, info in stats["splits"].items():
        language, _, name = split.rpartition("/")
        if language:  # --per-language: one line a language
            languages.setdefault(language, {})[name] = info.get("documents", 0)
            continue
        print(f"  {split}: {info.get('documents', 0)} documents in {info.get('shards', 0)} shard(s)", file=out)
    for language, counts in languages.items():
        print(f"  {language}: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + " documents", file=out)
    for error in stats["file_errors"]:
        print(safe(f"  unreadable: {error['file']}: {error['reason']} ({error['detail']})"), file=out)
    kept_dropped = (stats.get("config") or {}).get("keep_dropped")
    print(f"wrote {safe(output)}/ (stats.json, _SUCCESS{', dropped/' if kept_dropped else ''})", file=out)


def check_extractor(mode: str = "full") -> None:
    """The HTML extractor must import before a build starts: inside Beam its ImportError is a long traceback."""
    package, fix = (("resiliparse", "`pip install resiliparse`") if mode == "resiliparse" else
                    ("trafilatura", "`pip install lxml_html_clean`"))
    try:
        __import__(package)
    except ImportError as err:
        raise UserError(f"{package} cannot be imported ({' '.join(str(err).split())}); "
                        f"{fix}, or reinstall cleancrawl") from None


def _run(args: argparse.Namespace) -> int:
    from cleancrawl.pipelines import progress
    from cleancrawl.pipelines.build import run_build  # Beam is imported only when a build runs

    config = options.from_args(BuildConfig, args)
    check_extractor(config.extraction)
    if config.piece:
        return _run_piece(config, args)
    with progress.for_command(args.quiet):
        stats = run_build(config, with_direct_workers(args.workers, args.pipeline_args))
    return report(stats, config.output, args.json_summary, config.strict)


def report(stats: dict, output: str, json_summary: bool, strict: bool) -> int:
    """The summary a finished build (or finish) prints, and its exit code: 1 under --strict when a
    file was unreadable."""
    print_summary(stats, output)
    if json_summary:
        print(json.dumps(stats["totals"]))
    return 1 if strict and stats["file_errors"] else 0


def _run_piece(config, args: argparse.Namespace) -> int:
    from cleancrawl.pipelines import progress
    from cleancrawl.pipelines.pieces import run_piece

    with progress.for_command(args.quiet):
        piece = run_piece(config, with_direct_workers(args.workers, args.pipeline_args))
    if piece["already"]:
        print(f"{safe(config.output)}: this piece is already built ({piece['documents']} pages of "
              f"{piece['files']} file(s)); nothing to do")
        return 0
    for error in piece["file_errors"]:
        print(safe(f"  unreadable: {error['source_file']}: {error['reason']} ({error['detail']})"))
    print(f"wrote the piece {safe(config.output)}/ ({piece['documents']} pages of {piece['files']} file(s); "
          "piece.json, _SUCCESS); join the pieces with `cleancrawl finish`")
    return 1 if config.strict and piece["file_errors"] else 0


def register(subparsers) -> None:
    parser = add_command(subparsers, "build", BuildConfig, _run,
                         help="crawl files → C4-clean, sharded Parquet (Apache Beam)",
                         description=BUILD_DESCRIPTION, pipeline_options=True)
    add_workers_argument(parser)
    parser.add_argument("--json-summary", action="store_true", help=argparse.SUPPRESS)
