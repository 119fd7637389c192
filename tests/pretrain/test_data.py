"""Which tokens training reads: the repeated subset, the epochs, the ranks, and no validation leak."""
from __future__ import annotations

import os

import numpy as np
import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.data import (
    TokenStream,
    batch_indices,
    document_hashes,
    load_corpus,
    plan_data,
    split_documents,
)


def stream_bytes(stream: TokenStream, start: int, count: int) -> bytes:
    """Stream tokens as the bytes they encode, eos (256) as a NUL that never occurs in the text."""
    tokens = stream.read(start, count)
    return bytes(np.where(tokens == 256, 0, tokens).astype(np.uint8))


def documents_bytes(corpus, docs) -> list[bytes]:
    return [bytes(corpus.shards[s][a:a + n - 1].astype(np.uint8))  # without the eos
            for s, a, n in zip(docs.shard, docs.start, docs.length)]


@pytest.mark.parametrize("unique", [3_100, 50_000, 123_457])
def test_subset_holds_exactly_u_tokens_and_is_the_same_every_time(tokens_with_validation, unique):
    first = plan_data(load_corpus(tokens_with_validation), unique_tokens=unique, validation_tokens=10_000, seed=0)
    again = plan_data(load_corpus(tokens_with_validation), unique_tokens=unique, validation_tokens=10_000, seed=0)
    assert first.train.num_tokens == unique
    assert first.train.fingerprint() == again.train.fingerprint()
    other_seed = plan_data(load_corpus(tokens_with_validation), unique_tokens=unique, validation_tokens=10_000, seed=1)
    assert other_seed.train.fingerprint() != first.train.fingerprint()


def test_smaller_subsets_sit_inside_larger_ones(tokens_with_validation):
    corpus = load_corpus(tokens_with_validation)
    small = plan_data(corpus, unique_tokens=20_000, validation_tokens=10_000, seed=0).train
    large = plan_data(corpus, unique_tokens=200_000, validation_tokens=10_000, seed=0).train
    n = small.num_docs
    assert np.array_equal(small.shard, large.shard[:n]) and np.array_equal(small.start, large.start[:n])
    assert np.array_equal(small.length[:-1], large.length[:n - 1])
    assert small.length[-1] <= large.length[n - 1]  # the last document cut short


def test_each_epoch_is_the_whole_subset_reshuffled(tokens_with_validation):
    corpus = load_corpus(tokens_with_validation)
    subset = plan_data(corpus, unique_tokens=60_000, validation_tokens=10_000, seed=0).train
    stream = TokenStream(corpus, subset, seed=0, shuffle=True)
    u = subset.num_tokens
    epoch0, epoch1 = stream.read(0, u), stream.read(u, u)
    expected = np.concatenate([corpus.shards[s][a:a + n] for s, a, n in zip(subset.shard, subset.start, subset.length)])
    assert np.array_equal(np.bincount(epoch0, minlength=257), np.bincount(expected, minlength=257))
    assert np.array_equal(np.bincount(epoch1, minlength=257), np.bincount(expected, minlength=257))
    assert not np.array_equal(epoch0, epoch1)  # same documents, another order
    order0, order1 = stream.epoch_order(0)[0], stream.epoch_order(1)[0]
    assert sorted(order0) == sorted(order1) and list(order0) != list(order1)
    # A fresh stream reads the same tokens: the order is a function of (seed, epoch) alone.
    assert np.array_equal(TokenStream(corpus, subset, seed=0, shuffle=True).read(u - 100, 300),
                          stream.read(u - 100, 300))


def test_sequences_are_inputs_and_targets_shifted_by_one(tokens_with_validation):
    corpus = load_corpus(tokens_with_validation)
    plan = plan_data(corpus, unique_tokens=None, validation_tokens=10_000, seed=0)
    stream = TokenStream(corpus, plan.train, seed=0, shuffle=True)
    x, y = stream.sequences([0, 1, 7], seq_len=64)
    assert x.shape == y.shape == (3, 64)
    assert np.array_equal(x[:, 1:].numpy(), y[:, :-1].numpy())
    assert np.array_equal(x[2].numpy(), stream.read(7 * 64, 64))
    assert y[0, -1] == x[1, 0]  # consecutive sequences leave no token out


