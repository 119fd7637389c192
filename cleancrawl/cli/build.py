"""`cleancrawl build`: parse options, call `pipelines.build.run_build`.

Options not listed here are Beam pipeline options and pass through unchanged
(`--runner DataflowRunner --project P --region R --temp_location gs://…`,
`--direct_num_workers 2 --direct_running_mode multi_processing`, …).
"""
from __future__ import annotations

import argparse
import json
import sys

from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.safe_text import safe
from cleancrawl import options
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


def add_workers_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=1,
                        help="DirectRunner worker processes (short for --direct_num_workers N "
                             "--direct_running_mode multi_processing; default: %(default)s); "
                             "other runners size themselves (--num_workers, --parallelism, ...)")


def with_direct_workers(workers: int, pipeline_args: list[str]) -> list[str]:
    """Beam options for `--workers N` on the DirectRunner; a clear error where it does not apply."""
    if workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1")
    if workers == 1:
        return pipeline_args
    runner = next((a.split("=", 1)[1] if "=" in a else (pipeline_args[i + 1] if i + 1 < len(pipeline_args) else "")
                   for i, a in enumerate(pipeline_args) if a.split("=", 1)[0] == "--runner"), "DirectRunner")
    if runner not in ("DirectRunner", "direct"):
        raise UserError(f"--workers is for the DirectRunner; {runner} takes its own worker options")
    if any(a.split("=", 1)[0] in ("--direct_num_workers", "--direct_running_mode") for a in pipeline_args):
        raise UserError("--workers and --direct_num_workers/--direct_running_mode: give one or the other")
    return [*pipeline_args, f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]


def print_summary(stats: dict, output: str, out=None) -> None:
    out = out or sys.stdout  # looked up at call time: tests and callers may replace sys.stdout
    totals = stats["totals"]
    print(f"read {totals['read']} records from {totals['files']} file(s); kept {totals['kept']}, "
          f"dropped {totals['dropped']} ({'balanced' if totals['balanced'] else 'UNBALANCED'})", file=out)
    for step in stats["funnel"]:
        if step["dropped"]:
            reasons = safe(", ".join(f"{r} {n}" for r, n in step["reasons"].items()))
            print(f"  {step['stage']:<10} {step['in']:>8} → {step['out']:<8} dropped: {reasons}", file=out)
    for split, info in stats["splits"].items():
        print(f"  {split}: {info.get('documents', 0)} documents in {info.get('shards', 0)} shard(s)", file=out)
    for error in stats["file_errors"]:
        print(safe(f"  unreadable: {error['file']}: {error['reason']} ({error['detail']})"), file=out)
    kept_dropped = (stats.get("config") or {}).get("keep_dropped")
    print(f"wrote {safe(output)}/ (stats.json, _SUCCESS{', dropped/' if kept_dropped else ''})", file=out)


def check_extractor() -> None:
    """trafilatura must import before a build starts: inside Beam its ImportError is a long traceback."""
    try:
        import trafilatura  # noqa: F401
    except ImportError as err:
        raise UserError(f"trafilatura cannot be imported ({' '.join(str(err).split())}); "
                        "`pip install lxml_html_clean`, or reinstall cleancrawl") from None


def _run(args: argparse.Namespace) -> int:
    from cleancrawl.pipelines import progress
    from cleancrawl.pipelines.build import run_build  # Beam is imported only when a build runs

    config = options.from_args(BuildConfig, args)
    check_extractor()
    with progress.display(enabled=sys.stderr.isatty() and not args.quiet):
        stats = run_build(config, with_direct_workers(args.workers, args.pipeline_args))
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
        description=BUILD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_arguments(parser, BuildConfig)
    add_workers_argument(parser)
    parser.add_argument("--json-summary", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=_run, accepts_pipeline_options=True)
