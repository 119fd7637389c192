"""Byte-level BPE through tiktoken (fast_bpe): the same ids as `tokenizers`, or `tokenizers` itself.

Id for id on every real page of the sample crawl, the test texts and the hard strings; the
token shards of the sample build byte-identical whichever encoder wrote them (1 and 2 workers);
and tokenizers tiktoken cannot represent exactly go to `tokenizers`, with the reason said.
"""
from __future__ import annotations

import copy
import json
import os

import pytest

from cleancrawl.cli import main
from cleancrawl.tokenizer import fast_bpe
from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus
from cleancrawl.tokenizer.fast_bpe import HARD_STRINGS, TIKTOKEN, TOKENIZERS, fastest_encoding, tiktoken_ranks
from cleancrawl.tokenizer.model import load_tokenizer
from cleancrawl.tokenizer.token_shards import read_manifest

from tokenizer_testdata import TEXT_DIR, botchan_chapters, wet_pages, wikitext_articles

EXTRA_HARD = (
    "\r\n" * 1000, " " * 5000 + "x", "\n \n \n  \n", "Ǆǅǆ ǈ ﬁ ﬀ ß ẞ İı", "a" * 20_000, "-_" * 20_000,
    "😀" * 3000, "٠١٢٣٤٥٦٧٨٩ 〇一二三 ①②③", "'s'S 's's ' s", "\x00\x01\x02\x7f control",
    "x" + " " * 1_000_000 + "y",  # past fast_bpe.LONG_DOCUMENT: tiktoken's regex would overflow
)


def _texts() -> list[str]:
    texts = [t for _, t in wet_pages()] + botchan_chapters() + wikitext_articles()
    for name in sorted(os.listdir(TEXT_DIR)):
        with open(os.path.join(TEXT_DIR, name), encoding="utf-8") as f:
            texts.append(f.read())  # whole files as one document each
    return texts + list(HARD_STRINGS) + list(EXTRA_HARD)


def _assert_same_ids(tokenizer_dir: str) -> None:
    fast = fastest_encoding(load_tokenizer(tokenizer_dir))
    assert (fast.encoder, fast.encoder_reason) == (TIKTOKEN, "")
    hf = fast.tokenizer
    texts = _texts()
    got = fast.encode_batch(texts)
    for text, ids in zip(texts, got):
        assert ids == hf.encode(text), text[:60]


@pytest.fixture(scope="module")
def bpe_8k(tmp_path_factory, corpus_dir) -> str:
    """A larger vocabulary (more merges, more chances to differ), with <unk> (--unk) added."""
    from cleancrawl.tokenizer.train import TokenizerTrainConfig, train_tokenizer

    out = str(tmp_path_factory.mktemp("bpe8k") / "tok")
    train_tokenizer(TokenizerTrainConfig(corpus=corpus_dir, output=out, kind="byte-bpe", vocab_size=8000, unk=True,
                                sample_bytes=None, threads=2), progress=False)
    return out


def test_tiktoken_gives_tokenizers_ids_on_every_real_page_and_hard_string(trained):
    _assert_same_ids(trained["byte-bpe"])


def test_tiktoken_gives_the_same_ids_with_a_larger_vocabulary_and_unk(bpe_8k):
    assert json.load(open(os.path.join(bpe_8k, "cleancrawl-tokenizer.json")))["special_tokens"]["unk"] is not None
    _assert_same_ids(bpe_8k)


# ---------------------------------------------------------------------------------------------
# Token shards: byte-identical whichever encoder wrote them


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("sample") / "build")
    assert main(["build", "--output", out, "--num-shards", "3", "--workers", "1", "-q"]) == 0
    return out


def _shard_bytes(directory: str) -> dict[str, bytes]:
    found = {}
    for root, _, files in os.walk(directory):
        for name in files:
            if name.endswith(".tok"):
                with open(os.path.join(root, name), "rb") as f:
                    found[os.path.relpath(os.path.join(root, name), directory)] = f.read()
    return found


def _force_tokenizers(monkeypatch) -> None:
    monkeypatch.setattr(fast_bpe, "tiktoken_encoder",
                        lambda *a, **k: fast_bpe.EncoderChoice(TOKENIZERS, "forced by the test"))


@pytest.mark.parametrize("workers", [1, 2])
def test_sample_build_token_shards_are_byte_identical_with_tiktoken(sample_build, tmp_path, monkeypatch, capsys,
                                                                     workers):
    tok = str(tmp_path / "tok")
    assert main(["tokenizer", "train", "--corpus", sample_build, "--kind", "byte-bpe", "--vocab-size", "4000",
                 "--threads", "2", "--output", tok, "-q"]) == 0
    fast_out, slow_out = str(tmp_path / "fast"), str(tmp_path / "slow")
    assert main(["tokenize", "--tokenizer", tok, "--corpus", sample_build, "--output", fast_out,
                 "--workers", str(workers)]) == 0
    assert "encoded with tiktoken\n" in capsys.readouterr().out
    assert read_manifest(fast_out)["tokenizer"]["encoder"] == TIKTOKEN
    with monkeypatch.context() as m:
        _force_tokenizers(m)
        result = tokenize_corpus(TokenizeConfig(tok, sample_build, slow_out, workers=workers), progress=False)
    assert (result.encoder, read_manifest(slow_out)["tokenizer"]["encoder"]) == (TOKENIZERS, TOKENIZERS)
    fast, slow = _shard_bytes(fast_out), _shard_bytes(slow_out)
    assert len(fast) == 4 and fast == slow  # 3 train shards and 1 validation


