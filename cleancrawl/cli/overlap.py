"""`cleancrawl overlap`: the share of an eval set's n-grams found in a corpus (GPT-2's train/test overlap).

    cleancrawl overlap --corpus out/ --eval held=test.txt --eval wiki=wiki.parquet --ngram 8 --json overlap.json

Parses options and calls `cleancrawl.pipelines.overlap.run_overlap` (a Beam pipeline; other
options pass through to Beam: --runner, --direct_num_workers, ...).
"""
from __future__ import annotations

import argparse
import sys

from cleancrawl import options


def _run(args: argparse.Namespace) -> int:
    from cleancrawl.cli.build import with_direct_workers
    from cleancrawl.corpus.safe_text import safe
    from cleancrawl.pipelines.overlap import OverlapConfig, render_table, run_overlap

    config = options.from_args(OverlapConfig, args)
    report = run_overlap(config, with_direct_workers(args.workers, args.pipeline_args))
    for line in render_table(report).splitlines():  # eval names come from the user: printed safely
        print(safe(line))
    if config.json:
        print(f"wrote {safe(config.json)}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    from cleancrawl.cli.build import add_workers_argument
    from cleancrawl.pipelines.overlap import OverlapConfig

    parser = subparsers.add_parser(
        "overlap",
        help="train/test overlap: the share of eval n-grams found in a corpus (exact, or a Bloom filter)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_arguments(parser, OverlapConfig)
    add_workers_argument(parser)
    parser.set_defaults(func=_run, accepts_pipeline_options=True)
