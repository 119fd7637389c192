"""BERT's masking (`pretrain.masking`): the 80/10/10 corruption, and masks keyed to the text,
static or dynamic across epochs, as the mlm and bert-style objectives read them."""
from __future__ import annotations

import numpy as np
import pytest

from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.data import TokenStream, load_corpus, plan_data
from cleancrawl.pretrain.masking import BERT_SPLIT, Masking, bert_corrupt, token_uniforms

from .conftest import VOCAB

MASK = VOCAB  # the mask token: the first id above the tokenizer's


def draws(n: int, rounds=0, seed: int = 0, shard: int = 0) -> np.ndarray:
    return token_uniforms(seed, np.full(n, shard), np.arange(n), np.full(n, rounds))


def test_bert_corruption_picks_15_percent_and_splits_them_80_10_10():
    n = 400_000
    tokens = np.arange(n) % 256
    corrupted, noise = bert_corrupt(tokens, draws(n), 0.15, MASK, VOCAB)
    assert noise.mean() == pytest.approx(0.15, abs=0.003)
    picked = noise.sum()
    masked = (corrupted == MASK).sum()
    changed = ((corrupted != tokens) & (corrupted != MASK)).sum()
    assert not ((corrupted != tokens) & ~noise).any()            # nothing outside the picks changes
    assert masked / picked == pytest.approx(BERT_SPLIT[0], abs=0.006)
    # A random replacement equals the original 1 time in 257: those count as kept.
    assert changed / picked == pytest.approx(BERT_SPLIT[1] * (1 - 1 / VOCAB), abs=0.005)
    assert 1 - (masked + changed) / picked == pytest.approx(BERT_SPLIT[2] + BERT_SPLIT[1] / VOCAB, abs=0.005)
    replaced = corrupted[(corrupted != tokens) & (corrupted != MASK)]
    assert replaced.min() >= 0 and replaced.max() < VOCAB and len(np.unique(replaced)) > 250  # any id, not the mask


def test_draws_are_a_function_of_seed_place_and_round_alone():
    a = token_uniforms(3, np.array([0, 1, 0]), np.array([5, 5, 6]), np.array([0, 0, 0]))
    again = token_uniforms(3, np.array([0]), np.array([5]), np.array([0]))
    assert np.array_equal(a[0], again[0])                        # the same token, alone or in a batch
    assert len({tuple(row) for row in a}) == 3                   # other shard, other offset: other draws
    assert not np.array_equal(draws(100, rounds=1), draws(100, rounds=0))
    assert not np.array_equal(draws(100, seed=1), draws(100, seed=0))
    u = draws(100_000)
    assert (u >= 0).all() and (u < 1).all() and abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.02


def test_rounds_dynamic_follow_the_epoch_static_cycle_through_the_copies():
    epochs = np.arange(7)
    assert list(Masking("dynamic").rounds(epochs)) == list(epochs)
    assert list(Masking("static").rounds(epochs)) == [0] * 7
    assert list(Masking("static", copies=3).rounds(epochs)) == [0, 1, 2, 0, 1, 2, 0]
    assert Masking("static", copies=3).label == "static-3" and Masking("static").label == "static"
    with pytest.raises(ValueError):
        Masking("dynamic", copies=2)


# ---------------------------------------------------------------------------------------------
# The objectives' masks across epochs of a reshuffled stream


def masks_by_epoch(tokens_dir: str, masking: str, copies: int = 1, epochs: int = 4,
                   objective: str = "mlm") -> tuple[list[dict], TokenStream]:
    """For each epoch of a reshuffled 60,000-token subset: {(shard, offset): corrupted token}."""
    from cleancrawl.pretrain.objectives import make_objective

    corpus = load_corpus(tokens_dir)
    config = PretrainConfig(tokens=tokens_dir, out="", objective=objective,
                            model="gpt2-tiny" if objective == "mlm" else "t5-tiny",
                            masking=masking, static_copies=copies)
    corruption = make_objective(config, corpus.vocab_size, corpus.eos_id).corruption
    plan = plan_data(corpus, unique_tokens=60_000, validation_tokens=4096, seed=0)
    stream = TokenStream(corpus, plan.train, seed=0, shuffle=True)
    out = []
    for epoch in range(epochs):
        tokens, shard, offset, _ = stream.read_located(epoch * 60_000, 60_000)
        _, corrupted, _ = corruption.read(stream, epoch * 60_000, 60_000)
        out.append(dict(zip(zip(shard.tolist(), offset.tolist()), corrupted.tolist())))
        if epoch:
            assert not np.array_equal(tokens, stream.read(0, 60_000))  # reshuffled: text moved
    return out, stream


def test_static_masks_are_the_same_every_epoch_dynamic_ones_are_new(tokens_with_validation):
    static, _ = masks_by_epoch(tokens_with_validation, "static")
    assert all(epoch == static[0] for epoch in static[1:])
    dynamic, _ = masks_by_epoch(tokens_with_validation, "dynamic")
    assert dynamic[0] == static[0]                               # epoch 0: the same draws
    for a in range(4):
        for b in range(a + 1, 4):
            differ = sum(dynamic[a][k] != dynamic[b][k] for k in dynamic[a]) / len(dynamic[a])
            assert 0.15 < differ < 0.35   # about 2 · 15% · (1 − 15%) · 0.9 of the tokens: new picks each time


def test_static_copies_cycle_through_k_masks(tokens_with_validation):
    masks, _ = masks_by_epoch(tokens_with_validation, "static", copies=3, epochs=7, objective="bert-style")
    for epoch in range(3, 7):
        assert masks[epoch] == masks[epoch - 3]
    assert masks[0] != masks[1] and masks[1] != masks[2] and masks[0] != masks[2]


def test_validation_is_masked_alike_static_or_dynamic(tokens_with_validation):
    """Held-out text, read once (epoch 0): the same corrupted sequences in either mode, every evaluation."""
    from cleancrawl.pretrain.objectives import make_objective

    corpus = load_corpus(tokens_with_validation)
    plan = plan_data(corpus, unique_tokens=60_000, validation_tokens=4096, seed=0)
    validation = TokenStream(corpus, plan.validation, seed=0, shuffle=False)
    batches = []
    for masking, copies in (("dynamic", 1), ("static", 1), ("static", 4)):
        for objective, model in (("mlm", "gpt2-tiny"), ("bert-style", "t5-tiny")):
            config = PretrainConfig(tokens="", out="", objective=objective, model=model, masking=masking,
                                    static_copies=copies)
            batches.append(make_objective(config, corpus.vocab_size, corpus.eos_id).batch(validation, range(8)))
    for a, b in zip(batches[::2], batches[2::2]):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    for a, b in zip(batches[1::2], batches[3::2]):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
