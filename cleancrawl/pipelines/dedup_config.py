"""Options of the dedup stage (pipelines.dedup), without importing Beam, so that the CLI's
parser stays quick to import: `--dedup` and the MinHash options, and the DedupConfig they give."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field

from cleancrawl.corpus.columns import Columns
from cleancrawl.corpus.dedup import DEFAULT_METHODS, VERIFY_MODES, DedupConfig, parse_methods


def add_minhash_arguments(group) -> None:
    d = DedupConfig()
    group.add_argument("--minhash-threshold", type=float, default=None, metavar="J",
                       help=f"Jaccard similarity at which two documents are near-duplicates (default: {d.threshold}); "
                            "without --minhash-bands/--minhash-rows, also chooses bands x rows for it")
    group.add_argument("--minhash-bands", type=int, default=None, metavar="B",
                       help=f"LSH bands (default: {d.bands}, or chosen for --minhash-threshold)")
    group.add_argument("--minhash-rows", type=int, default=None, metavar="R",
                       help=f"signature values per band (default: {d.rows}, or chosen for --minhash-threshold)")
    group.add_argument("--minhash-num-perm", type=int, default=d.num_perm, metavar="N",
                       help="signature length, >= bands x rows (default: %(default)s)")
    group.add_argument("--minhash-ngram", type=int, default=d.ngram, metavar="N",
                       help="words per shingle, after lowercasing and removing punctuation (default: %(default)s)")
    group.add_argument("--minhash-verify", choices=VERIFY_MODES, default=d.verify,
                       help="check candidate pairs before merging them: exact Jaccard of the shingle sets, "
                            "the signature estimate, or none (every LSH candidate is a duplicate) (default: %(default)s)")
    group.add_argument("--minhash-seed", type=int, default=d.seed, help="seed of the hash functions (default: %(default)s)")
    group.add_argument("--minhash-cc-rounds", type=int, default=d.cc_rounds, metavar="N",
                       help="large-star/small-star round pairs for the clusters (default: %(default)s)")


def add_dedup_arguments(parser: argparse.ArgumentParser) -> None:
    """`--dedup` and the MinHash options, for `cleancrawl build`."""
    group = parser.add_argument_group("deduplication (after clean, before language ID)")
    group.add_argument("--dedup", default=",".join(DEFAULT_METHODS), metavar="METHODS",
                       help="comma-separated, run in this order: c4-lines (C4's repeated-line removal), "
                            "c4-spans (C4 paper's three-sentence spans), minhash (near-duplicate documents); "
                            "or none (default: %(default)s)")
    add_minhash_arguments(group)


def dedup_config_from_args(args: argparse.Namespace, methods: str | None = None) -> DedupConfig:
    """The DedupConfig of parsed `add_dedup_arguments` options (`methods` overrides --dedup).

    Bands x rows: both given, used as given; one given, the other fills --minhash-num-perm;
    neither, 14 x 8, or chosen for --minhash-threshold when that is given.
    """
    defaults = DedupConfig()
    num_perm = args.minhash_num_perm
    bands, rows = args.minhash_bands, args.minhash_rows
    if bands is None and rows is None:
        bands, rows = defaults.bands, defaults.rows
    elif bands is None:
        bands = max(1, num_perm // rows)
    elif rows is None:
        rows = max(1, num_perm // bands)
    config = DedupConfig(
        methods=parse_methods(methods if methods is not None else args.dedup),
        min_sentences=getattr(args, "min_sentences", defaults.min_sentences),
        ngram=args.minhash_ngram,
        num_perm=num_perm,
        bands=bands,
        rows=rows,
        threshold=args.minhash_threshold if args.minhash_threshold is not None else defaults.threshold,
        verify=args.minhash_verify,
        seed=args.minhash_seed,
        cc_rounds=args.minhash_cc_rounds,
    )
    if args.minhash_threshold is not None and args.minhash_bands is None and args.minhash_rows is None:
        config = config.with_threshold(args.minhash_threshold)
    return config


@dataclass
class DedupRunConfig:
    inputs: list[str]
    output: str
    dedup: DedupConfig = field(default_factory=lambda: DedupConfig(methods=("minhash",)))
    num_shards: int = 0
    shard_bytes: int = 256 << 20
    validation_modulus: int = 1000
    overwrite: bool = False
    allow_partial: bool = False
    columns: Columns = field(default_factory=Columns)  # text/URL/id columns of other tools' Parquet

    def to_dict(self) -> dict:
        values = asdict(self)
        values["dedup"]["methods"] = list(self.dedup.methods)
        return {"command": "dedup", **values}
