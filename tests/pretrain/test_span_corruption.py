"""T5's span corruption: the masks, the lengths, the corruption, the encoder-decoder, and runs
with `--objective span-corruption` (learning, resume, two ranks, the sweep's report, refusals)."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import sys

import numpy as np
import pytest
import torch

from cleancrawl.cli import main
from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.checkpoint import check_same_run
from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.data import TokenStream, load_corpus, plan_data
from cleancrawl.pretrain.encoder_decoder import IGNORE_INDEX, EncoderDecoder, encoder_decoder_config
from cleancrawl.pretrain.experiment import run_name
from cleancrawl.pretrain.objectives import make_objective
from cleancrawl.pretrain.span_corruption import (
    NUM_SENTINELS,
    corrupt,
    mask_rng,
    random_spans_noise_mask,
    span_corruption_lengths,
    span_counts,
)
from cleancrawl.pretrain.train import train

from .conftest import EOS, VOCAB
from .test_train import (
    as_cli_args,
    assert_two_gloo_processes_match_one,
    curve,
    kill_after_first_checkpoint,
    read_metrics,
    stopped_then_resumed,
)

SENTINELS = np.arange(VOCAB, VOCAB + NUM_SENTINELS)


def spans(mask: np.ndarray) -> list[tuple[bool, int]]:
    """(is_noise, length) of each run of equal values."""
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    return [(bool(part[0]), len(part)) for part in np.split(mask, edges)]


def uncorrupt(inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The original tokens: each sentinel of the inputs replaced by what follows it in the targets."""
    assert inputs[-1] == EOS and targets[-1] == EOS
    is_sentinel = targets[:-1] >= VOCAB
    starts = list(np.flatnonzero(is_sentinel)) + [len(targets) - 1]
    filling = {int(targets[a]): targets[a + 1:b] for a, b in zip(starts, starts[1:])}
    out = [filling[int(t)] if t >= VOCAB else [t] for t in inputs[:-1]]
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# The pure functions


@pytest.mark.parametrize("length,density,mean_span", [
    (568, 0.15, 3.0), (70, 0.15, 3.0), (1137, 0.15, 3.0), (100, 0.5, 3.0), (200, 0.15, 8.0), (20, 0.15, 3.0),
])
def test_mask_has_the_noise_tokens_and_spans_t5_draws(length, density, mean_span):
    noise, num_spans = span_counts(length, density, mean_span)
    assert noise == min(max(round(length * density), 1), length - 1)
    assert num_spans == max(round(noise / mean_span), 1)
    for index in range(20):
        mask = random_spans_noise_mask(length, density, mean_span, mask_rng(0, index))
        assert mask.shape == (length,) and mask.dtype == bool
        assert mask.sum() == noise
        runs = spans(mask)
        # Non-noise first, then alternating: as many non-noise spans as noise spans, none empty.
        assert [is_noise for is_noise, _ in runs] == [False, True] * num_spans
        assert all(n > 0 for _, n in runs)


def test_mask_depends_only_on_seed_and_sequence_index():
    def mask(seed, index):
        return random_spans_noise_mask(568, 0.15, 3.0, mask_rng(seed, index))

    assert np.array_equal(mask(0, 7), mask(0, 7))
    np.random.seed(123)  # the global generator plays no part
    assert np.array_equal(mask(0, 7), mask(0, 7))
    assert not np.array_equal(mask(0, 7), mask(0, 8))
    assert not np.array_equal(mask(0, 7), mask(1, 7))
    # Every cut is possible: over many sequences, noise lands on every position.
    assert np.stack([mask(0, k) for k in range(300)]).any(axis=0)[1:].all()


def test_lengths_are_t5s():
    assert span_corruption_lengths(512) == (568, 114)  # T5's C4 setting: 568 raw tokens, 114 targets
    assert span_corruption_lengths(512, 0.5, 3.0)[1] <= 512  # T5's cap on targets at density 0.5


