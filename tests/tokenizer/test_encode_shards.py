"""`tokenize`: one token shard per Parquet shard, agreeing with the text, deterministic."""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.layout import SUCCESS_MARKER, list_shards
from cleancrawl.storage import iter_texts
from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus
from cleancrawl.tokenizer.model import load_tokenizer
from cleancrawl.tokenizer.token_shards import TokenShard, TokenShardError, read_manifest


@pytest.fixture(scope="module")
def sp_tokens(tmp_path_factory, trained, corpus_dir):
    out = str(tmp_path_factory.mktemp("tokens") / "sp")
    result = tokenize_corpus(TokenizeConfig(trained["sentencepiece-unigram"], corpus_dir, out, workers=2),
                             progress=False)
    return out, result


def _files(directory: str) -> dict[str, bytes]:
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            found[os.path.relpath(path, directory)] = open(path, "rb").read()
    return found


def test_one_shard_per_parquet_shard_and_a_manifest(sp_tokens, trained, corpus_dir):
    out, result = sp_tokens
    manifest = read_manifest(out)
    tok = load_tokenizer(trained["sentencepiece-unigram"])
    assert manifest["tokenizer"]["hash"] == tok.hash
    assert manifest["tokenizer"]["eos_id"] == tok.eos_id == 1
    assert manifest["tokenizer"]["vocab_size"] == tok.vocab_size
    assert [e["path"] for e in manifest["splits"]["train"]] == [
        "train/part-00000-of-00002.tok", "train/part-00001-of-00002.tok"]
    assert [e["path"] for e in manifest["splits"]["validation"]] == ["validation/part-00000-of-00001.tok"]
    assert sorted(os.listdir(out)) == ["manifest.json", "tokenizer", "train", "validation"]
    with open(os.path.join(out, manifest["tokenizer"]["copy"]), "rb") as f:  # its tokenizer, byte for byte
        assert hashlib.sha256(f.read()).hexdigest() == tok.hash
    assert result.documents == sum(1 for _ in iter_texts(list_shards(corpus_dir, split=None)))


@pytest.mark.parametrize("split", ["train", "validation"])
def test_shards_agree_with_the_text_and_the_manifest(sp_tokens, trained, corpus_dir, split):
    out, _ = sp_tokens
    tok = load_tokenizer(trained["sentencepiece-unigram"])
    entries = read_manifest(out)["splits"][split]
    for entry, parquet in zip(entries, list_shards(corpus_dir, split=split)):
        shard = TokenShard(os.path.join(out, entry["path"]), expected_tokenizer_hash=tok.hash)
        texts = list(iter_texts([parquet]))
        assert shard.header.num_tokens == entry["num_tokens"] == len(shard.tokens) == shard.doc_offsets[-1]
        assert shard.header.num_docs == entry["num_docs"] == len(shard) == len(texts)
        assert shard.tokens.dtype == np.uint16
        # every document ends with eos, and eos appears nowhere else: the index is the only way in
        assert (shard.tokens == tok.eos_id).sum() == len(texts)
        for i in range(0, len(texts), 7):
            doc = shard.document(i)
            assert doc[-1] == tok.eos_id
            assert tok.decode(doc[:-1]) == texts[i]


def test_same_input_gives_byte_identical_output_whatever_the_workers(sp_tokens, trained, corpus_dir, tmp_path):
    out, _ = sp_tokens
    again = str(tmp_path / "again")
    tokenize_corpus(TokenizeConfig(trained["sentencepiece-unigram"], corpus_dir, again, workers=1), progress=False)
    first, second = _files(out), _files(again)
    assert first.keys() == second.keys()
    for name in first:
        if name != "manifest.json":  # the manifest names the output's own location
            assert first[name] == second[name], name
    assert read_manifest(out)["splits"] == read_manifest(again)["splits"]


def test_byte_bpe_shards_decode_back_to_the_pages(trained, corpus_dir, tmp_path):
    out = str(tmp_path / "bbpe")
    validation = os.path.join(corpus_dir, "validation")
    tokenize_corpus(TokenizeConfig(trained["byte-bpe"], validation, out, workers=1), progress=False)
    manifest = read_manifest(out)
    assert list(manifest["splits"]) == ["validation"]  # a bare split directory keeps its split
    tok = load_tokenizer(trained["byte-bpe"])
    shard = TokenShard(os.path.join(out, manifest["splits"]["validation"][0]["path"]), tok.hash)
    texts = list(iter_texts(list_shards(validation)))
    assert [tok.decode(shard.document(i)[:-1]) for i in range(len(shard))] == texts


def test_reading_with_another_tokenizer_fails_clearly(sp_tokens, trained):
    out, _ = sp_tokens
    other = load_tokenizer(trained["byte-bpe"])
    with pytest.raises(TokenShardError, match="re-tokenize"):
        TokenShard(os.path.join(out, "train", "part-00000-of-00002.tok"), expected_tokenizer_hash=other.hash)


def test_refuses_existing_output_and_partial_corpus(sp_tokens, trained, corpus_dir, tmp_path):
    out, _ = sp_tokens
    with pytest.raises(UserError, match="--overwrite"):
        tokenize_corpus(TokenizeConfig(trained["byte-bpe"], corpus_dir, out, workers=1), progress=False)
    assert read_manifest(out)["tokenizer"]["kind"] == "sentencepiece-unigram"  # untouched
    partial = str(tmp_path / "partial")
    shutil.copytree(corpus_dir, partial)
    os.remove(os.path.join(partial, SUCCESS_MARKER))
    with pytest.raises(UserError, match="_SUCCESS"):
        tokenize_corpus(TokenizeConfig(trained["byte-bpe"], partial, str(tmp_path / "t"), workers=1), progress=False)


def test_split_directories_are_named_by_their_split_however_written(corpus_dir, tmp_path):
    from cleancrawl.tokenizer.encode_shards import plan_jobs

    for written in ("validation", "validation/", "validation/.", "train/../validation"):
        jobs = plan_jobs(os.path.join(corpus_dir, written), str(tmp_path))
        assert jobs and {j.split for j in jobs} == {"validation"}, written
    assert {j.split for j in plan_jobs(corpus_dir, str(tmp_path))} == {"train", "validation"}
