"""The on-disk layout of a built corpus, and how to read it back.

    OUT/
      train/part-00000-of-00004.parquet ...      documents, DOCUMENT_SCHEMA, zstd
      validation/part-00000-of-00001.parquet
      de/train/…, de/validation/…, und/…         (instead, with --per-language: a language's splits)
      duplicates/part-....parquet                (dedup audit trail, when dedup ran)
      dropped/part-....parquet                   (dropped documents, with --keep-dropped)
      contamination/part-....parquet             (decontamination audit, with --decontaminate)
      _spill/<stage>-<id>.spill                  (while a build runs: documents waiting for a keys-only stage)
      stats.json                                 the funnel: read, kept, dropped by stage and reason
      README.md                                  dataset card (Hugging Face `configs:` of the splits)
      _SUCCESS                                   written last: its absence means a crashed/partial run

Every reader of a corpus (stats, dedup, tokenizer) goes through `list_shards` so that a
partial or mixed output is never mistaken for a finished one. `OutputLayout` says which files
a command owns, so `--overwrite` deletes exactly those (see `cleancrawl.storage`).
"""
from __future__ import annotations

import json
import re

from cleancrawl.corpus.errors import UserError
from cleancrawl.output_folder import TEMP_SUFFIX, OutputLayout
from cleancrawl.storage import exists, filesystems, is_remote, join, list_dir

DUPLICATES_DIR = "duplicates"
DROPPED_DIR = "dropped"
SPILL_DIR = "_spill"  # documents waiting while a keys-only stage shuffles keys (pipelines.spill); gone at _SUCCESS

SUCCESS_MARKER = "_SUCCESS"
SUCCESS_CONTENT = b"cleancrawl: complete\n"  # never empty: S3 refuses zero-byte multipart uploads
STATS_FILE = "stats.json"
SPLITS = ("train", "validation")
SHARD_NAME = re.compile(r"^part-(\d{5})-of-(\d{5})\.parquet$")
# A per-language build (`--per-language`, mC4): OUT/<language>/{train,validation}/, a language code as
# CLD3 and TFDS name them (de, und, zh-Latn, fil).
LANGUAGE_DIR = re.compile(r"^[a-z]{2,3}(-[A-Za-z]{2,8})?$")


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.parquet"


def is_complete(output_dir: str) -> bool:
    return exists(join(output_dir, SUCCESS_MARKER))


def list_shards(corpus_dir: str, split: str | None = "train", allow_partial: bool = False) -> list[str]:
    """Sorted Parquet shard paths of one split of a built corpus (all splits if split is None).

    Also accepts a split directory itself (`out/train`) or a plain directory of Parquet
    files with `url` and `text` columns written by another tool. Raises UserError for a
    corpus whose `_SUCCESS` marker is missing (a crashed or running build) unless
    `allow_partial`.
    """
    corpus_dir = corpus_dir.rstrip("/") or "/"
    # On an object store a "directory" is only a key prefix: it exists when something is under it.
    entries = list_dir(corpus_dir)
    if not entries and not exists(corpus_dir) and not any(list_dir(join(corpus_dir, s)) for s in SPLITS):
        raise UserError(f"{corpus_dir}: no such corpus directory")
    found = split_dirs(corpus_dir, entries)
    if found:  # a cleancrawl build output
        if not allow_partial and SUCCESS_MARKER not in entries:
            raise UserError(
                f"{corpus_dir}: no {SUCCESS_MARKER} marker: the build that wrote it did not finish "
                "(rerun it with --overwrite)"
            )
        wanted = found if split is None else [s for s in found if s.rpartition("/")[2] == split] or [split]
        names = {s: [n for n in list_dir(join(corpus_dir, s)) if SHARD_NAME.match(n)] for s in wanted}
        if SUCCESS_MARKER in entries and STATS_FILE in entries:
            extra, missing = shards_not_of_run(corpus_dir, names)
            if extra or missing:
                raise UserError(f"{corpus_dir}: {mixed_shards_message(extra, missing)}")
        return [join(corpus_dir, s, n) for s in wanted for n in names[s]]
    # a split directory, or any directory of parquet files
    return [join(corpus_dir, n) for n in entries if n.endswith(".parquet")]


