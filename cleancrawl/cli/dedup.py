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

from cleancrawl import options
from cleancrawl.cli.common import add_command, add_workers_argument, with_direct_workers
from cleancrawl.corpus.safe_text import safe
from cleancrawl.pipelines.dedup_config import IO, DedupRunConfig


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
    config = options.from_args(DedupRunConfig, args)
    from cleancrawl.pipelines.dedup_run import run_dedup  # Beam is imported only when a dedup runs

    stats = run_dedup(config, with_direct_workers(args.workers, args.pipeline_args))
    print_summary(stats, config.output)
    return 0


def register(subparsers) -> None:
    groups: dict = {}
    add_command(subparsers, "dedup", DedupRunConfig, _run,
                help="deduplicate an existing Parquet corpus (MinHash, C4 lines/spans)",
                description=__doc__, pipeline_options=True, groups=groups)
    add_workers_argument(groups[IO])
