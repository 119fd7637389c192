"""`cleancrawl stats`: what each build step removed and what is left, for one corpus or several.

    cleancrawl stats out/                                  terminal tables
    cleancrawl stats out/ --json stats.json --html report/  + JSON document + HTML report with plots
    cleancrawl stats out/ webtextlike/ --html compare/      corpora side by side

Parses options and calls `cleancrawl.stats.collect.corpus_stats`, then `cleancrawl.stats.report`.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from cleancrawl import options
from cleancrawl.stats import report
from cleancrawl.corpus.safe_text import safe
from cleancrawl.stats.collect import StatsConfig, corpus_stats


def _run(args: argparse.Namespace) -> int:
    config = options.from_args(StatsConfig, args)
    if args.quiet:
        config = dataclasses.replace(config, progress=False)
    doc = corpus_stats(args.corpora, config)
    if not args.quiet:
        sys.stdout.write(report.render_text(doc))
    if args.json:
        report.write_json(doc, args.json)
        print(f"wrote {safe(args.json)}", file=sys.stderr)
    if args.html:
        index = report.write_html(doc, args.html)
        print(f"wrote {safe(index)}", file=sys.stderr)
    problems = [p for c in doc["corpora"] for p in c["problems"]]
    for problem in problems:
        print(f"cleancrawl stats: warning: {safe(problem)}", file=sys.stderr)
    return 1 if problems and args.strict else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="funnel, contents and comparison of built corpora: tables, JSON, HTML report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("corpora", nargs="+", metavar="CORPUS",
                        help="build output directory (or a split directory, or any directory of Parquet "
                             "shards with a text column); local, gs:// or s3://")
    parser.add_argument("--json", metavar="PATH", help="write the stats document (schema: cleancrawl/stats/collect.py)")
    parser.add_argument("--html", metavar="DIR", help="write DIR/index.html with PNG plots (opens offline)")
    options.add_arguments(parser, StatsConfig)
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a shard is missing or unreadable (the stats are still written)")
    # -q/--quiet (every command's, added in cleancrawl/cli/__init__.py): no tables, no progress bar
    parser.set_defaults(func=_run, accepts_filesystem_options=True)
