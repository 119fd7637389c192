"""`cleancrawl dedup`: deduplicate an existing Parquet corpus on its own.

    cleancrawl dedup --input SHARDS --method minhash --output OUT

SHARDS is a cleancrawl output directory (every split is read), one split directory, any
directory of Parquet files, or Parquet file paths/globs (repeatable; local, gs://, s3://).
Only `url` and `text` columns are required; missing columns get their defaults, a missing
`source_file` becomes the shard's path and `source_offset` the row's index in it (so every
row has a unique, auditable id). The survivors are written as `cleancrawl build` writes
them: OUT/{train,validation}/part-*.parquet (split by md5(normalized_url) as C4 does),
OUT/duplicates/ (MinHash audit trail), OUT/stats.json, then OUT/_SUCCESS.

Beam pipeline options pass through (`--runner`, `--direct_num_workers`, ...).
"""
from __future__ import annotations

import argparse

from cleancrawl.corpus import columns
from cleancrawl.corpus.safe_text import safe
from cleancrawl.cli.build import add_workers_argument, with_direct_workers
from cleancrawl.pipelines.dedup_config import DedupRunConfig, add_minhash_arguments, dedup_config_from_args

def print_summary(stats: dict, output: str) -> None:
    totals = stats["totals"]
    print(f"read {totals['read']} documents; kept {totals['kept']}, dropped {totals['dropped']} "
          f"({'balanced' if totals['balanced'] else 'UNBALANCED'})")
    for reason, slot in stats["dropped"].get("dedup", {}).items():
        print(f"  dedup/{safe(reason)}: {slot['documents']} documents, {slot['bytes']} bytes")
    events = stats["events"].get("dedup", {})
    if "minhash:clusters" in events:
        print(f"  minhash: {events['minhash:clusters']} clusters, "
              f"{events.get('minhash:candidate_pairs', 0)} candidate pairs, "
              f"{events.get('minhash:verified_pairs', events.get('minhash:candidate_pairs', 0))} kept as duplicates")
    print(f"wrote {safe(output)}/ (train/, validation/, duplicates/, stats.json, _SUCCESS)")


def _run(args: argparse.Namespace) -> int:
    config = DedupRunConfig(
        inputs=args.inputs,
        output=args.output,
        dedup=dedup_config_from_args(args, methods=args.method),
        num_shards=args.num_shards,
        shard_bytes=args.shard_bytes,
        validation_modulus=args.validation_modulus,
        overwrite=args.overwrite,
        allow_partial=args.allow_partial,
        columns=columns.from_args(args),
    )
    from cleancrawl.pipelines.dedup_run import run_dedup  # Beam is imported only when a dedup runs

    stats = run_dedup(config, with_direct_workers(args.workers, args.pipeline_args))
    print_summary(stats, config.output)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dedup",
        help="deduplicate an existing Parquet corpus (MinHash, C4 lines/spans)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", action="append", dest="inputs", required=True, metavar="SHARDS",
                    help="corpus directory, split directory, directory of Parquet files, or Parquet files/globs "
                         "(repeatable); needs url and text columns")
    io.add_argument("--output", required=True, help="output directory (same layout as cleancrawl build)")
    io.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    add_workers_argument(io)
    io.add_argument("--allow-partial", action="store_true",
                    help="read a cleancrawl output that has no _SUCCESS marker (an unfinished build)")
    io.add_argument("--num-shards", type=int, default=0,
                    help="train shards (default 0: one per --shard-bytes of text)")
    io.add_argument("--shard-bytes", type=int, default=256 << 20, help="target text bytes a shard (default: %(default)s)")
    io.add_argument("--validation-modulus", type=int, default=1000,
                    help="validation split when md5(normalized_url) %% N == 0 (default: %(default)s)")
    columns.add_arguments(parser)
    methods = parser.add_argument_group("deduplication")
    methods.add_argument("--method", "--dedup", dest="method", default="minhash", metavar="METHODS",
                         help="comma-separated: minhash, c4-lines, c4-spans (run in the order c4-lines, "
                              "c4-spans, minhash) (default: %(default)s)")
    methods.add_argument("--min-sentences", type=int, default=3,
                         help="c4-lines/c4-spans: drop pages left with fewer Punkt sentences (default: %(default)s)")
    add_minhash_arguments(methods)
    parser.set_defaults(func=_run, accepts_pipeline_options=True, dedup=None)
