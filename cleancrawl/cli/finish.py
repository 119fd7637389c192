"""`cleancrawl finish`: join the pieces of a build into the corpus the whole build writes.

    cleancrawl build --crawl CC-MAIN-2019-18 --files 0:1000 --piece --output pieces/p0
    cleancrawl build --crawl CC-MAIN-2019-18 --files 1000:2000 --piece --output pieces/p1
    cleancrawl finish pieces/p0 pieces/p1 --output OUT

The options are the pieces' own (they must all have been built with the same ones); the corpus
in OUT is, byte for byte, what `cleancrawl build` over all their files writes. URL dedup, C4
line dedup and MinHash run here, over every page; what each page's filters decided is read
from the pieces (`cleancrawl/pipelines/pieces.py`). Beam pipeline options pass through.
"""
from __future__ import annotations

import argparse

from cleancrawl.cli.build import report
from cleancrawl.cli.common import add_workers_argument, with_direct_workers


def _run(args: argparse.Namespace) -> int:
    from cleancrawl.pipelines import progress
    from cleancrawl.pipelines.build import run_finish  # Beam is imported only when a finish runs

    with progress.for_command(args.quiet):
        stats = run_finish(args.pieces, args.output, args.overwrite,
                           with_direct_workers(args.workers, args.pipeline_args))
    return report(stats, args.output, args.json_summary, args.strict)


def register(subparsers) -> None:
    parser = subparsers.add_parser("finish", help="join the pieces of a build (build --piece) into its corpus",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pieces", nargs="+", metavar="PIECE", help="the --output folders of `build --piece`")
    parser.add_argument("--output", required=True, help="the corpus folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --output")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any input file of a piece was unreadable")
    add_workers_argument(parser)
    parser.add_argument("--json-summary", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=_run, accepts_pipeline_options=True, accepts_filesystem_options=False)
