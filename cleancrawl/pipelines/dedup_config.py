"""Options of `cleancrawl dedup` (pipelines.dedup_run), without importing Beam, so that the CLI's
parser stays quick to import. The MinHash and `--dedup` options are DedupConfig's own fields
(cleancrawl/corpus/dedup/__init__.py); the fields' metadata are the command-line options
(cleancrawl/options.py)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from cleancrawl.corpus.columns import Columns
from cleancrawl.corpus.dedup import DedupConfig
from cleancrawl.options import option

IO = "input and output"


@dataclass
class DedupRunConfig:
    OPTION_GROUPS = (IO,)

    inputs: list[str] = option(flag="--input", list="repeat", metavar="SHARDS", group=IO, required=True,
                               default_factory=list, help=(
        "corpus directory, split directory, directory of Parquet files, or Parquet files/globs "
        "(repeatable); needs url and text columns"))
    output: str = option(None, group=IO, required=True, help="output directory (same layout as cleancrawl build)")
    dedup: DedupConfig = option(
        default_factory=lambda: DedupConfig(methods=("minhash",)), group="deduplication",
        help="the dedup methods and their options",
        override={"methods": dict(flag=("--method", "--dedup"), help=(
            "comma-separated: minhash, c4-lines, c4-spans (run in the order c4-lines, c4-spans, minhash) "
            "(default: %(default)s)"))})
    num_shards: int = option(0, group=IO, help="train shards (default 0: one per --shard-bytes of text)")
    shard_bytes: int = option(256 << 20, group=IO, help="target text bytes a shard (default: %(default)s)")
    validation_modulus: int = option(1000, group=IO, help=(
        "validation split when md5(normalized_url) %% N == 0 (default: %(default)s)"))
    overwrite: bool = option(False, group=IO, help="replace an existing output directory")
    allow_partial: bool = option(False, group=IO, help=(
        "read a cleancrawl output that has no _SUCCESS marker (an unfinished build)"))
    columns: Columns = option(default_factory=Columns, help="text/URL/id columns of other tools' Parquet")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["dedup"]["methods"] = list(self.dedup.methods)
        return {"command": "dedup", **values}
