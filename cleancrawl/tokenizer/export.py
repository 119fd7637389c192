"""`cleancrawl tokens export`: token shards → the files other trainers read.

    --format llmc      llm.c (`train_gpt2.c -i/-j`): one .bin per token shard,
                       train_000000.bin ... val_000000.bin; a 256 × int32 header (magic
                       20240520, version 1, token count, zeros) then the tokens as uint16
    --format nanogpt   nanoGPT (`train.py`, `data/<name>/`): train.bin and val.bin, raw uint16
                       tokens, every shard of a split one after the other
    --format npy       plain NumPy: train.npy and val.npy (`np.load(..., mmap_mode="r")`), the
                       token shards' own dtype (uint16, or uint32 above 65,536 tokens)

The tokens are copied exactly as `cleancrawl tokenize` wrote them — each document followed by
the tokenizer's `<eos>` — in manifest order, so exporting never re-encodes text and one token
directory can be exported to several formats. `export.json` (format, tokenizer, files, token
counts) is written last. An export from an empty split (zero tokens) writes nothing for llm.c,
whose loader cannot open such a file, and an empty file for the others.

Each file is written to a temporary name in the output folder and renamed into place. The
output folder follows every command's rules (`output_folder.prepare_output_folder`): empty, or holding
only an earlier export's files (replaced with `overwrite`); a folder holding anything else is
refused and nothing in it is deleted; one export at a time (its lock).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from cleancrawl import output_folder, storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.options import option
from cleancrawl.tokenizer.token_shards import TokenShard, read_manifest

FORMATS = ("llmc", "nanogpt", "npy")
EXPORT_MANIFEST = "export.json"
LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_INTS = 256
UINT16_LIMIT = 65536                      # token ids 0..65535
SPLIT_NAMES = {"train": "train", "validation": "val"}  # the names llm.c and nanoGPT use
_COPY_TOKENS = 1 << 22                    # tokens copied per write
# What an export writes (and so what --overwrite may replace); export.json last
EXPORT_LAYOUT = output_folder.OutputLayout("tokens export", r"^((train|val)(_\d{6})?\.(bin|npy)|export\.json)$",
                                     marker=EXPORT_MANIFEST, noun="export")


@dataclass
class ExportConfig:
    """`cleancrawl tokens export`."""

    tokens: str = option(help="token directory written by `cleancrawl tokenize`")
    format: str = option(choices=FORMATS, help=(
        "llmc: llm.c .bin shards; nanogpt: train.bin/val.bin (uint16); npy: train.npy/val.npy"))
    output: str = option(help="folder to write")
    overwrite: bool = option(False, help="replace an earlier export in --output")


@dataclass
class ExportResult:
    output: str
    format: str
    files: list[dict]                     # {"path", "split", "num_tokens"}, in write order


def _split_name(split: str) -> str:
    return SPLIT_NAMES.get(split, split)


def _shards_by_split(tokens_dir: str, manifest: dict) -> dict[str, list[TokenShard]]:
    expected_hash = manifest["tokenizer"]["hash"]
    return {split: [TokenShard(os.path.join(tokens_dir, e["path"]), expected_hash) for e in entries]
            for split, entries in manifest["splits"].items()}


def _check_vocabulary(fmt: str, manifest: dict, shards: dict[str, list[TokenShard]]) -> None:
    if fmt == "npy":
        return
    vocab = max([manifest["tokenizer"]["vocab_size"]] + [s.header.vocab_size for ss in shards.values() for s in ss])
    if vocab > UINT16_LIMIT:
        raise UserError(f"--format {fmt} stores tokens as uint16, which cannot hold a vocabulary of "
                        f"{vocab:,} (at most {UINT16_LIMIT:,}); use --format npy")


def _copy_tokens(shard: TokenShard, f, dtype: str) -> None:
    tokens = shard.tokens
    for start in range(0, tokens.size, _COPY_TOKENS):
        f.write(np.ascontiguousarray(tokens[start: start + _COPY_TOKENS], dtype=dtype).tobytes())


def llmc_header(num_tokens: int) -> bytes:
    header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
    header[:3] = (LLMC_MAGIC, LLMC_VERSION, num_tokens)
    return header.tobytes()


def _write_llmc(output: str, shards: dict[str, list[TokenShard]]) -> list[dict]:
    files = []
    for split, split_shards in shards.items():
        index = 0
        for shard in split_shards:
            n = shard.header.num_tokens
            if n == 0:  # llm.c's loader refuses a shard with fewer tokens than one batch
                continue
            if n >= 2**31:
                raise UserError(f"{shard.path}: {n:,} tokens do not fit llm.c's int32 token count")
            name = f"{_split_name(split)}_{index:06d}.bin"
            with storage.atomic_writer(os.path.join(output, name)) as f:
                f.write(llmc_header(n))
                _copy_tokens(shard, f, "<u2")
            files.append({"path": name, "split": split, "num_tokens": n})
            index += 1
    return files


def _write_nanogpt(output: str, shards: dict[str, list[TokenShard]]) -> list[dict]:
    files = []
    for split, split_shards in shards.items():
        name = f"{_split_name(split)}.bin"
        with storage.atomic_writer(os.path.join(output, name)) as f:
            for shard in split_shards:
                _copy_tokens(shard, f, "<u2")
        files.append({"path": name, "split": split, "num_tokens": sum(s.header.num_tokens for s in split_shards)})
    return files


def _write_npy(output: str, shards: dict[str, list[TokenShard]]) -> list[dict]:
    files = []
    for split, split_shards in shards.items():
        name = f"{_split_name(split)}.npy"
        total = sum(s.header.num_tokens for s in split_shards)
        widest = max((np.dtype(s.header.dtype).itemsize for s in split_shards), default=2)
        dtype = np.dtype("<u2" if widest == 2 else "<u4")
        with storage.atomic_writer(os.path.join(output, name)) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (total,)})
            for shard in split_shards:
                _copy_tokens(shard, f, dtype.str)
        files.append({"path": name, "split": split, "num_tokens": total})
    return files


_WRITERS = {"llmc": _write_llmc, "nanogpt": _write_nanogpt, "npy": _write_npy}


def export_tokens(tokens_dir: str, output: str, fmt: str, overwrite: bool = False) -> ExportResult:
    """Copy a token directory's shards, split by split, into `fmt`'s files under `output`."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    if storage.is_remote(output):
        raise UserError(f"--output {output}: exports are written to a local folder")
    manifest = read_manifest(tokens_dir)
    shards = _shards_by_split(tokens_dir, manifest)
    _check_vocabulary(fmt, manifest, shards)
    # the rules every command writes by: no input inside, no foreign file, --overwrite for its own, a lock
    with output_folder.prepare_output_folder(output, EXPORT_LAYOUT, overwrite, inputs=[tokens_dir]):
        os.makedirs(output, exist_ok=True)
        return _export(tokens_dir, output, fmt, manifest, shards)


def _export(tokens_dir: str, output: str, fmt: str, manifest: dict, shards) -> ExportResult:
    files = _WRITERS[fmt](output, shards)
    tokenizer = manifest["tokenizer"]
    record = {
        "format": fmt,
        "dtype": "uint16" if fmt != "npy" else None,
        "tokens": os.path.abspath(tokens_dir),
        "tokenizer": {k: tokenizer.get(k) for k in ("kind", "hash", "vocab_size", "eos_id")},
        "documents_end_with": "eos_id",
        "files": files,
    }
    with storage.atomic_writer(os.path.join(output, EXPORT_MANIFEST)) as f:
        f.write((json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return ExportResult(output=output, format=fmt, files=files)