@pytest.mark.parametrize("inputs_length", [8, 33, 64, 128, 512, 1024])
@pytest.mark.parametrize("density,mean_span", [(0.15, 3.0), (0.3, 5.0), (0.5, 3.0)])
def test_corrupted_inputs_have_exactly_inputs_length(inputs_length, density, mean_span):
    tokens_length, targets_length = span_corruption_lengths(inputs_length, density, mean_span)
    many_sentinels = np.arange(VOCAB, VOCAB + 1000)  # the lengths hold for any span count
    rng = np.random.default_rng(0)
    for index in range(5):
        tokens = rng.integers(0, 256, tokens_length)
        mask = random_spans_noise_mask(tokens_length, density, mean_span, mask_rng(0, index))
        inputs, targets = corrupt(tokens, mask, many_sentinels, eos_id=EOS)
        assert len(targets) == targets_length
        if density == 0.5:
            # T5's one exception: at density 0.5 it may give up a raw token to keep targets <= inputs.
            assert len(inputs) in (inputs_length - 1, inputs_length) and targets_length <= inputs_length
            continue
        assert len(inputs) == inputs_length
        # One raw token more would make the inputs longer than asked.
        longer = np.append(tokens, 0)
        mask = random_spans_noise_mask(tokens_length + 1, density, mean_span, mask_rng(0, index))
        assert len(corrupt(longer, mask, many_sentinels, eos_id=EOS)[0]) == inputs_length + 1


def test_corrupt_replaces_each_span_with_one_sentinel_and_the_targets_spell_them_out():
    text = b"Thank you for inviting me to your party last week."
    tokens = np.array(list(text))
    mask = np.zeros(len(tokens), dtype=bool)
    mask[text.index(b"for"):text.index(b"me")] = True  # "for inviting "
    mask[text.index(b"last"):] = True                  # "last week.": T5's masks end in noise
    inputs, targets = corrupt(tokens, mask, SENTINELS, eos_id=EOS)
    s0, s1 = VOCAB, VOCAB + 1
    assert inputs.tolist() == [*b"Thank you ", s0, *b"me to your party ", s1, EOS]
    assert targets.tolist() == [s0, *b"for inviting ", s1, *b"last week.", EOS]
    assert np.array_equal(uncorrupt(inputs, targets), tokens)


def test_corrupt_is_invertible_on_real_text(tokens_with_validation):
    corpus = load_corpus(tokens_with_validation)
    text = corpus.shards[0][:50_000].astype(np.int64)
    tokens_length, _ = span_corruption_lengths(128)
    for index in range(200):
        tokens = text[index * tokens_length:(index + 1) * tokens_length]
        mask = random_spans_noise_mask(tokens_length, 0.15, 3.0, mask_rng(3, index))
        inputs, targets = corrupt(tokens, mask, SENTINELS, eos_id=EOS)
        assert inputs.max() < VOCAB + NUM_SENTINELS and set(inputs[inputs >= VOCAB]) <= set(SENTINELS)
        assert np.array_equal(uncorrupt(inputs, targets), tokens)


def test_too_many_spans_for_the_sentinels_are_refused():
    mask = np.tile([False, True], 10)
    with pytest.raises(ValueError, match="sentinels"):
        corrupt(np.arange(20), mask, SENTINELS[:5])


# ---------------------------------------------------------------------------------------------
# The encoder-decoder


def test_t5_small_has_t5s_parameter_count_less_the_relative_position_bias():
    config = encoder_decoder_config("t5-small", 32000 + NUM_SENTINELS)
    assert config.vocab_size == 32128  # T5's own padded vocabulary
    with torch.device("meta"):
        model = EncoderDecoder(config)
    # T5-small (v1.0, tied): 60,506,624, of which 2 × 32 buckets × 8 heads of relative position bias.
    assert model.num_params(include_position_embedding=False) == 60_506_624 - 2 * 32 * 8
    assert model.lm_head.weight is model.token_embedding.weight


