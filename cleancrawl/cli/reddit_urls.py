"""`cleancrawl reddit-urls`: Reddit submissions dumps → the WebText-like URL table (Parquet).

    cleancrawl reddit-urls --submissions 'RS_2019-*.zst' --min-score 3 --output urls/
    cleancrawl build --select-urls urls/ --output webtextlike/

Writes OUT/part-*.parquet (one row per normalised URL: reddit_score, reddit_submissions,
subreddits, first_created_utc, …), OUT/_stats.json (lines read, skipped with file and
line number, filtered by reason) and OUT/_SUCCESS. Plain Python with a process pool (one
file a process), not Beam: see corpus/reddit.py for why and for the memory bound.
"""
from __future__ import annotations

import argparse
import sys

from cleancrawl.selection.reddit import LinkFilter, UrlTableConfig, build_url_table
from cleancrawl.corpus.safe_text import safe


def add_reddit_arguments(parser: argparse.ArgumentParser) -> None:
    io = parser.add_argument_group("input and output")
    io.add_argument("--submissions", action="append", default=[], metavar="PATH_OR_GLOB",
                    help="Pushshift submissions dumps: JSON lines, zstd (long window)/xz/bz2/gzip/plain, "
                         "or Parquet with the same fields; local, gs://, s3://; repeatable")
    io.add_argument("--url-list", action="append", default=[], metavar="PATH_OR_GLOB",
                    help="plain URL lists, one URL a line (as OpenWebText distributes); no score, "
                         "so --min-score does not apply to them; repeatable")
    io.add_argument("--output", required=True, help="output directory for the URL table")
    io.add_argument("--overwrite", action="store_true", help="replace an existing URL table in --output")
    io.add_argument("--strict", action="store_true", help="exit 1 when any input file could not be read to its end")

    rules = parser.add_argument_group("which submissions count (defaults: GPT-2's WebText)")
    rules.add_argument("--min-score", type=int, default=LinkFilter.min_score,
                       help="keep a URL whose best submission scored at least this (default: %(default)s)")
    rules.add_argument("--keep-self-posts", action="store_true", help="count self (text) posts")
    rules.add_argument("--keep-reddit-links", action="store_true", help="count links to reddit.com / redd.it")
    rules.add_argument("--keep-media-links", action="store_true",
                       help="count links to image/video hosts (imgur, youtube, …) and media files")
    rules.add_argument("--drop-over-18", action="store_true", help="do not count submissions marked NSFW")

    run = parser.add_argument_group("execution")
    run.add_argument("--workers", type=int, default=0, help="processes (default: one per core)")
    run.add_argument("--partitions", type=int, default=0,
                     help="output parts = aggregation partitions (default: one per 512 MB of input); "
                          "memory per worker is about one partition's submissions")
    run.add_argument("--tmp-dir", default=None, help="local directory for the spill files (default: system temp)")
    run.add_argument("--max-skipped-listed", type=int, default=1000,
                     help="skipped lines listed with file and line number, per file (all are counted)")


def config_from_args(args: argparse.Namespace) -> UrlTableConfig:
    return UrlTableConfig(
        submissions=tuple(args.submissions),
        url_lists=tuple(args.url_list),
        output=args.output,
        link_filter=LinkFilter(
            min_score=args.min_score,
            keep_self_posts=args.keep_self_posts,
            keep_reddit_links=args.keep_reddit_links,
            keep_media_links=args.keep_media_links,
            drop_over_18=args.drop_over_18,
        ),
        partitions=args.partitions,
        workers=args.workers,
        max_listed=args.max_skipped_listed,
        overwrite=args.overwrite,
        tmp_dir=args.tmp_dir,
    )


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
    print(f"{t['urls']} distinct URLs; kept {t['urls_kept']} with score >= {stats['config']['link_filter']['min_score']} "
          f"({t['urls_below_min_score']} below)", file=out)
    print(f"wrote {safe(output)}/ ({len(stats['parts'])} part(s), _stats.json, _SUCCESS)", file=out)


def _run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    stats = build_url_table(config)
    print_summary(stats, config.output)
    return 1 if args.strict and stats["file_errors"] else 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reddit-urls",
        help="Reddit submissions dumps → WebText-like URL table (Parquet) for build --select-urls",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_reddit_arguments(parser)
    parser.set_defaults(func=_run)
