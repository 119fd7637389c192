"""`cleancrawl stats`: what each build step removed and what is left, for one corpus or several.

    cleancrawl stats out/                                  terminal tables
    cleancrawl stats out/ --json stats.json --html report/  + JSON document + HTML report with plots
    cleancrawl stats out/ webtextlike/ --html compare/      corpora side by side

--json and --html write beside a build, never into it (nor into any corpus read or any folder a
cleancrawl command writes); --html DIR holds only the report's own files, and an earlier report
(or --json document) is replaced only with --overwrite. Both are checked before any shard is read.

Parses options and calls `cleancrawl.stats.collect.corpus_stats`, then `cleancrawl.stats.report`.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from cleancrawl import options
from cleancrawl.cli.common import add_command
from cleancrawl.corpus.safe_text import safe
from cleancrawl.stats import output, report
from cleancrawl.stats.collect import StatsConfig, corpus_stats
from cleancrawl.stats.contents import NO_URL


def _run(args: argparse.Namespace) -> int:
    config = options.from_args(StatsConfig, args)
    if args.quiet:
        config = dataclasses.replace(config, progress=False)
    # everything read: a report written into any of them would change what the next run reads
    inputs = [*args.corpora, *(t for t in config.tokens if t), *(m for m in config.beam_metrics if m)]
    if args.html:  # refused before the scan, with nothing written
        output.check_html_folder(args.html, args.overwrite, inputs)
    if args.json:
        output.check_json_path(args.json, args.overwrite, inputs, html=args.html)
    doc = corpus_stats(args.corpora, config)
    if not args.quiet:
        sys.stdout.write(report.render_text(doc))
    if args.json:
        report.write_json(doc, args.json, args.overwrite, inputs)
        print(f"wrote {safe(args.json)}", file=sys.stderr)
    if args.html:
        index = report.write_html(doc, args.html, args.overwrite, inputs)
        print(f"wrote {safe(index)}", file=sys.stderr)
    problems = [p for c in doc["corpora"] for p in c["problems"]]
    for problem in problems:
        print(f"cleancrawl stats: warning: {safe(problem)}", file=sys.stderr)
    return 1 if problems and args.strict else 0


def register(subparsers) -> None:
    parser = add_command(subparsers, "stats", StatsConfig, _run, description=__doc__, filesystem_options=True,
                         help="funnel, contents and comparison of built corpora: tables, JSON, HTML report")
    parser.add_argument("corpora", nargs="+", metavar="CORPUS",
                        help="build output directory (or a split directory, or any directory of Parquet "
                             "shards with a text column); local, gs:// or s3://")
    parser.add_argument("--json", metavar="PATH", help="write the stats document (schema: cleancrawl/stats/SCHEMA.md); "
                        "not inside a corpus or any cleancrawl output folder")
    parser.add_argument("--html", metavar="DIR", help="write DIR/index.html with PNG plots (opens offline); DIR holds "
                        "only the report's files, outside any corpus or cleancrawl output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier report of cleancrawl stats at --html/--json (never any other file)")
    for action in parser._actions:  # stats alone can do without URLs (lengths, languages, months)
        if "--url-column" in action.option_strings:
            action.help += f"; {NO_URL} for Parquet without URLs (no domains counted)"
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a shard is missing or unreadable (the stats are still written)")
    # -q/--quiet (every command's, added in cleancrawl/cli/__init__.py): no tables, no progress bar
