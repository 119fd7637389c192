"""Token shards: the flat, memory-mappable token arrays that pretraining reads.

One `.tok` file per input Parquet shard (same base name), and a `manifest.json` beside them:

    tokens/
      manifest.json
      train/part-00000-of-00004.tok ...
      validation/part-00000-of-00001.tok

Byte layout of a `.tok` file (all integers little-endian):

    offset  size  field
    0       8     magic  b"CCTOKENS"
    8       4     version (uint32, currently 1)
    12      4     item size of a token in bytes (uint32): 2 = uint16, 4 = uint32
    16      8     num_tokens (uint64)
    24      8     num_docs (uint64)
    32      8     vocab_size (uint64)
    40      8     eos_id (uint64)
    48      64    tokenizer hash: ASCII (sha256 hex of the tokenizer file), NUL-padded
    112     4     CRC-32 of bytes 0..111 (catches a corrupt or hand-edited header)
    116     12    reserved, zero
    128     ...   tokens: num_tokens items of the dtype above; every document is followed by eos_id
    ...     0-7   zero padding so that the index starts on an 8-byte boundary
    ...     ...   document index: num_docs + 1 int64 offsets into tokens; document i, with its
                  trailing eos, is tokens[offsets[i]:offsets[i+1]]; offsets[0] == 0 and
                  offsets[-1] == num_tokens

The file size is therefore fully determined by the header, which is how a truncated or
over-long file is caught before anything is mapped. The dtype is uint16 exactly when
vocab_size <= 65536. Writing is deterministic (same documents → same bytes) and atomic
(`storage.atomic_writer`: a temporary file in the same directory, synced, then renamed).

This module depends only on numpy so that `pretrain/` can read shards without the
tokenizer libraries.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError

MAGIC = b"CCTOKENS"
VERSION = 1
HEADER_SIZE = 128
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "cleancrawl-tokens"
MANIFEST_VERSION = 1
SHARD_SUFFIX = ".tok"

# magic, version, itemsize, num_tokens, num_docs, vocab_size, eos_id, hash
_HEADER_STRUCT = struct.Struct("<8sIIQQQQ64s")
_CRC_STRUCT = struct.Struct("<I")
_HASH_FIELD_SIZE = 64
_ITEMSIZE_TO_DTYPE = {2: "uint16", 4: "uint32"}
_LITTLE_ENDIAN = {"uint16": "<u2", "uint32": "<u4"}
_WRITE_CHUNK_TOKENS = 1 << 20  # flush the token buffer to disk every ~1M tokens


class TokenShardError(UserError, ValueError):
    """A token shard or manifest that cannot be read as asked (corrupt, wrong tokenizer, ...).

    A ValueError for library callers, and a UserError so the CLI prints one line.
    """


@dataclass(frozen=True)
class TokenShardHeader:
    version: int
    dtype: str            # "uint16" | "uint32"
    num_tokens: int
    num_docs: int
    vocab_size: int
    eos_id: int
    tokenizer_hash: str


def dtype_for_vocab(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 65536 else "uint32"


def _index_offset(num_tokens: int, itemsize: int) -> int:
    end_of_tokens = HEADER_SIZE + num_tokens * itemsize
    return (end_of_tokens + 7) // 8 * 8


def _expected_file_size(num_tokens: int, num_docs: int, itemsize: int) -> int:
    return _index_offset(num_tokens, itemsize) + 8 * (num_docs + 1)


def _pack_header(header: TokenShardHeader) -> bytes:
    hash_bytes = header.tokenizer_hash.encode("ascii")
    itemsize = np.dtype(header.dtype).itemsize
    body = _HEADER_STRUCT.pack(
        MAGIC, header.version, itemsize, header.num_tokens, header.num_docs,
        header.vocab_size, header.eos_id, hash_bytes.ljust(_HASH_FIELD_SIZE, b"\0"),
    )
    packed = body + _CRC_STRUCT.pack(zlib.crc32(body))
    return packed.ljust(HEADER_SIZE, b"\0")


def _unpack_header(raw: bytes, path: str) -> TokenShardHeader:
    if len(raw) < HEADER_SIZE:
        raise TokenShardError(f"{path}: not a token shard (file is {len(raw)} bytes, shorter than a header)")
    if raw[:8] != MAGIC:
        raise TokenShardError(f"{path}: not a token shard (bad magic {raw[:8]!r}, expected {MAGIC!r})")
    body = raw[: _HEADER_STRUCT.size]
    (stored_crc,) = _CRC_STRUCT.unpack_from(raw, _HEADER_STRUCT.size)
    if zlib.crc32(body) != stored_crc:
        raise TokenShardError(f"{path}: corrupt token shard header (checksum mismatch)")
    _, version, itemsize, num_tokens, num_docs, vocab_size, eos_id, hash_bytes = _HEADER_STRUCT.unpack(body)
    if version != VERSION:
        raise TokenShardError(f"{path}: token shard version {version} is not supported (this reader knows {VERSION})")
    if itemsize not in _ITEMSIZE_TO_DTYPE:
        raise TokenShardError(f"{path}: corrupt token shard header (token size {itemsize} bytes)")
    if not 0 <= eos_id < vocab_size or itemsize != np.dtype(dtype_for_vocab(vocab_size)).itemsize:
        raise TokenShardError(f"{path}: corrupt token shard header (eos {eos_id}, vocabulary {vocab_size}, "
                              f"{itemsize}-byte tokens do not fit together)")
    return TokenShardHeader(
        version=version,
        dtype=_ITEMSIZE_TO_DTYPE[itemsize],
        num_tokens=num_tokens,
        num_docs=num_docs,
        vocab_size=vocab_size,
        eos_id=eos_id,
        tokenizer_hash=hash_bytes.rstrip(b"\0").decode("ascii", errors="replace"),
    )


# ---------------------------------------------------------------------------------------------
# Writing


def _check_write_args(vocab_size: int, eos_id: int, tokenizer_hash: str) -> None:
    if not 0 < vocab_size <= 2**32:
        raise ValueError(f"vocab_size {vocab_size} out of range (1..2**32)")
    if not 0 <= eos_id < vocab_size:
        raise ValueError(f"eos_id {eos_id} not in the vocabulary (size {vocab_size})")
    if len(tokenizer_hash.encode("ascii")) > _HASH_FIELD_SIZE:
        raise ValueError(f"tokenizer_hash longer than {_HASH_FIELD_SIZE} ASCII characters")


def _as_ids(doc: Sequence[int], doc_index: int) -> np.ndarray:
    """One document's ids as a flat integer array (an encoder's int32 array as it is, no copy)."""
    ids = doc if isinstance(doc, np.ndarray) and doc.dtype in _EXACT_IN_INT64 else np.asarray(doc, dtype=np.int64)
    if ids.ndim != 1:
        raise ValueError(f"document {doc_index}: token ids must be a flat sequence")
    return ids


_EXACT_IN_INT64 = tuple(np.dtype(t) for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"))


def _batch_tokens(ids: list[np.ndarray], first_doc: int, dtype: str, vocab_size: int,
                  eos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Documents' ids, each followed by eos, as one little-endian array in the shard's dtype, and
    each document's length with its eos: one range check and one cast for the whole batch."""
    flat = np.concatenate([part for doc in ids for part in (doc, eos)], dtype=np.int64)
    lengths = np.fromiter((doc.size + 1 for doc in ids), dtype=np.int64, count=len(ids))
    if flat.min() < 0 or flat.max() >= vocab_size:  # eos is in range: a document's id is not
        position = int(np.argmax((flat < 0) | (flat >= vocab_size)))
        doc_index = first_doc + int(np.searchsorted(np.cumsum(lengths), position, side="right"))
        raise ValueError(f"document {doc_index}: token id out of range for vocab_size {vocab_size}")
    return flat.astype(_LITTLE_ENDIAN[dtype]), lengths


