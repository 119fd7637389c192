"""Training: output files and ids, reproducible sampling, determinism, and user errors."""
from __future__ import annotations

import json
import os

import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.layout import SUCCESS_MARKER, list_shards
from cleancrawl.storage import iter_texts
from cleancrawl.tokenizer.model import METADATA_NAME, file_sha256, load_tokenizer
from cleancrawl.tokenizer.train import SampleStats, TokenizerTrainConfig, sample_documents, train_tokenizer

from tokenizer_testdata import KINDS, VOCAB_SIZE, train_small


@pytest.mark.parametrize("kind", KINDS)
def test_writes_a_standard_tokenizer_file_with_metadata(trained, kind):
    directory = trained[kind]
    meta = json.load(open(os.path.join(directory, METADATA_NAME)))
    expected_file = "tokenizer.json" if kind == "byte-bpe" else "tokenizer.model"
    assert meta["file"] == expected_file and meta["kind"] == kind
    assert meta["sha256"] == file_sha256(os.path.join(directory, expected_file))
    assert meta["vocab_size"] == VOCAB_SIZE
    assert 0 < meta["training"]["sample"]["bytes_sampled"] <= 1_000_000
    tok = load_tokenizer(directory)
    assert tok.kind == kind and tok.vocab_size == VOCAB_SIZE
    assert (tok.pad_id, tok.eos_id) == (0, 1)
    assert meta["special_tokens"]["sentinels"] == ["<extra_id_0>", "<extra_id_1>", "<extra_id_2>"]


def test_sentencepiece_ids_follow_t5_and_sentinels_are_control_symbols(trained):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=os.path.join(trained["sentencepiece-unigram"], "tokenizer.model"))
    assert [sp.id_to_piece(i) for i in range(3)] == ["<pad>", "<eos>", "<unk>"]
    sentinel = sp.piece_to_id("<extra_id_0>")
    assert sp.is_control(sentinel)
    # Text that looks like a sentinel is text: the sentinel id is only ever inserted by code.
    assert sentinel not in sp.encode("masked <extra_id_0> span")


def test_byte_bpe_loads_in_plain_tokenizers_and_special_tokens_are_atomic(trained):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(trained["byte-bpe"], "tokenizer.json"))
    assert tok.token_to_id("<eos>") == 1 and tok.token_to_id("<extra_id_2>") is not None
    assert tok.pre_tokenizer.__class__.__name__ == "ByteLevel"
    # 256 byte symbols are in the vocabulary, so nothing can be unknown
    vocab = tok.get_vocab()
    from tokenizers.pre_tokenizers import ByteLevel
    assert all(ch in vocab for ch in ByteLevel.alphabet())


def test_sample_is_reproducible_and_bounded(corpus_dir):
    paths = list_shards(corpus_dir)
    total = sum(len(t.encode()) for t in iter_texts(paths))

    def sample(seed):
        stats = SampleStats()
        return list(sample_documents(paths, 400_000, seed, stats)), stats

    first, stats = sample(0)
    again, _ = sample(0)
    other, _ = sample(1)
    assert first == again
    assert first != other
    assert 300_000 < stats.bytes_sampled <= 400_000
    assert stats.bytes_sampled == sum(len(t.encode()) for t in first)
    # the metadata estimate is close to the real size of the text
    assert 0.95 < stats.corpus_bytes_estimate / total < 1.1
    # no sample limit: every document, in stored order
    all_stats = SampleStats()
    assert list(sample_documents(paths, None, 0, all_stats)) == list(iter_texts(paths))


@pytest.mark.parametrize("kind", ["sentencepiece-bpe", "byte-bpe"])
def test_training_twice_gives_the_same_file(corpus_dir, tmp_path, kind):
    a = train_small(corpus_dir, str(tmp_path / "a"), kind)
    b = train_small(corpus_dir, str(tmp_path / "b"), kind)
    name = "tokenizer.json" if kind == "byte-bpe" else "tokenizer.model"
    assert file_sha256(os.path.join(a, name)) == file_sha256(os.path.join(b, name))


def test_refuses_a_partial_corpus(corpus_dir, tmp_path):
    import shutil

    partial = str(tmp_path / "partial")
    shutil.copytree(corpus_dir, partial)
    os.remove(os.path.join(partial, SUCCESS_MARKER))
    with pytest.raises(UserError, match="_SUCCESS"):
        train_small(partial, str(tmp_path / "tok"), "byte-bpe")


def test_user_errors(corpus_dir, tmp_path):
    with pytest.raises(UserError, match="too small"):
        train_tokenizer(TokenizerTrainConfig(corpus=corpus_dir, output=str(tmp_path / "t"), kind="byte-bpe",
                                             vocab_size=100))
    with pytest.raises(UserError, match="unknown tokenizer kind"):
        train_tokenizer(TokenizerTrainConfig(corpus=corpus_dir, output=str(tmp_path / "t"), kind="wordpiece"))
    with pytest.raises(UserError, match="Vocabulary size is smaller than required_chars"):
        train_tokenizer(TokenizerTrainConfig(corpus=corpus_dir, output=str(tmp_path / "t"), vocab_size=400,
                                    kind="sentencepiece-bpe", threads=2), progress=False)
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "file").write_text("keep me")
    with pytest.raises(UserError, match="--overwrite"):
        train_small(corpus_dir, str(existing), "byte-bpe")
    assert (existing / "file").read_text() == "keep me"