def test_flops_count_encoder_on_inputs_and_decoder_on_targets():
    config = encoder_decoder_config("t5-small", 32128)
    with torch.device("meta"):
        model = EncoderDecoder(config)
    d, L, S, T, V = 512, 6, 512, 114, 32128
    encoder = L * (4 * d * d + 2 * d * 2048 + 2 * d) + d
    decoder = L * (8 * d * d + 2 * d * 2048 + 3 * d) + d  # self- and cross-attention
    cross_kv = L * 2 * d * d                               # ...whose keys and values read the inputs
    expected = (6 * ((encoder + cross_kv) * S + (decoder - cross_kv + V * d) * T)
                + 12 * L * d * (S * S + T * T + T * S))
    assert model.flops_per_example() == expected
    assert model.flops_per_token(568) == expected / 568


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_decoder_sees_only_past_targets_and_all_of_the_input(positions):
    torch.manual_seed(0)
    model = EncoderDecoder(encoder_decoder_config("t5-tiny", VOCAB + NUM_SENTINELS, positions=positions)).eval()
    inputs = torch.tensor([list(b"The European lobster is a species of clawed lobster.")])
    decoder_inputs = torch.tensor([list(b"Homarus gammarus")[:14]])
    with torch.no_grad():
        base = model(inputs, decoder_inputs)
        later_target = decoder_inputs.clone()
        later_target[0, 8:] = ord("X")
        assert torch.allclose(base[0, :8], model(inputs, later_target)[0, :8], atol=1e-6)
        assert not torch.allclose(base[0, 8:], model(inputs, later_target)[0, 8:], atol=1e-3)
        last_input = inputs.clone()
        last_input[0, -1] = ord("X")
        assert not torch.allclose(base[0, 0], model(last_input, decoder_inputs)[0, 0], atol=1e-4)


def test_padding_targets_carry_no_loss_and_too_long_inputs_are_refused():
    torch.manual_seed(0)
    config = encoder_decoder_config("t5-tiny", VOCAB + NUM_SENTINELS)
    model = EncoderDecoder(config)
    inputs = torch.randint(0, VOCAB, (2, config.seq_len))
    targets = torch.randint(0, VOCAB, (2, config.target_len))
    padded = targets.clone()
    padded[:, 5:] = IGNORE_INDEX
    logits = model(inputs, targets)
    expected = torch.nn.functional.cross_entropy(logits[:, :5].reshape(-1, logits.shape[-1]),
                                                 targets[:, :5].reshape(-1))
    assert model(inputs, targets, padded).item() == pytest.approx(expected.item(), rel=1e-5)
    unrelated = torch.randint(0, VOCAB, targets.shape)
    assert abs(model(inputs, targets, unrelated).item() - np.log(config.vocab_size)) < 0.2  # near uniform at init
    with pytest.raises(ValueError, match="longer than"):
        model(torch.zeros(1, config.seq_len + 1, dtype=torch.long), targets[:1])


# ---------------------------------------------------------------------------------------------
# Batches and runs


def t5_config(tokens: str, out: str, **changes) -> PretrainConfig:
    """t5-tiny (2 + 2 layers, d 64, 64 input tokens from 70 raw ones), 16 sequences a step, 30 steps."""
    config = PretrainConfig(tokens=tokens, out=out, model="t5-tiny", objective="span-corruption",
                         budget_tokens=30 * 16 * 70, batch_size=16, micro_batch=8, lr=3e-3,
                         validation_tokens=4096, eval_every=10, log_every=1, checkpoint_every=8, device="cpu")
    return dataclasses.replace(config, **changes)


def test_batches_are_corrupted_stream_reads_with_shifted_decoder_inputs(tokens_with_validation, tmp_path):
    corpus = load_corpus(tokens_with_validation)
    objective = make_objective(t5_config(tokens_with_validation, str(tmp_path)), corpus.vocab_size, corpus.eos_id)
    assert (objective.tokens_per_sequence, objective.model_config.seq_len, objective.model_config.target_len) == \
        (70, 64, 14)
    assert objective.model_config.vocab_size >= VOCAB + NUM_SENTINELS
    plan = plan_data(corpus, unique_tokens=None, validation_tokens=4096, seed=0)
    stream = TokenStream(corpus, plan.train, seed=0, shuffle=True)
    inputs, decoder_inputs, targets = objective.batch(stream, [5, 6, 7])
    assert inputs.shape == (3, 64) and targets.shape == decoder_inputs.shape == (3, 14)
    assert inputs.dtype == targets.dtype == torch.int64
    assert (decoder_inputs[:, 0] == EOS).all() and torch.equal(decoder_inputs[:, 1:], targets[:, :-1])
    assert (targets[:, 0] == VOCAB).all()  # every target starts with the first sentinel
    for row, k in enumerate([5, 6, 7]):  # sequence k is raw tokens [70k, 70k + 70), whatever the batch
        assert np.array_equal(uncorrupt(inputs[row].numpy(), targets[row].numpy()), stream.read(70 * k, 70))
    again = objective.batch(stream, [6])
    assert torch.equal(again[0][0], inputs[1]) and torch.equal(again[2][0], targets[1])