def write_token_shard(
    path: str, docs: Iterable[Sequence[int]], *, vocab_size: int, eos_id: int, tokenizer_hash: str
) -> TokenShardHeader:
    """Write documents' token ids as one shard, each followed by `eos_id`; return its header.

    Streams: documents are consumed one at a time and written about every million tokens; only
    the document index (8 bytes per document) is held for the whole shard. Written to a temporary
    file and renamed into place.
    """
    _check_write_args(vocab_size, eos_id, tokenizer_hash)

    def batches():
        pending, pending_tokens = [], 0
        for i, doc in enumerate(docs):
            pending.append(_as_ids(doc, i))
            pending_tokens += pending[-1].size + 1
            if pending_tokens >= _WRITE_CHUNK_TOKENS:
                yield pending
                pending, pending_tokens = [], 0
        if pending:
            yield pending

    return write_token_shard_batches(path, batches(), vocab_size=vocab_size, eos_id=eos_id,
                                     tokenizer_hash=tokenizer_hash)


def write_token_shard_batches(
    path: str, batches: Iterable[Sequence[Sequence[int]]], *, vocab_size: int, eos_id: int, tokenizer_hash: str
) -> TokenShardHeader:
    """`write_token_shard` for documents that come in batches (an encoder's output for a batch of
    texts: lists of ids or integer arrays): each batch is checked, converted and written whole,
    without numpy calls per document. The same documents give the same bytes either way."""
    _check_write_args(vocab_size, eos_id, tokenizer_hash)
    dtype = dtype_for_vocab(vocab_size)
    eos = np.array([eos_id], dtype=np.int64)
    lengths: list[np.ndarray] = []
    num_docs = 0
    with storage.atomic_writer(path) as f:  # local: a real file, so the header is written last by seeking back
        f.write(b"\0" * HEADER_SIZE)  # placeholder until the counts are known
        for batch in batches:
            ids = [_as_ids(doc, num_docs + i) for i, doc in enumerate(batch)]
            if not ids:
                continue
            tokens, batch_lengths = _batch_tokens(ids, num_docs, dtype, vocab_size, eos)
            f.write(tokens.data)
            lengths.append(batch_lengths)
            num_docs += len(ids)
        offsets = np.zeros(num_docs + 1, dtype="<i8")
        if lengths:
            np.cumsum(np.concatenate(lengths), out=offsets[1:])
        num_tokens = int(offsets[-1])
        itemsize = np.dtype(dtype).itemsize
        f.write(b"\0" * (_index_offset(num_tokens, itemsize) - HEADER_SIZE - num_tokens * itemsize))
        f.write(offsets.data)
        header = TokenShardHeader(
            version=VERSION, dtype=dtype, num_tokens=num_tokens, num_docs=num_docs,
            vocab_size=vocab_size, eos_id=eos_id, tokenizer_hash=tokenizer_hash,
        )
        f.seek(0)
        f.write(_pack_header(header))
    return header