def test_validation_split_never_leaks_into_training(tokens_with_validation):
    corpus = load_corpus(tokens_with_validation)
    plan = plan_data(corpus, unique_tokens=None, validation_tokens=10_000, seed=0)
    assert plan.validation_source.startswith("validation split")
    assert set(plan.train.shard) <= set(corpus.split_shards["train"])
    assert set(plan.validation.shard) == set(corpus.split_shards["validation"])
    stream = TokenStream(corpus, plan.train, seed=0, shuffle=True)
    trained_on = stream_bytes(stream, 0, plan.train.num_tokens)  # one whole epoch of training
    validation_docs = documents_bytes(corpus, plan.validation)
    assert len(validation_docs) == 8
    for doc in validation_docs:
        assert doc[:300] not in trained_on and doc[-300:] not in trained_on


def test_without_a_validation_split_documents_are_held_out_by_hash(tokens_without_validation):
    corpus = load_corpus(tokens_without_validation)
    plan = plan_data(corpus, unique_tokens=None, validation_tokens=50_000, seed=0)
    assert plan.validation_source.startswith("held out by hash from train")
    assert plan.validation.num_tokens >= 50_000
    assert plan.train.num_tokens + plan.validation.num_tokens == split_documents(corpus, "train").num_tokens
    # The held-out documents are those with the smallest content hashes.
    held = document_hashes(corpus, plan.validation)
    kept = document_hashes(corpus, plan.train)
    assert held.max() < kept.min()
    trained_on = stream_bytes(TokenStream(corpus, plan.train, seed=0, shuffle=True), 0, plan.train.num_tokens)
    for doc in documents_bytes(corpus, plan.validation):
        assert doc[:300] not in trained_on
    # The same documents every time.
    again = plan_data(load_corpus(tokens_without_validation), unique_tokens=None, validation_tokens=50_000, seed=7)
    assert again.validation.fingerprint() == plan.validation.fingerprint()


@pytest.mark.parametrize("world_size,micro_batch", [(1, 8), (1, 2), (2, 4), (4, 1), (2, 2)])
def test_ranks_read_disjoint_slices_that_make_up_the_global_batch(world_size, micro_batch):
    batch_size = 8
    grad_accum = batch_size // (micro_batch * world_size)
    for step in (0, 3):
        read = [i for micro in range(grad_accum) for rank in range(world_size)
                for i in batch_indices(step, micro, rank, world_size=world_size, micro_batch=micro_batch,
                                       batch_size=batch_size)]
        assert sorted(read) == list(range(step * batch_size, (step + 1) * batch_size))


def test_more_unique_tokens_than_the_corpus_holds_is_a_user_error(tokens_with_validation):
    corpus = load_corpus(tokens_with_validation)
    with pytest.raises(UserError, match="more than the"):
        plan_data(corpus, unique_tokens=10**9, validation_tokens=10_000, seed=0)
    with pytest.raises(UserError, match="no such token directory"):
        load_corpus(tokens_with_validation + "-missing")


def test_a_remote_token_directory_is_staged_to_local_disk(tokens_with_validation, tmp_path):
    # A file system under its own scheme, as gs:// would be, backed by the local test shards.
    from apache_beam.io.localfilesystem import LocalFileSystem

    from cleancrawl.pretrain.data import stage_tokens

    class PrefixedLocalFileSystem(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "cctokens"

        def match(self, patterns, limits=None):
            return super().match([p.removeprefix("cctokens://") for p in patterns], limits)

        def open(self, path, *args, **kwargs):
            return super().open(path.removeprefix("cctokens://"), *args, **kwargs)

    cache = str(tmp_path / "cache")
    staged = stage_tokens("cctokens://" + tokens_with_validation, cache)
    assert staged == cache
    local, remote = load_corpus(cache), load_corpus(tokens_with_validation)
    assert [len(s) for s in local.shards] == [len(s) for s in remote.shards]
    assert all(np.array_equal(a, b) for a, b in zip(local.shards, remote.shards))
    mtimes = {n: os.path.getmtime(os.path.join(cache, "train", n)) for n in os.listdir(os.path.join(cache, "train"))}
    stage_tokens("cctokens://" + tokens_with_validation, cache)  # already there: not copied again
    assert mtimes == {n: os.path.getmtime(os.path.join(cache, "train", n)) for n in mtimes}
    assert stage_tokens(tokens_with_validation, cache) == tokens_with_validation  # local: used in place
