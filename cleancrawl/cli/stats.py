"""`cleancrawl stats`: what each build step removed and what is left, for one corpus or several.

    cleancrawl stats out/                                  terminal tables
    cleancrawl stats out/ --json stats.json --html report/  + JSON document + HTML report with plots
    cleancrawl stats out/ webtextlike/ --html compare/      corpora side by side

Parses options and calls `cleancrawl.stats.collect.corpus_stats`, then `cleancrawl.stats.report`.
"""
from __future__ import annotations

import argparse
import sys

from cleancrawl.corpus import columns
from cleancrawl.stats import report
from cleancrawl.corpus.safe_text import safe
from cleancrawl.stats.collect import DEFAULT_TOP_K, StatsConfig, corpus_stats


def _run(args: argparse.Namespace) -> int:
    splits = None if args.split == "all" else (args.split,)
    config = StatsConfig(
        splits=splits,
        workers=args.workers,
        top_k=args.top,
        allow_partial=args.allow_partial,
        progress=not (args.no_progress or args.quiet),
        tokens=tuple(None if t == "-" else t for t in args.tokens or ()),
        beam_metrics=tuple(None if m == "-" else m for m in args.beam_metrics or ()),
        names=tuple(n.strip() for n in args.names.split(",")) if args.names else (),
        columns=columns.from_args(args),
    )
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
    parser.add_argument("--split", choices=("all", "train", "validation"), default="all",
                        help="which split's shards to scan (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes scanning shards in parallel (default 0: one per core)")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP_K,
                        help="entries kept in each ranked list: domains, TLDs, subreddits (default: %(default)s)")
    parser.add_argument("--tokens", action="append", metavar="DIR",
                        help="token directory (with manifest.json) of a corpus; repeat once per corpus, "
                             "in order, '-' for none (default: CORPUS/tokens when it exists)")
    parser.add_argument("--beam-metrics", action="append", metavar="FILE",
                        help="the build's Beam counters as JSON (e.g. from a Dataflow job); repeat once per "
                             "corpus, '-' for none. Checked against stats.json, or used for the funnel when it is missing")
    parser.add_argument("--names", help="comma-separated display names, one per corpus")
    parser.add_argument("--allow-partial", action="store_true",
                        help="also read a build without _SUCCESS (crashed or still running)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a shard is missing or unreadable (the stats are still written)")
    # -q/--quiet (every command's, added in cleancrawl/cli/__init__.py): no tables, no progress bar
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    columns.add_arguments(parser, "text and URL")
    parser.set_defaults(func=_run, accepts_filesystem_options=True)