# ---------------------------------------------------------------------------------------------
# Reading


def read_header(path: str) -> TokenShardHeader:
    """The header of a shard, checked (magic, version, checksum, file size) but without mapping it."""
    try:
        with open(path, "rb") as f:
            raw = f.read(HEADER_SIZE)
            actual = os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        raise TokenShardError(f"{path}: no such token shard") from None
    except OSError as err:
        raise TokenShardError(f"{path}: cannot read token shard ({err.strerror or err})") from None
    header = _unpack_header(raw, path)
    itemsize = np.dtype(header.dtype).itemsize
    expected = _expected_file_size(header.num_tokens, header.num_docs, itemsize)
    if actual != expected:
        raise TokenShardError(
            f"{path}: token shard is {actual} bytes but its header says {expected} "
            f"({header.num_tokens} tokens, {header.num_docs} documents): truncated or corrupt"
        )
    return header


def read_document_lengths(fileobj, path: str) -> np.ndarray:
    """Tokens per document (each counting its eos) from a shard's header and index alone.

    `fileobj` is any seekable binary file (local, or remote through pyarrow or Beam): the
    tokens themselves are skipped, so this reads 8 bytes a document.
    """
    fileobj.seek(0)
    header = _unpack_header(fileobj.read(HEADER_SIZE), path)
    fileobj.seek(_index_offset(header.num_tokens, np.dtype(header.dtype).itemsize))
    expected = 8 * (header.num_docs + 1)
    raw = fileobj.read(expected)
    if len(raw) != expected:
        raise TokenShardError(f"{path}: token shard is truncated (document index {len(raw)} of {expected} bytes)")
    offsets = np.frombuffer(raw, dtype="<i8")
    lengths = np.diff(offsets)
    if offsets[0] != 0 or offsets[-1] != header.num_tokens or (lengths.size and lengths.min() <= 0):
        raise TokenShardError(f"{path}: corrupt document index")
    return lengths


