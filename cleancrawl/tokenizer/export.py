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
output folder must be empty or hold only an earlier export's files (replaced with
`overwrite`); a folder holding anything else is refused and nothing in it is deleted.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass

import numpy as np

from cleancrawl.corpus.errors import UserError
from cleancrawl.tokenizer.token_shards import TokenShard, read_manifest

FORMATS = ("llmc", "nanogpt", "npy")
EXPORT_MANIFEST = "export.json"
LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_INTS = 256
UINT16_LIMIT = 65536                      # token ids 0..65535
SPLIT_NAMES = {"train": "train", "validation": "val"}  # the names llm.c and nanoGPT use
_COPY_TOKENS = 1 << 22                    # tokens copied per write
# What an export writes (and so what --overwrite may replace); temporary names included.
_OURS = re.compile(r"^\.?((train|val)(_\d{6})?\.(bin|npy)|export\.json)(\.tmp-\d+)?$")


@dataclass
class ExportResult:
    output: str
    format: str
    files: list[dict]                     # {"path", "split", "num_tokens"}, in write order


def _split_name(split: str) -> str:
    return SPLIT_NAMES.get(split, split)


def _check_output(tokens_dir: str, output: str, overwrite: bool) -> list[str]:
    """The earlier export's files to replace; UserError for a folder we may not write."""
    if os.path.realpath(output) == os.path.realpath(tokens_dir):
        raise UserError(f"--output {output} is the token directory itself; write somewhere else")
    if os.path.exists(output) and not os.path.isdir(output):
        raise UserError(f"{output}: exists and is not a directory")
    if not os.path.isdir(output):
        return []
    names = sorted(os.listdir(output))
    foreign = [n for n in names if not (_OURS.match(n) and os.path.isfile(os.path.join(output, n)))]
    if foreign:
        raise UserError(f"{output}: holds {foreign[0]!r}, which an export did not write; "
                        "choose an empty or new folder (nothing was deleted)")
    if names and not overwrite:
        raise UserError(f"{output}: exists and is not empty (use --overwrite to replace its export)")
    return names


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


class _AtomicFile:
    """A file written under a temporary name in its folder and renamed into place on success."""

    def __init__(self, path: str):
        self.path = path
        self.tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp-{os.getpid()}")

    def __enter__(self):
        self.file = open(self.tmp, "wb")
        return self.file

    def __exit__(self, kind, *_):
        self.file.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        elif os.path.exists(self.tmp):
            os.remove(self.tmp)


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
            with _AtomicFile(os.path.join(output, name)) as f:
                f.write(llmc_header(n))
                _copy_tokens(shard, f, "<u2")
            files.append({"path": name, "split": split, "num_tokens": n})
            index += 1
    return files


def _write_nanogpt(output: str, shards: dict[str, list[TokenShard]]) -> list[dict]:
    files = []
    for split, split_shards in shards.items():
        name = f"{_split_name(split)}.bin"
        with _AtomicFile(os.path.join(output, name)) as f:
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
        with _AtomicFile(os.path.join(output, name)) as f:
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
    manifest = read_manifest(tokens_dir)
    shards = _shards_by_split(tokens_dir, manifest)
    _check_vocabulary(fmt, manifest, shards)
    old = _check_output(tokens_dir, output, overwrite)
    for name in old:  # only an earlier export's own files (checked above)
        os.remove(os.path.join(output, name))
    os.makedirs(output, exist_ok=True)
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
    with _AtomicFile(os.path.join(output, EXPORT_MANIFEST)) as f:
        f.write((json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return ExportResult(output=output, format=fmt, files=files)


# ---------------------------------------------------------------------------------------------
# CLI: cleancrawl tokens export


def _run_export(args) -> int:
    result = export_tokens(args.tokens, args.output, args.format, overwrite=args.overwrite)
    for entry in result.files:
        print(f"{entry['split']}: {entry['num_tokens']:,} tokens → {os.path.join(result.output, entry['path'])}")
        if entry["num_tokens"] == 0:
            print(f"cleancrawl tokens export: warning: {entry['path']} holds no tokens (the {entry['split']} split "
                  "is empty); a trainer cannot read from it", file=sys.stderr)
    print(f"wrote {os.path.join(result.output, EXPORT_MANIFEST)}")
    return 0


def register(subparsers) -> None:
    tokens = subparsers.add_parser("tokens", help="work with token directories written by `tokenize`")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION")
    actions.required = True
    p = actions.add_parser("export", help="copy token shards to llm.c, nanoGPT or .npy files")
    p.add_argument("--tokens", required=True, help="token directory written by `cleancrawl tokenize`")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="llmc: llm.c .bin shards; nanogpt: train.bin/val.bin (uint16); npy: train.npy/val.npy")
    p.add_argument("--output", required=True, help="folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --output")
    p.set_defaults(func=_run_export)
