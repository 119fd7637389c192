"""The objectives beside causal-lm and span corruption (`pretrain.objectives`): prefix-lm, mlm and
bert-style batches, and runs of each as the other two are tested (learning, stopped and resumed,
killed and resumed, two gloo ranks against one), `--masking` refusals, and a static-vs-dynamic sweep."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cleancrawl.cli import main
from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.checkpoint import check_same_run
from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.data import TokenStream, load_corpus, plan_data
from cleancrawl.pretrain.experiment import is_run_name, run_name
from cleancrawl.pretrain.model import IGNORE_INDEX
from cleancrawl.pretrain.objectives import check_objective, make_objective
from cleancrawl.pretrain.train import train

from .conftest import EOS, VOCAB
from .test_train import (
    REPO,
    as_cli_args,
    assert_same_curve,
    curve,
    kill_after_first_checkpoint,
    read_metrics,
    stopped_then_resumed,
    subprocess_env,
)

MASK = VOCAB
MODELS = {"prefix-lm": "gpt2-tiny", "mlm": "gpt2-tiny", "bert-style": "t5-tiny"}


def objective_config(tokens: str, out: str, objective: str, **changes) -> PretrainConfig:
    """The tiny model of `objective`, 16 sequences of 64 tokens a step, 20 steps, on 2,300 repeated
    tokens; validation: 64 sequences (an even count: one rank or two score the same ones)."""
    sequence = 63 if objective == "bert-style" else 64  # raw tokens: bert-style's encoder adds eos
    config = PretrainConfig(tokens=tokens, out=out, model=MODELS[objective], objective=objective,
                            budget_tokens=20 * 16 * 64, unique_tokens=2_300, batch_size=16, micro_batch=8, lr=3e-3,
                            validation_tokens=64 * sequence, eval_every=10, log_every=1, checkpoint_every=8,
                            device="cpu")
    return dataclasses.replace(config, **changes)


def stream_and_objective(tokens: str, objective: str, **changes):
    corpus = load_corpus(tokens)
    config = objective_config(tokens, "", objective, **changes)
    plan = plan_data(corpus, unique_tokens=None, validation_tokens=4096, seed=0)
    return TokenStream(corpus, plan.train, seed=0, shuffle=True), make_objective(config, corpus.vocab_size, EOS)


# ---------------------------------------------------------------------------------------------
# Batches


def test_prefix_lm_batches_split_each_sequence_at_a_seeded_point(tokens_with_validation):
    stream, objective = stream_and_objective(tokens_with_validation, "prefix-lm")
    inputs, targets, prefix = objective.batch(stream, [5, 6, 7])
    plain_inputs, plain_targets = stream.sequences([5, 6, 7], 64)
    assert torch.equal(inputs, plain_inputs)
    for row in range(3):
        p = int(prefix[row])
        assert 1 <= p <= 63
        assert (targets[row, :p - 1] == IGNORE_INDEX).all()               # inside the prefix: seen, not predicted
        assert torch.equal(targets[row, p - 1:], plain_targets[row, p - 1:])  # the first target follows the prefix
    again = objective.batch(stream, [6])  # one sequence (its inputs and targets share a row of the stream)
    assert torch.equal(again[2], prefix[1:2]) and torch.equal(again[1][0], targets[1])
    assert torch.equal(again[0][0], inputs[1])
    lengths = [objective.prefix_length(k) for k in range(2000)]
    assert min(lengths) == 1 and max(lengths) == 63 and 28 < np.mean(lengths) < 36  # uniform over [1, 63]


def test_mlm_batches_predict_the_picked_tokens_only(tokens_with_validation):
    stream, objective = stream_and_objective(tokens_with_validation, "mlm")
    assert objective.model_config.vocab_size > VOCAB and not objective.model_config.causal
    inputs, targets = objective.batch(stream, range(64))
    raw = torch.from_numpy(np.stack([stream.read(64 * k, 64) for k in range(64)]))
    picked = targets != IGNORE_INDEX
    assert torch.equal(targets[picked], raw[picked])
    assert torch.equal(inputs[~picked], raw[~picked])                     # what is not picked is not touched
    assert 0.12 < picked.float().mean() < 0.18
    assert 0.7 < (inputs[picked] == MASK).float().mean() < 0.9 and (inputs[~picked] != MASK).all()


def test_bert_style_batches_reconstruct_the_whole_original(tokens_with_validation):
    stream, objective = stream_and_objective(tokens_with_validation, "bert-style")
    assert objective.tokens_per_sequence == 63
    assert (objective.model_config.seq_len, objective.model_config.target_len) == (64, 64)
    inputs, decoder_inputs, targets = objective.batch(stream, [3, 4])
    assert inputs.shape == decoder_inputs.shape == targets.shape == (2, 64)
    for row, k in enumerate([3, 4]):
        assert np.array_equal(targets[row, :-1].numpy(), stream.read(63 * k, 63))
    assert (targets[:, -1] == EOS).all() and (inputs[:, -1] == EOS).all()
    assert (decoder_inputs[:, 0] == EOS).all() and torch.equal(decoder_inputs[:, 1:], targets[:, :-1])
    changed = inputs[:, :-1] != targets[:, :-1]
    assert changed.any() and ((inputs[:, :-1] == MASK) <= changed).all()


# ---------------------------------------------------------------------------------------------
# Runs


VARIANTS = {"prefix-lm": ("prefix-lm", "dynamic", 1), "mlm-static2": ("mlm", "static", 2),
            "bert-style-static": ("bert-style", "static", 1)}


@pytest.fixture(scope="module")
def objective_runs(tokens_with_validation, tmp_path_factory) -> dict:
    """One uninterrupted 20-step run of each new objective (and each kind of masking) on ~9 epochs
    of 2,300 tokens: {variant: (config, summary)}."""
    runs = {}
    for name, (objective, masking, copies) in VARIANTS.items():
        config = objective_config(tokens_with_validation, str(tmp_path_factory.mktemp(name)), objective,
                                  masking=masking, static_copies=copies)
        runs[name] = config, train(config)
    return runs


@pytest.fixture(params=list(VARIANTS))
def objective_run(request, objective_runs):
    return objective_runs[request.param]


def test_each_objective_learns_and_records_what_it_is(objective_run):
    config, summary = objective_run
    records = read_metrics(config.out)
    assert [r["step"] for r in records] == list(range(1, 21))
    assert records[-1]["train_loss"] < records[0]["train_loss"] - 1.0
    vals = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(vals) == 2 and vals[-1] < vals[0] and all(np.isfinite(vals))
    for r in records:
        assert r["tokens_seen"] == r["step"] * 16 * (63 if config.objective == "bert-style" else 64)
    assert summary["finished"] and summary["objective"] == config.objective
    with open(os.path.join(config.out, "config.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["objective"]["name"] == config.objective and info["flops_per_token"] > 0
    if config.objective != "prefix-lm":
        assert info["objective"]["masking"] == (config.masking if config.static_copies == 1 else "static-2")


def test_stopped_and_resumed_run_of_each_objective_gives_the_same_curve(objective_run, tmp_path):
    config, summary = objective_run
    resumed, again = stopped_then_resumed(config, str(tmp_path / "run"), 9)
    assert curve(resumed.out) == curve(config.out)
    assert again["final_val_loss"] == summary["final_val_loss"]


@pytest.mark.slow
def test_killed_static_masking_run_resumes_to_the_same_curve(objective_runs, tmp_path):
    config, _ = objective_runs["bert-style-static"]  # one killed run; every objective resumes in-process above
    out = str(tmp_path / "killed")
    kill_after_first_checkpoint([sys.executable, "-m", "cleancrawl.pretrain", "pretrain",
                                 *as_cli_args(dataclasses.replace(config, out=out))], out)
    assert len(read_metrics(out)) < 20
    train(dataclasses.replace(config, out=out, resume=True))
    assert curve(out) == curve(config.out)


@pytest.mark.slow
def test_two_gloo_processes_match_one_for_every_objective(objective_runs, tmp_path):
    """Each run again as 2 gloo processes (micro-batch 8 of 16), all in one torchrun: the same curves."""
    configs = [dataclasses.replace(config, out=str(tmp_path / name)) for name, (config, _) in objective_runs.items()]
    path = tmp_path / "configs.json"
    path.write_text(json.dumps([c.to_dict() for c in configs]), encoding="utf-8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               os.path.join(os.path.dirname(__file__), "train_configs.py"), str(path)]
    done = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for (name, (config, _)), two in zip(objective_runs.items(), configs):
        with open(os.path.join(two.out, "config.json"), encoding="utf-8") as f:
            info = json.load(f)
        assert info["world_size"] == 2 and info["grad_accum"] == 1
        assert_same_curve(curve(config.out), curve(two.out))


def test_masking_is_refused_where_nothing_is_masked_and_a_resume_must_keep_it(objective_run, tmp_path):
    config, _ = objective_run
    for objective, masking, copies, message in [
            ("causal-lm", "static", 1, "only the corrupting objectives"),
            ("prefix-lm", "static", 1, "only the corrupting objectives"),
            ("span-corruption", "static", 1, "span corruption draws its masks per sequence"),
            ("mlm", "dynamic", 3, "--static-copies 3"), ("mlm", "static", 0, "--static-copies 0")]:
        model = "t5-tiny" if objective == "span-corruption" else "gpt2-tiny"
        with pytest.raises(UserError, match=message):
            check_objective(PretrainConfig(tokens="", out="", model=model, objective=objective, masking=masking,
                                           static_copies=copies))
    with pytest.raises(UserError, match="decoder-only GPT, trained with --objective causal-lm or prefix-lm or mlm"):
        check_objective(PretrainConfig(tokens="", out="", model="gpt2-tiny", objective="bert-style"))
    if config.objective == "prefix-lm":
        return
    saved = config.to_dict()
    other = "dynamic" if config.masking == "static" else "static"
    with pytest.raises(UserError, match="masking"):
        check_same_run(saved, dataclasses.replace(config, masking=other, static_copies=1))
    # A checkpoint from before --masking existed: dynamic masking, one copy.
    old = {k: v for k, v in saved.items() if k not in ("masking", "static_copies")}
    check_same_run(old, dataclasses.replace(config, masking="dynamic", static_copies=1))


# ---------------------------------------------------------------------------------------------
# The sweep


@pytest.mark.slow
def test_masking_sweep_runs_both_at_each_size_and_reports_them_side_by_side(tokens_without_validation, tmp_path):
    out = str(tmp_path / "sweep")
    budget = 8 * 16 * 63
    args = ["experiment", "repetition", "--tokens", tokens_without_validation, "--objective", "bert-style",
            "--masking", "static,dynamic", "--budget-tokens", str(budget), "--unique-tokens", f"{budget},504",
            "--batch-size", "16", "--lr", "3e-3", "--validation-tokens", "4096", "--eval-every", "4",
            "--log-every", "4", "--device", "cpu", "--out", out]
    assert main(args) == 0
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["unique_tokens"]), r["masking"]) for r in rows] == \
        [(budget, "dynamic"), (budget, "static"), (504, "dynamic"), (504, "static")]
    assert rows[0]["final_val_loss"] == rows[1]["final_val_loss"]  # one pass: the same masks, the same run
    assert rows[2]["final_val_loss"] != rows[3]["final_val_loss"]  # 16 passes: static repeats its masks
    for u in (budget, 504):
        for masking in ("static", "dynamic"):
            assert is_run_name(run_name("t5-tiny", u, masking))
            assert os.path.exists(os.path.join(out, run_name("t5-tiny", u, masking), "summary.json"))
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert "| t5-tiny | static | 504 | 16 |" in markdown and "## Static against dynamic masking" in markdown
    assert main(args) == 0  # a re-run skips the finished runs
    assert main(["experiment", "fit", os.path.join(out, "results.csv")]) == 2  # mixed maskings: one at a time