# ---------------------------------------------------------------------------------------------
# What tiktoken cannot represent goes to `tokenizers`


def _spec(trained) -> dict:
    with open(os.path.join(trained["byte-bpe"], "tokenizer.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("change, reason", [
    (lambda s: s.update(normalizer={"type": "NFC"}), "a normalizer ('NFC')"),
    (lambda s: s["pre_tokenizer"].update(add_prefix_space=True), "is not GPT-2's ByteLevel"),
    (lambda s: s["pre_tokenizer"].update(use_regex=False), "is not GPT-2's ByteLevel"),
    (lambda s: s.update(pre_tokenizer={"type": "Whitespace"}), "pre-tokenizer 'Whitespace'"),
    (lambda s: s.update(post_processor={"type": "TemplateProcessing"}), "post-processor 'TemplateProcessing'"),
    (lambda s: s["model"].update(dropout=0.1), "dropout=0.1"),
    (lambda s: s["model"].update(unk_token="<unk>"), "unk_token='<unk>'"),
    (lambda s: s["model"].update(byte_fallback=True), "byte_fallback"),
    (lambda s: s["added_tokens"].append({"id": 1999, "content": "hello", "special": False}), "is not special"),
    (lambda s: s["model"]["merges"].reverse(), "token ids do not follow merge order"),
    (lambda s: s["model"]["vocab"].pop("Ā"), "byte 0x00 has no token"),
    (lambda s: (s["model"].update(ignore_merges=True), s["model"]["vocab"].update({"Ġzzyzx": 1999})),
     "ignore_merges with token 'Ġzzyzx', which no merge makes"),
])
def test_tokenizer_json_tiktoken_cannot_represent_is_named(trained, change, reason):
    spec = copy.deepcopy(_spec(trained))
    assert tiktoken_ranks(spec)[1] == ""
    change(spec)
    ranks, why = tiktoken_ranks(spec)
    assert ranks is None and reason in why


def _write_bpe(path: str, vocab: dict[str, int], merges: list[tuple[str, str]], add_prefix_space=False) -> str:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<eos>", special=True)])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path)
    return path


def _byte_vocab() -> dict[str, int]:
    return {c: i for i, c in enumerate(sorted(fast_bpe._bytes_of_unicode(), key=fast_bpe._bytes_of_unicode().get))}


def test_merges_tiktoken_would_apply_differently_fail_the_self_check(corpus_dir, tmp_path):
    """bc, then ab, then ab+c: `tokenizers` makes "abc" into a|bc (no merge joins them), tiktoken
    would join a+bc because "abc" is a token. The structure passes; the hard strings catch it."""
    vocab = _byte_vocab()
    merges = [("b", "c"), ("a", "b"), ("ab", "c")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    path = _write_bpe(str(tmp_path / "odd" / "tokenizer.json"), vocab, merges)
    with open(path, encoding="utf-8") as f:
        assert tiktoken_ranks(json.load(f))[1] == ""
    fast = fastest_encoding(load_tokenizer(path))
    assert fast.encoder == TOKENIZERS and fast.encoder_reason.startswith("tiktoken's ids differ from tokenizers' on ")
    out = str(tmp_path / "tokens")
    result = tokenize_corpus(TokenizeConfig(path, corpus_dir, out, workers=1), progress=False)
    assert (result.encoder, read_manifest(out)["tokenizer"]["encoder"]) == (TOKENIZERS, TOKENIZERS)


def test_prefix_space_tokenizer_is_encoded_by_tokenizers_and_the_summary_says_why(corpus_dir, tmp_path, capsys):
    vocab = _byte_vocab()
    merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he")]
    for left, right in merges:
        vocab[left + right] = len(vocab)
    path = _write_bpe(str(tmp_path / "prefix" / "tokenizer.json"), vocab, merges, add_prefix_space=True)
    out = str(tmp_path / "tokens")
    assert main(["tokenize", "--tokenizer", path, "--corpus", corpus_dir, "--output", out, "--workers", "1"]) == 0
    assert ("encoded with tokenizers (not tiktoken: pre-tokenizer 'ByteLevel' {'add_prefix_space': True, "
            "'use_regex': True} is not GPT-2's ByteLevel with its regex and no prefix space)"
            in capsys.readouterr().out)


def test_sentencepiece_is_encoded_by_sentencepiece(trained, corpus_dir, tmp_path):
    result = tokenize_corpus(TokenizeConfig(trained["sentencepiece-unigram"], corpus_dir, str(tmp_path / "t"),
                                            workers=1), progress=False)
    assert (result.encoder, result.encoder_reason) == ("sentencepiece", "")
