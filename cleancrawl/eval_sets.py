"""Eval sets named on the command line: the one reader of `overlap --eval`, `build --decontaminate`
(n-gram overlap, `pipelines.overlap`) and `pretrain --eval` (bits per byte, `pretrain.bpb`).

    --eval NAME=PATH    or    --eval PATH    (NAME: the file name without its suffix)

A source is a text file (one document a line, blank lines skipped; gzip is read by its magic
bytes, not its name; UTF-8), a Parquet file with a `text` column, or a folder: a cleancrawl
corpus, or any folder of Parquet files. Of a corpus, overlap reads every split (a leak anywhere
counts); bits per byte reads the held-out `validation` split, or else every `*.parquet` under
the folder. Local, gs:// or s3:// (through `cleancrawl.storage`).

Every error is one line naming the option and the path (`--eval x.txt: not UTF-8 text (byte 3);
…`), raised before a run writes anything where the caller checks first (`check_source`).
"""
from __future__ import annotations

import glob
import gzip
import os
from typing import Iterator

from cleancrawl import layout, storage
from cleancrawl.corpus.errors import UserError

EMPTY = "holds no text (every line is blank)"


def parse_eval_spec(spec: str, packaged: dict[str, str] | None = None) -> tuple[str, str]:
    """`NAME=PATH` → (NAME, PATH); `PATH` → (its file name without suffix, PATH); a NAME of
    `packaged` ({name: path}, bits per byte's shipped texts) that is no file here → its path."""
    name, sep, path = spec.partition("=")
    if sep and name and "/" not in name and path:
        return name, path
    if packaged and spec in packaged and not storage.exists(spec):
        return spec, packaged[spec]
    base = os.path.basename(spec.rstrip("/")) or spec
    return base.split(".", 1)[0] or base, spec


def parse_eval_specs(specs, option: str = "--eval", packaged: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(NAME, PATH) of every spec; a name given twice is one line."""
    sources, names = [], set()
    for spec in specs:
        name, path = parse_eval_spec(spec, packaged)
        if name in names:
            raise UserError(f"{option} {spec}: the name {name} is given twice (use NAME=PATH)")
        names.add(name)
        sources.append((name, path))
    return sources


# ---------------------------------------------------------------------------------------------
# Where the documents are


def is_folder(path: str) -> bool:
    return os.path.isdir(path) if not storage.is_remote(path) else bool(storage.list_dir(path))


def _parquet_files(pattern: str) -> list[str]:
    try:
        return [p for p, _ in storage.match_files(pattern)]
    except UserError:  # nothing under a remote prefix
        return []


def _parquet_under(path: str) -> list[str]:
    """Every `*.parquet` at any depth under a folder, sorted."""
    if storage.is_remote(path):
        return _parquet_files(storage.join(path, "**.parquet"))  # Beam's `**` crosses folders
    return sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))


def folder_shards(path: str, option: str = "--eval", split: str | None = None) -> list[str]:
    """The Parquet files of a folder source: a finished corpus's shards of every split (`split`
    None, as `layout.list_shards` reads them), or those of `split` where the folder has that
    split's shards, else every `*.parquet` under it."""
    if split is not None:
        return _parquet_files(storage.join(path, split, "*.parquet")) or _parquet_under(path)
    try:
        return layout.list_shards(path, split=None)
    except UserError as err:  # no _SUCCESS, mixed shards: the line names the option too
        said = str(err)
        raise UserError(said if said.startswith(option) else f"{option} {said}") from None


def check_source(path: str, option: str = "--eval", split: str | None = None) -> list[str] | None:
    """One clear line for a path that is no eval source (before anything is run or written).
    Returns a folder's Parquet files (None for a file)."""
    if not is_folder(path):
        if not storage.exists(path):
            raise UserError(f"{option} {path}: no such file or folder")
        return None
    shards = folder_shards(path, option, split)
    if not shards:
        raise UserError(f"{option} {path}: a folder without Parquet shards")
    return shards


# ---------------------------------------------------------------------------------------------
# The documents


def eval_texts(path: str, option: str = "--eval", split: str | None = None) -> Iterator[str]:
    """The documents of one eval source, in a fixed order, blank ones skipped."""
    shards = check_source(path, option, split)
    if shards is not None or path.endswith(".parquet"):
        yield from _parquet_texts(shards or [path], path, option)
        return
    with storage.open_binary(path) as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{option} {path}: not UTF-8 text (byte {err.start}); give a text or Parquet file") from None
    for line in text.splitlines():
        if line.strip():
            yield line


def _parquet_texts(shards: list[str], path: str, option: str) -> Iterator[str]:
    try:
        storage.check_text_shards(shards, options=False)  # no text column, not Parquet: named, before reading
        for text in storage.iter_texts(shards):
            if text and text.strip():
                yield text
    except UserError as err:
        raise UserError(f"{option} {path}: cannot read a text column: {str(err).removeprefix(path + ': ')}") from None
    except (KeyError, ValueError, OSError) as err:
        raise UserError(f"{option} {path}: cannot read a text column ({' '.join(str(err).split())[:200]})") from None


def read_texts(path: str, option: str = "--eval", split: str | None = None) -> list[str]:
    """All the documents of one eval source; one that holds none is one line."""
    texts = list(eval_texts(path, option, split))
    if not texts:
        raise UserError(f"{option} {path}: {EMPTY}")
    return texts
