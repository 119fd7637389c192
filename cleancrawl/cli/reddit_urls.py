"""`cleancrawl reddit-urls`: Reddit submissions dumps → the WebText-like URL table (Parquet).

    cleancrawl reddit-urls --submissions 'RS_2019-*.zst' --min-score 3 --output urls/
    cleancrawl build --select-urls urls/ --output webtextlike/

Writes OUT/part-*.parquet (one row per normalised URL: reddit_score, reddit_submissions,
subreddits, first_created_utc, …), OUT/_stats.json (lines read, skipped with file and
line number, filtered by reason) and OUT/_SUCCESS. Plain Python with a process pool (one
file a process), not Beam: see selection/reddit.py for why and for the memory bound.
"""
from __future__ import annotations

import argparse
import sys

from cleancrawl import options
from cleancrawl.cli.common import add_command
from cleancrawl.corpus.safe_text import safe
from cleancrawl.selection.reddit import UrlTableConfig, build_url_table


def print_summary(stats: dict, output: str, out=None) -> None:
    out = out or sys.stdout  # looked up per call: a default bound at import outlives a replaced stdout
    t = stats["totals"]
    print(f"read {t['lines']} lines from {t['files']} file(s): {t['eligible_submissions']} link submissions counted, "
          f"{t['filtered_submissions']} filtered, {t['skipped_lines']} malformed lines skipped, "
          f"{t.get('blank_lines', 0)} blank", file=out)
    for reason, n in stats["filtered"].items():
        print(f"  filtered  {reason:<18} {n}", file=out)
    for reason, n in stats["skipped"].items():
        print(f"  skipped   {reason:<18} {n}", file=out)
    for error in stats["file_errors"]:
        print(safe(f"  unreadable: {error['file']}: {error['reason']} ({error['detail']})"), file=out)
    print(f"{t['urls']} distinct URLs; kept {t['urls_kept']} with score >= "
          f"{stats['config']['link_filter']['min_score']} ({t['urls_below_min_score']} below)", file=out)
    print(f"wrote {safe(output)}/ ({len(stats['parts'])} part(s), _stats.json, _SUCCESS)", file=out)


def _run(args: argparse.Namespace) -> int:
    config = options.from_args(UrlTableConfig, args)
    stats = build_url_table(config)
    print_summary(stats, config.output)
    return 1 if args.strict and stats["file_errors"] else 0


def register(subparsers) -> None:
    groups: dict = {}
    add_command(subparsers, "reddit-urls", UrlTableConfig, _run, description=__doc__, groups=groups,
                help="Reddit submissions dumps → WebText-like URL table (Parquet) for build --select-urls")
    groups[UrlTableConfig.IO].add_argument(
        "--strict", action="store_true", help="exit 1 when any input file could not be read to its end")
