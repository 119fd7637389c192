"""`cleancrawl overlap`: the share of an eval set's n-grams found in a corpus (GPT-2's train/test overlap).

    cleancrawl overlap --corpus out/ --eval held=test.txt --eval wiki=wiki.parquet --ngram 8 --json overlap.json

Parses options and calls `cleancrawl.pipelines.overlap.run_overlap` (a Beam pipeline; other
options pass through to Beam: --runner, --direct_num_workers, ...).
"""
from __future__ import annotations

import argparse
import sys

from cleancrawl import options
from cleancrawl.cli.common import add_command, add_workers_argument, with_direct_workers


def _run(args: argparse.Namespace) -> int:
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
    from cleancrawl.pipelines.overlap import OverlapConfig

    parser = add_command(subparsers, "overlap", OverlapConfig, _run, description=__doc__, pipeline_options=True,
                         help="train/test overlap: the share of eval n-grams found in a corpus "
                              "(exact, or a Bloom filter)")
    add_workers_argument(parser)
