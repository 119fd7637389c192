"""The tokenizer kinds' registry: a `Kind` line in model.KIND_REGISTRY (file, loader, options) and
an `@trainer` function in train.py; --kind, training and loading follow from them."""
import dataclasses

import pytest

from cleancrawl.tokenizer import model, train


def test_every_kind_has_a_trainer_a_loader_and_options_of_its_own():
    assert model.KINDS == ("sentencepiece-unigram", "sentencepiece-bpe", "byte-bpe")
    assert set(train.TRAINERS) == set(model.KINDS)
    fields = {f.name for f in dataclasses.fields(train.TokenizerTrainConfig)}
    for kind in model.KIND_REGISTRY.values():
        assert set(kind.options) <= fields, kind
    assert not set(model.KIND_REGISTRY["byte-bpe"].options) & set(model.KIND_REGISTRY["sentencepiece-bpe"].options)


def test_files_are_loaded_by_their_kind_s_loader():
    assert model.kind_of_file("x/tokenizer.json").loader is model.HFTokenizer
    assert model.kind_of_file("x/tokenizer.model").loader is model.SentencePieceTokenizer
    assert model.kind_of_file("t5/spiece.model").loader is model.SentencePieceTokenizer


def test_a_trainer_for_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="not in model.KIND_REGISTRY"):
        train.trainer("wordpiece")(lambda *a: b"")