class TokenShard:
    """A memory-mapped token shard: `tokens`, `doc_offsets`, and one `document(i)` at a time."""

    def __init__(self, path: str, expected_tokenizer_hash: str | None = None):
        self.path = path
        self.header = read_header(path)
        if expected_tokenizer_hash is not None and self.header.tokenizer_hash != expected_tokenizer_hash:
            raise TokenShardError(
                f"{path}: written with tokenizer {self.header.tokenizer_hash[:12]}…, "
                f"not the expected {expected_tokenizer_hash[:12]}…: re-tokenize with the tokenizer you use"
            )
        h = self.header
        itemsize = np.dtype(h.dtype).itemsize
        if h.num_tokens:
            self.tokens = np.memmap(path, dtype=_LITTLE_ENDIAN[h.dtype], mode="r",
                                    offset=HEADER_SIZE, shape=(h.num_tokens,))
        else:
            self.tokens = np.zeros(0, dtype=_LITTLE_ENDIAN[h.dtype])
        self.doc_offsets = np.memmap(path, dtype="<i8", mode="r",
                                     offset=_index_offset(h.num_tokens, itemsize), shape=(h.num_docs + 1,))
        self._check_index()
        self._check_range()

    def _check_index(self) -> None:
        offsets, h = self.doc_offsets, self.header
        if offsets[0] != 0 or offsets[-1] != h.num_tokens:
            raise TokenShardError(
                f"{self.path}: corrupt document index (runs {offsets[0]}..{offsets[-1]}, "
                f"header says 0..{h.num_tokens})"
            )
        if h.num_docs and not np.all(np.diff(offsets) > 0):
            raise TokenShardError(f"{self.path}: corrupt document index (offsets not increasing)")
        if h.num_docs and not np.all(self.tokens[offsets[1:] - 1] == h.eos_id):
            raise TokenShardError(f"{self.path}: corrupt token shard (a document does not end with eos)")

    def _check_range(self) -> None:
        """Every token id inside the vocabulary: one flipped value would otherwise surface as an
        IndexError in the embedding many steps into a run. One vectorised pass over the map
        (about 0.1 s for 100M uint16 tokens in the page cache, and as fast as the disk otherwise)."""
        vocab = self.header.vocab_size
        if not self.header.num_tokens or int(self.tokens.max()) < vocab:
            return
        position = int(np.argmax(self.tokens >= vocab))
        document = int(np.searchsorted(self.doc_offsets, position, side="right")) - 1
        raise TokenShardError(
            f"{self.path}: corrupt token shard (token {position}, in document {document}, is id "
            f"{int(self.tokens[position])}, outside the vocabulary of {vocab}): re-tokenize"
        )

    def __len__(self) -> int:
        return self.header.num_docs

    def document(self, i: int) -> np.ndarray:
        """Tokens of document i, its trailing eos included."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"document {i} out of range ({len(self)} documents)")
        i %= len(self)
        return self.tokens[self.doc_offsets[i]: self.doc_offsets[i + 1]]

    def __repr__(self) -> str:
        h = self.header
        return f"TokenShard({self.path!r}, {h.num_docs} docs, {h.num_tokens} {h.dtype} tokens)"


# ---------------------------------------------------------------------------------------------
# Manifest


def write_manifest(tokens_dir: str, manifest: dict) -> None:
    """Write `manifest.json` atomically, keys sorted so equal manifests are equal bytes."""
    full = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, **manifest}
    data = json.dumps(full, indent=2, sort_keys=True) + "\n"
    storage.write_atomically(os.path.join(tokens_dir, MANIFEST_NAME), data.encode("utf-8"))


def read_manifest(tokens_dir: str) -> dict:
    path = os.path.join(tokens_dir, MANIFEST_NAME)
    if not os.path.exists(path):
        raise TokenShardError(f"{tokens_dir}: no {MANIFEST_NAME} (not a token directory, or tokenizing did not finish)")
    with open(path, "rb") as f:
        return parse_manifest(f.read(), path)


def parse_manifest(raw: bytes, path: str) -> dict:
    """A manifest's bytes, checked: format, version, and the fields readers rely on."""
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as err:
        raise TokenShardError(f"{path}: not valid JSON ({err})") from None
    except UnicodeDecodeError:
        raise TokenShardError(f"{path}: not valid JSON (not UTF-8 text)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise TokenShardError(f"{path}: not a cleancrawl token manifest (no \"format\": \"{MANIFEST_FORMAT}\")")
    if manifest.get("version") != MANIFEST_VERSION:
        raise TokenShardError(f"{path}: manifest version {str(manifest.get('version'))[:20]!r} is not supported "
                              f"(this reader knows {MANIFEST_VERSION})")
    check_manifest(manifest, path)
    return manifest


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_manifest(manifest: dict, path: str, need_tokenizer: bool = True) -> None:
    """The fields readers use, with the right types; every shard a relative path inside the token
    directory, listed once (a shard listed twice would be trained on twice as often). Readers that
    only count (`stats`) need no tokenizer fields."""
    tok = manifest.get("tokenizer")
    if need_tokenizer and not (isinstance(tok, dict) and isinstance(tok.get("hash"), str)
                               and _is_count(tok.get("vocab_size"))
                               and _is_count(tok.get("eos_id")) and tok["eos_id"] < tok["vocab_size"]):
        raise TokenShardError(f"{path}: corrupt manifest (its tokenizer needs a hash, a vocab_size and an "
                              f"eos_id inside the vocabulary)")
    splits = manifest.get("splits")
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise TokenShardError(f"{path}: corrupt manifest (splits must map each split to a list of shards)")
    seen: dict[str, str] = {}
    for split, entries in splits.items():
        for i, entry in enumerate(entries):
            where = f"{path}: splits.{split}[{i}]"
            if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                    and _is_count(entry.get("num_tokens")) and _is_count(entry.get("num_docs"))):
                raise TokenShardError(f"{where}: corrupt manifest entry (needs path, num_tokens and num_docs)")
            relative = os.path.normpath(entry["path"])
            if os.path.isabs(entry["path"]) or relative == ".." or relative.startswith("../") or relative == ".":
                raise TokenShardError(f"{where}: shard path {entry['path']!r} is not inside the token directory")
            if relative in seen:
                raise TokenShardError(f"{path}: lists the shard {entry['path']!r} twice ({seen[relative]} and "
                                      f"splits.{split}[{i}]); each shard may be read once")
            seen[relative] = f"splits.{split}[{i}]"