@pytest.fixture(scope="module")
def t5_run(tokens_with_validation, tmp_path_factory):
    """One uninterrupted 30-step span-corruption run on repeated data (about 15 epochs of 2,300 tokens)."""
    config = t5_config(tokens_with_validation, str(tmp_path_factory.mktemp("t5")), unique_tokens=2_300)
    return config, train(config)


def test_encoder_decoder_learns_and_the_budget_counts_raw_tokens(t5_run):
    config, summary = t5_run
    records = read_metrics(config.out)
    assert [r["step"] for r in records] == list(range(1, 31))
    assert records[0]["train_loss"] == pytest.approx(np.log(384), abs=0.2)  # uniform over 257 + 100, padded
    assert records[-1]["train_loss"] < records[0]["train_loss"] - 2.0
    for r in records:
        assert r["tokens_seen"] == r["step"] * 16 * 70  # raw tokens read, not the 64 the encoder sees
        assert r["epochs"] == pytest.approx(r["tokens_seen"] / 2_300)
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(vals) == 3 and vals[-1] < vals[0]
    assert summary["finished"] and summary["objective"] == "span-corruption"
    assert summary["repeats"] == pytest.approx(30 * 16 * 70 / 2_300)
    with open(os.path.join(config.out, "config.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["objective"]["name"] == "span-corruption" and info["objective"]["tokens_length"] == 70
    assert info["tokens_per_step"] == 16 * 70 and info["model_config"]["target_len"] == 14
    assert info["flops_per_token"] > 0


def test_stopped_and_resumed_span_corruption_run_gives_the_same_curve(t5_run, tmp_path):
    config, summary = t5_run
    resumed, again = stopped_then_resumed(config, str(tmp_path / "run"), 13)
    assert curve(resumed.out) == curve(config.out)
    assert again["final_val_loss"] == summary["final_val_loss"]


@pytest.mark.slow
def test_killed_span_corruption_run_resumes_to_the_same_curve(t5_run, tmp_path):
    config, _ = t5_run
    out = str(tmp_path / "killed")
    command = [sys.executable, "-m", "cleancrawl.pretrain", "pretrain",
               *as_cli_args(dataclasses.replace(config, out=out))]
    kill_after_first_checkpoint(command, out)
    assert len(read_metrics(out)) < 30
    train(dataclasses.replace(config, out=out, resume=True))
    assert curve(out) == curve(config.out)


@pytest.mark.slow
def test_two_gloo_processes_match_one_with_span_corruption(t5_run, tmp_path):
    config, _ = t5_run
    assert_two_gloo_processes_match_one(config, str(tmp_path / "two"))


def test_resume_with_other_noise_is_refused_and_old_checkpoints_mean_causal_lm(t5_run, tmp_path):
    config, _ = t5_run
    out = str(tmp_path / "run")
    train(dataclasses.replace(config, out=out, stop_after_steps=8))
    with pytest.raises(UserError, match="noise_density"):
        train(dataclasses.replace(config, out=out, resume=True, noise_density=0.3))
    # A checkpoint written before objectives existed holds none of their fields: a GPT run.
    gpt = PretrainConfig(tokens=config.tokens, out=out)
    saved = {k: v for k, v in gpt.to_dict().items() if k not in ("objective", "noise_density", "mean_noise_span")}
    check_same_run(saved, gpt)
    check_same_run(saved, dataclasses.replace(gpt, noise_density=0.3))  # a GPT run does not use it
    with pytest.raises(UserError, match="objective"):
        check_same_run(saved, dataclasses.replace(gpt, objective="span-corruption", model="t5-tiny"))


@pytest.mark.parametrize("model,objective,message", [
    ("gpt2-tiny", "span-corruption", "decoder-only GPT, trained with --objective causal-lm"),
    ("t5-tiny", "causal-lm", "encoder-decoder, trained with --objective span-corruption"),
    ("t5-tiny", "prefix-lm", "encoder-decoder, trained with --objective span-corruption or bert-style"),
    ("t5-tiny", "gpt5-lm", "unknown objective"),
])
def test_model_and_objective_must_match(tokens_with_validation, tmp_path, model, objective, message):
    config = t5_config(tokens_with_validation, str(tmp_path / "run"), model=model, objective=objective)
    with pytest.raises(UserError, match=message):
        train(config)
    assert not os.path.exists(config.out)  # refused before anything is written


def test_bad_noise_settings_are_user_errors(tokens_with_validation, tmp_path):
    for changes, message in (({"noise_density": 1.0}, "--noise-density"),
                             ({"mean_noise_span": 0.5}, "--mean-noise-span"),
                             ({"seq_len": 4096}, "sentinels")):
        with pytest.raises(UserError, match=message):
            train(t5_config(tokens_with_validation, str(tmp_path / "run"), **changes))
        assert not os.path.exists(tmp_path / "run")


def test_cli_refuses_a_mismatch_in_one_line(tokens_with_validation, tmp_path, capsys):
    assert main(["pretrain", "--tokens", tokens_with_validation, "--out", str(tmp_path / "run"),
                 "--objective", "span-corruption", "--model", "gpt2-tiny", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "decoder-only GPT" in err and "Traceback" not in err
    sweep = str(tmp_path / "sweep")
    assert main(["experiment", "repetition", "--tokens", tokens_with_validation, "--out", sweep,
                 "--objective", "span-corruption", "--model", "t5-tiny,gpt2-tiny", "--unique-tokens", "1e3",
                 "--device", "cpu"]) == 2
    assert not os.path.exists(sweep)  # no run started before the mismatch was found


@pytest.mark.slow
def test_span_corruption_sweep_reports_its_objective(tokens_without_validation, tmp_path):
    out = str(tmp_path / "sweep")
    budget = 20 * 16 * 70
    args = ["experiment", "repetition", "--tokens", tokens_without_validation, "--objective", "span-corruption",
            "--budget-tokens", str(budget), "--unique-tokens", f"{budget},1400", "--batch-size", "16",
            "--lr", "3e-3", "--validation-tokens", "4096", "--eval-every", "10", "--log-every", "5",
            "--device", "cpu", "--out", out]
    assert main(args) == 0  # no --model: t5-tiny, the objective's default
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["objective"], int(r["unique_tokens"])) for r in rows] == \
        [("t5-tiny", "span-corruption", budget), ("t5-tiny", "span-corruption", 1400)]
    assert float(rows[1]["repeats"]) == pytest.approx(budget / 1400)
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert "| t5-tiny | 1,400 | 16 |" in markdown and "Objective: span-corruption" in markdown
    assert os.path.exists(os.path.join(out, run_name("t5-tiny", 1400), "summary.json"))


@pytest.mark.parametrize("inputs_length,density,mean_span", [(64, 0.8, 3.0), (64, 0.5, 1.0), (64, 0.95, 3.0),
                                                            (32, 0.5, 1.0), (100, 0.05, 3.0), (512, 0.15, 3.0)])
def test_the_shape_a_run_is_sized_for_is_the_shape_corruption_gives(inputs_length, density, mean_span):
    """Where one kind of token is too scarce for the spans (high density, mean span near 1), the
    span count is capped: the lengths the model is sized for must count the capped spans."""
    from types import SimpleNamespace

    from cleancrawl.pretrain.objectives import span_corruption_shape

    config = SimpleNamespace(noise_density=density, mean_noise_span=mean_span, seq_len=inputs_length, model="t5-tiny")
    encoder_length, tokens_length, targets_length = span_corruption_shape(config)
    assert encoder_length <= inputs_length
    for index in range(5):
        mask = random_spans_noise_mask(tokens_length, density, mean_span, mask_rng(0, index))
        inputs, targets = corrupt(np.arange(tokens_length), mask, np.arange(VOCAB, VOCAB + 1000), eos_id=EOS)
        assert (len(inputs), len(targets)) == (encoder_length, targets_length)


def test_prefetched_span_corruption_batches_give_the_same_curve(t5_run, tmp_path):
    config, _ = t5_run
    out = str(tmp_path / "prefetched")
    train(dataclasses.replace(config, out=out, prefetch=True))
    assert curve(out) == curve(config.out)