def split_dirs(corpus_dir: str, entries: list[str] | None = None) -> list[str]:
    """The split folders of a built corpus, relative to it: `train`, `validation`, and in a
    per-language build `<language>/train`, `<language>/validation` (sorted by language)."""
    entries = list_dir(corpus_dir) if entries is None else entries
    # Probe the split folders by name: object stores (gs://, s3://) list files, not folders.
    found = [s for s in SPLITS if s in entries or (is_remote(corpus_dir) and list_dir(join(corpus_dir, s)))]
    for name in sorted(entries):
        name = name.rstrip("/")
        if LANGUAGE_DIR.match(name):
            inner = list_dir(join(corpus_dir, name))
            found += [f"{name}/{s}" for s in SPLITS if s in inner or s + "/" in inner]
    return found


def shards_not_of_run(corpus_dir: str, names_by_split: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(shards present that the run recorded in stats.json did not write, shards it wrote that are
    missing), as `split/name`. The run's shards are `part-i-of-N` for i < N, N its `splits.*.shards`;
    a stats.json without shard counts (another tool, an old build) checks nothing."""
    try:
        splits = read_stats(corpus_dir).get("splits") or {}
    except Exception:
        return [], []
    extra, missing = [], []
    for split, present in names_by_split.items():
        count = (splits.get(split) or {}).get("shards")
        if not isinstance(count, int):
            continue
        expected = {shard_name(i, count) for i in range(count)}
        extra += [f"{split}/{n}" for n in sorted(set(present) - expected)]
        missing += [f"{split}/{n}" for n in sorted(expected - set(present))]
    return extra, missing


def mixed_shards_message(extra: list[str], missing: list[str]) -> str:
    def some(names: list[str]) -> str:
        return names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")

    parts = []
    if extra:
        parts.append(f"shard {some(extra)} not written by the run recorded in stats.json: "
                     "two runs wrote into this folder")
    if missing:
        parts.append(f"shard {some(missing)} of the run recorded in stats.json is missing")
    return "; ".join(parts) + "; rebuild it with --overwrite"


def read_stats(corpus_dir: str) -> dict:
    path = join(corpus_dir, STATS_FILE)
    if is_remote(path):
        with filesystems().open(path) as f:
            return json.loads(f.read().decode("utf-8"))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


_SHARD_FILE = r"^\.?part-\d{5}-of-\d{5}\.parquet" + TEMP_SUFFIX + "$"
_SPILL_FILE = r"^[A-Za-z0-9_-]+-[0-9a-f]{16}\.spill$"


def corpus_layout(command: str = "build") -> OutputLayout:
    """A built corpus, as `build` and `dedup` write it (the layout at the top of this module)."""
    return OutputLayout(command, r"^\.?(stats\.json|_SUCCESS|README\.md)" + TEMP_SUFFIX + "$",  # README: dataset card
                        {"train": _SHARD_FILE, "validation": _SHARD_FILE, "duplicates": _SHARD_FILE,
                         "dropped": _SHARD_FILE, "contamination": _SHARD_FILE, SPILL_DIR: _SPILL_FILE},
                        noun="build", nested=(LANGUAGE_DIR.pattern, {split: _SHARD_FILE for split in SPLITS}))
    # dropped/: --keep-dropped; contamination/: --decontaminate's audit; <language>/{train,validation}: --per-language


CORPUS_LAYOUT = corpus_layout()


PIECE_FILE = "piece.json"
PIECE_DOCUMENTS_DIR = "documents"


def piece_layout() -> OutputLayout:
    """One piece of a build (`build --piece`, `pipelines.pieces`): piece.json, its pages, _SUCCESS."""
    return OutputLayout("build --piece", r"^\.?(piece\.json|_SUCCESS)" + TEMP_SUFFIX + "$",
                        {PIECE_DOCUMENTS_DIR: _SHARD_FILE}, noun="piece")
