"""Token shard format: layout, index, determinism, atomic writes, and clear errors on bad files."""
from __future__ import annotations

import os

import numpy as np
import pytest

from cleancrawl.tokenizer.token_shards import (
    HEADER_SIZE,
    MAGIC,
    TokenShard,
    TokenShardError,
    read_header,
    read_manifest,
    write_manifest,
    write_token_shard,
)

HASH = "9f" * 32


def _docs_from_text(path: str, n: int = 200) -> list[list[int]]:
    """Real-looking token sequences: UTF-8 bytes of the first n non-empty lines of a real text."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()][:n]
    return [list(line.encode("utf-8")) for line in lines]


@pytest.fixture
def docs(tmp_path) -> list[list[int]]:
    here = os.path.dirname(__file__)
    return _docs_from_text(os.path.join(here, "..", "data", "text", "botchan.txt"))


def test_header_and_index_agree_with_the_documents(tmp_path, docs):
    path = str(tmp_path / "part-00000-of-00001.tok")
    header = write_token_shard(path, docs, vocab_size=300, eos_id=257, tokenizer_hash=HASH)
    shard = TokenShard(path, expected_tokenizer_hash=HASH)

    assert shard.header == header == read_header(path)
    assert header.dtype == "uint16" and shard.tokens.dtype == np.uint16
    assert header.num_docs == len(shard) == len(docs)
    assert header.num_tokens == sum(len(d) + 1 for d in docs) == len(shard.tokens)
    assert shard.doc_offsets.dtype == np.int64 and len(shard.doc_offsets) == len(docs) + 1
    assert shard.doc_offsets[-1] == header.num_tokens
    for i, doc in enumerate(docs):
        assert shard.document(i).tolist() == doc + [257]
    assert isinstance(shard.tokens, np.memmap)


def test_dtype_follows_vocab_size(tmp_path):
    small = write_token_shard(str(tmp_path / "a.tok"), [[65535]], vocab_size=65536, eos_id=0, tokenizer_hash=HASH)
    large = write_token_shard(str(tmp_path / "b.tok"), [[65536, 99999]], vocab_size=100000, eos_id=0,
                              tokenizer_hash=HASH)
    assert small.dtype == "uint16" and large.dtype == "uint32"
    assert TokenShard(str(tmp_path / "b.tok")).document(0).tolist() == [65536, 99999, 0]


def test_written_twice_is_byte_identical_and_leaves_no_temporary_files(tmp_path, docs):
    a, b = str(tmp_path / "a.tok"), str(tmp_path / "b.tok")
    write_token_shard(a, docs, vocab_size=300, eos_id=257, tokenizer_hash=HASH)
    write_token_shard(b, iter(docs), vocab_size=300, eos_id=257, tokenizer_hash=HASH)
    assert open(a, "rb").read() == open(b, "rb").read()
    assert sorted(os.listdir(tmp_path)) == ["a.tok", "b.tok"]


def test_a_failed_write_keeps_the_old_shard(tmp_path, docs):
    path = str(tmp_path / "a.tok")
    write_token_shard(path, docs, vocab_size=300, eos_id=257, tokenizer_hash=HASH)
    before = open(path, "rb").read()
    with pytest.raises(ValueError, match="out of range"):
        write_token_shard(path, docs + [[1000]], vocab_size=300, eos_id=257, tokenizer_hash=HASH)
    assert open(path, "rb").read() == before
    assert os.listdir(tmp_path) == ["a.tok"]


def test_empty_documents_and_empty_shards(tmp_path):
    path = str(tmp_path / "a.tok")
    write_token_shard(path, [[], [5], []], vocab_size=10, eos_id=1, tokenizer_hash=HASH)
    shard = TokenShard(path)
    assert shard.tokens.tolist() == [1, 5, 1, 1]
    assert shard.document(1).tolist() == [5, 1]
    write_token_shard(path, [], vocab_size=10, eos_id=1, tokenizer_hash=HASH)
    assert len(TokenShard(path)) == 0


def _corrupt(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


@pytest.fixture
def shard_path(tmp_path, docs) -> str:
    path = str(tmp_path / "a.tok")
    write_token_shard(path, docs, vocab_size=300, eos_id=257, tokenizer_hash=HASH)
    return path


def test_another_tokenizer_is_refused(shard_path):
    with pytest.raises(TokenShardError, match="written with tokenizer 9f9f"):
        TokenShard(shard_path, expected_tokenizer_hash="ab" * 32)


def test_bad_magic_is_refused(shard_path):
    _corrupt(shard_path, 0, b"GARBAGE!")
    with pytest.raises(ValueError, match="bad magic"):
        TokenShard(shard_path)


def test_a_flipped_header_byte_is_refused(shard_path):
    _corrupt(shard_path, 20, b"\x07")  # inside num_tokens
    with pytest.raises(ValueError, match="corrupt token shard header"):
        TokenShard(shard_path)


def test_a_truncated_shard_is_refused(shard_path):
    size = os.path.getsize(shard_path)
    with open(shard_path, "r+b") as f:
        f.truncate(size - 8)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        TokenShard(shard_path)


def test_a_corrupt_index_is_refused(shard_path):
    size = os.path.getsize(shard_path)
    _corrupt(shard_path, size - 16, np.array([3], dtype="<i8").tobytes())  # offsets[-2]
    with pytest.raises(ValueError, match="corrupt"):
        TokenShard(shard_path)


def test_not_a_shard_at_all(tmp_path):
    path = tmp_path / "x.tok"
    path.write_bytes(MAGIC[:4])
    with pytest.raises(ValueError, match="shorter than a header"):
        TokenShard(str(path))
    assert HEADER_SIZE == 128


def test_manifest_round_trip_and_errors(tmp_path):
    manifest = {
        "tokenizer": {"path": "tok/", "kind": "byte-bpe", "hash": HASH, "vocab_size": 300, "eos_id": 257},
        "splits": {"train": [{"path": "train/part-00000-of-00001.tok", "num_tokens": 10, "num_docs": 2}]},
    }
    write_manifest(str(tmp_path), manifest)
    back = read_manifest(str(tmp_path))
    assert back["format"] == "cleancrawl-tokens" and back["version"] == 1
    assert back["splits"] == manifest["splits"] and back["tokenizer"] == manifest["tokenizer"]
    with pytest.raises(ValueError, match="no manifest.json"):
        read_manifest(str(tmp_path / "elsewhere"))
