"""`cleancrawl tokens export`: token shards → llm.c .bin, nanoGPT train.bin/val.bin, .npy.

Each format is read back the way its trainer reads it (llm.c: 256 int32 header then uint16;
nanoGPT: np.memmap uint16; npy: np.load) and compared with the .tok shards token for token.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cleancrawl.cli import main as cli_main
from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus
from cleancrawl.tokenizer.export import export_tokens
from cleancrawl.tokenizer.token_shards import TokenShard, read_manifest, write_manifest, write_token_shard


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, trained, corpus_dir) -> str:
    out = str(tmp_path_factory.mktemp("export") / "tokens")
    tokenize_corpus(TokenizeConfig(tokenizer=trained["byte-bpe"], corpus=corpus_dir, output=out, workers=1),
                    progress=False)
    return out


def _shards(tokens_dir: str) -> dict[str, list[TokenShard]]:
    manifest = read_manifest(tokens_dir)
    return {split: [TokenShard(os.path.join(tokens_dir, e["path"])) for e in entries]
            for split, entries in manifest["splits"].items()}


def _llmc_read(path: str) -> np.ndarray:
    """llm.c's dataloader: header = 256 int32, magic/version checked, then ntok uint16."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        assert header[0] == 20240520 and header[1] == 1
        tokens = np.frombuffer(f.read(), dtype="<u2")
    assert tokens.size == header[2]
    return tokens


def test_llmc_round_trip(tokens, tmp_path):
    out = str(tmp_path / "llmc")
    assert cli_main(["tokens", "export", "--tokens", tokens, "--format", "llmc", "--output", out]) == 0
    shards = _shards(tokens)
    assert len(shards["train"]) == 2 and len(shards["validation"]) == 1
    for split, prefix in (("train", "train"), ("validation", "val")):
        for i, shard in enumerate(shards[split]):
            got = _llmc_read(os.path.join(out, f"{prefix}_{i:06d}.bin"))
            assert np.array_equal(got, shard.tokens)
            assert got[-1] == shard.header.eos_id  # every document ends with <eos>
    record = json.load(open(os.path.join(out, "export.json")))
    assert record["format"] == "llmc" and sum(f["num_tokens"] for f in record["files"]) == \
        sum(s.header.num_tokens for ss in shards.values() for s in ss)


def test_nanogpt_round_trip(tokens, tmp_path):
    out = str(tmp_path / "nanogpt")
    export_tokens(tokens, out, "nanogpt")
    shards = _shards(tokens)
    assert sorted(os.listdir(out)) == ["export.json", "train.bin", "val.bin"]
    for split, name in (("train", "train.bin"), ("validation", "val.bin")):
        data = np.memmap(os.path.join(out, name), dtype=np.uint16, mode="r")  # nanoGPT's get_batch
        assert np.array_equal(data, np.concatenate([s.tokens for s in shards[split]]))
        # document boundaries survive: the eos count is the document count
        assert int((data == shards[split][0].header.eos_id).sum()) == sum(len(s) for s in shards[split])


def test_npy_round_trip(tokens, tmp_path):
    out = str(tmp_path / "npy")
    export_tokens(tokens, out, "npy")
    shards = _shards(tokens)
    for split, name in (("train", "train.npy"), ("validation", "val.npy")):
        data = np.load(os.path.join(out, name), mmap_mode="r")
        assert data.dtype == np.uint16 and data.ndim == 1
        assert np.array_equal(data, np.concatenate([s.tokens for s in shards[split]]))


def _big_vocab_tokens(directory: str) -> str:
    """A real token directory layout whose vocabulary needs uint32 (70,000 ids)."""
    docs = [[1, 2, 69_999], [5, 66_000]]
    header = write_token_shard(os.path.join(directory, "train", "part-00000-of-00001.tok"), docs,
                               vocab_size=70_000, eos_id=0, tokenizer_hash="ab" * 32)
    write_manifest(directory, {
        "tokenizer": {"path": "x", "kind": "byte-bpe", "hash": "ab" * 32, "vocab_size": 70_000, "eos_id": 0},
        "splits": {"train": [{"path": "train/part-00000-of-00001.tok", "num_tokens": header.num_tokens,
                              "num_docs": header.num_docs}]},
        "corpus": "x"})
    return directory


@pytest.mark.parametrize("fmt", ["llmc", "nanogpt"])
def test_uint16_formats_refuse_a_vocabulary_above_65536(tmp_path, capsys, fmt):
    big = _big_vocab_tokens(str(tmp_path / "big"))
    out = tmp_path / "out"
    assert cli_main(["tokens", "export", "--tokens", big, "--format", fmt, "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "70,000" in err and "uint16" in err and "npy" in err
    assert not out.exists()  # refused before anything was written


def test_npy_keeps_uint32_for_a_big_vocabulary(tmp_path):
    big = _big_vocab_tokens(str(tmp_path / "big"))
    export_tokens(big, str(tmp_path / "npy"), "npy")
    data = np.load(str(tmp_path / "npy" / "train.npy"))
    assert data.dtype == np.uint32 and data.tolist() == [1, 2, 69_999, 0, 5, 66_000, 0]


def test_output_rules_overwrite_and_foreign_files(tokens, tmp_path, capsys):
    out = tmp_path / "out"
    export_tokens(tokens, str(out), "nanogpt")
    args = ["tokens", "export", "--tokens", tokens, "--format", "npy", "--output", str(out)]
    assert cli_main(args) == 2 and "--overwrite" in capsys.readouterr().err
    assert cli_main(args + ["--overwrite"]) == 0  # replaces the earlier export's files, all of them
    assert sorted(os.listdir(out)) == ["export.json", "train.npy", "val.npy"]
    (out / "notes.txt").write_text("mine")
    assert cli_main(args + ["--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and err.count("\n") == 1
    assert (out / "notes.txt").read_text() == "mine" and (out / "train.npy").exists()  # nothing deleted
    assert cli_main(["tokens", "export", "--tokens", tokens, "--format", "npy", "--output", tokens]) == 2
    assert cli_main(["tokens", "export", "--tokens", str(tmp_path), "--format", "npy",
                     "--output", str(tmp_path / "x")]) == 2  # not a token directory: one line
    assert not [n for n in os.listdir(out) if ".tmp-" in n]
