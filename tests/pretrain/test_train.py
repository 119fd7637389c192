"""The loop: one process against two (gloo), kill and resume, what a run writes."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.schedule import CosineSchedule
from cleancrawl.pretrain.train import train

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def tiny_config(tokens: str, out: str, **changes) -> PretrainConfig:
    """gpt2-tiny (2 layers, d 64, seq 64), 16 sequences a step, 30 steps."""
    config = PretrainConfig(tokens=tokens, out=out, model="gpt2-tiny", budget_tokens=30 * 16 * 64,
                         batch_size=16, micro_batch=8, lr=3e-3, validation_tokens=4096,
                         eval_every=10, log_every=1, checkpoint_every=8, device="cpu")
    return dataclasses.replace(config, **changes)


def as_cli_args(config: PretrainConfig) -> list[str]:
    args = ["--tokens", config.tokens, "--out", config.out, "--model", config.model,
            "--budget-tokens", str(config.budget_tokens), "--batch-size", str(config.batch_size),
            "--micro-batch", str(config.micro_batch), "--lr", str(config.lr),
            "--validation-tokens", str(config.validation_tokens), "--eval-every", str(config.eval_every),
            "--log-every", str(config.log_every), "--checkpoint-every", str(config.checkpoint_every),
            "--device", "cpu"]
    if config.objective != "causal-lm":
        args += ["--objective", config.objective, "--noise-density", str(config.noise_density),
                 "--mean-noise-span", str(config.mean_noise_span)]
    if config.masking != "dynamic":
        args += ["--masking", config.masking, "--static-copies", str(config.static_copies)]
    return args + (["--unique-tokens", str(config.unique_tokens)] if config.unique_tokens else [])


def read_metrics(out: str) -> list[dict]:
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def curve(out: str) -> list[tuple]:
    return [(m["step"], m["train_loss"], m.get("val_loss")) for m in read_metrics(out)]


def stopped_then_resumed(config, out: str, steps: int):
    """`config` run into `out`, stopped after `steps` steps, then resumed: (the stopped run's
    config, the resumed run's summary)."""
    stopped = dataclasses.replace(config, out=out, stop_after_steps=steps)
    assert train(stopped) == {"finished": False, "step": steps}
    return stopped, train(dataclasses.replace(stopped, stop_after_steps=None, resume=True))


def subprocess_env(threads: int = 1) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS=str(threads))
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def kill_after_first_checkpoint(command: list[str], out: str) -> None:
    """Start a training process, SIGKILL it as soon as its first checkpoint exists (no clean-up)."""
    # As many threads as this process: CPU results are exact only for the same thread count.
    process = subprocess.Popen(command, cwd=REPO, env=subprocess_env(threads=torch.get_num_threads()),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = os.path.join(out, "checkpoint.pt")
    deadline = time.time() + 60
    while not os.path.exists(checkpoint) and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()


def assert_two_gloo_processes_match_one(config: PretrainConfig, out: str) -> None:
    """Rerun `config` (micro-batch 8 of 16) as 2 gloo processes under torchrun: the same curve.
    2 processes × micro-batch 8 × 1 accumulation step = 1 process × 8 × 2 steps = 16 sequences."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "cleancrawl.pretrain", "pretrain", *as_cli_args(dataclasses.replace(config, out=out))]
    done = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["world_size"] == 2 and info["grad_accum"] == 1
    assert_same_curve(curve(config.out), curve(out))


def assert_same_curve(one: list[tuple], two: list[tuple]) -> None:
    """The same steps, and losses equal within float noise (different process layouts reduce
    in different orders)."""
    assert [s for s, _, _ in one] == [s for s, _, _ in two]
    for (_, train1, val1), (_, train2, val2) in zip(one, two):
        assert train2 == pytest.approx(train1, rel=1e-5, abs=1e-5)
        if val1 is not None:
            assert val2 == pytest.approx(val1, rel=1e-5, abs=1e-5)


@pytest.fixture(scope="module")
def reference_run(tokens_with_validation, tmp_path_factory):
    """One uninterrupted 30-step run on repeated data (about 13 epochs of 2,300 tokens)."""
    config = tiny_config(tokens_with_validation, str(tmp_path_factory.mktemp("reference")), unique_tokens=2_300)
    summary = train(config)
    return config, summary


def test_run_writes_metrics_checkpoint_and_summary(reference_run):
    config, summary = reference_run
    records = read_metrics(config.out)
    assert [r["step"] for r in records] == list(range(1, 31))
    for r in records:
        assert r["tokens_seen"] == r["step"] * 16 * 64
        assert r["epochs"] == pytest.approx(r["tokens_seen"] / 2_300)
        assert r["tokens_per_s"] > 0 and r["mfu"] is None  # no known peak for a CPU
    assert [r["step"] for r in records if "val_loss" in r] == [10, 20, 30]
    assert records[-1]["train_loss"] < records[0]["train_loss"] - 1.0  # it learns
    assert summary["finished"] and summary["repeats"] == pytest.approx(30 * 1024 / 2_300)
    # 13 passes over 2,300 tokens: the model fits them better than text it never saw.
    assert summary["final_train_loss"] < summary["final_val_loss"]
    assert summary["gap"] == pytest.approx(summary["final_val_loss"] - summary["final_train_loss"])
    assert summary["validation_source"].startswith("validation split")
    with open(os.path.join(config.out, "config.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["unique_tokens"] == 2_300 and info["grad_accum"] == 2 and info["world_size"] == 1
    assert os.path.exists(os.path.join(config.out, "checkpoint.pt"))
    assert not [n for n in os.listdir(config.out) if ".tmp" in n]  # atomic writes leave nothing behind


def test_stopped_and_resumed_run_gives_the_same_curve_exactly(reference_run, tmp_path):
    config, _ = reference_run
    resumed = dataclasses.replace(config, out=str(tmp_path / "run"), stop_after_steps=13)
    assert train(resumed) == {"finished": False, "step": 13}
    assert len(read_metrics(resumed.out)) == 13  # steps 9-13 run twice: logged, then dropped on resume
    train(dataclasses.replace(resumed, stop_after_steps=None, resume=True))
    assert curve(resumed.out) == curve(config.out)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_curve(reference_run, tmp_path):
    config, _ = reference_run
    out = str(tmp_path / "killed")
    kill_after_first_checkpoint([sys.executable, "-m", "cleancrawl.pretrain", "pretrain",
                                 *as_cli_args(dataclasses.replace(config, out=out))], out)
    assert len(read_metrics(out)) < 30
    train(dataclasses.replace(config, out=out, resume=True, unique_tokens=2_300))
    assert curve(out) == curve(config.out)


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(reference_run, tmp_path):
    config, _ = reference_run
    assert_two_gloo_processes_match_one(config, str(tmp_path / "two"))


def test_sigterm_checkpoints_and_stops_then_resume_finishes(reference_run, tmp_path):
    config, _ = reference_run
    out = str(tmp_path / "signalled")
    longer = dataclasses.replace(config, out=out, budget_tokens=400 * 16 * 64, checkpoint_every=1000)
    command = [sys.executable, "-m", "cleancrawl.pretrain", "pretrain", *as_cli_args(longer)]
    process = subprocess.Popen(command, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(out, "metrics.jsonl")
    deadline = time.time() + 60
    while not os.path.exists(metrics) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 3, stderr[-2000:]  # stopped, not finished
    assert "stopping at step" in stdout
    saved = torch.load(os.path.join(out, "checkpoint.pt"), weights_only=False)
    assert saved["step"] == read_metrics(out)[-1]["step"] < 400
    assert saved["next_sequence"] == saved["step"] * 16


def test_existing_run_needs_resume_and_resume_needs_the_same_options(reference_run):
    config, _ = reference_run
    with pytest.raises(UserError, match="--resume"):
        train(config)
    # A finished run is not trained again.
    assert train(dataclasses.replace(config, resume=True))["finished"]


def test_run_killed_after_its_last_checkpoint_finishes_on_resume(reference_run, tmp_path):
    config, summary = reference_run
    out = str(tmp_path / "copy")
    shutil.copytree(config.out, out)
    os.remove(os.path.join(out, "summary.json"))  # as if killed between the final checkpoint and the summary
    again = train(dataclasses.replace(config, out=out, resume=True))
    assert again["final_val_loss"] == summary["final_val_loss"]
    assert again["final_train_loss"] == summary["final_train_loss"]
    assert curve(out) == curve(config.out)


def test_resume_with_other_options_is_refused(reference_run, tmp_path):
    config, _ = reference_run
    out = str(tmp_path / "run")
    train(dataclasses.replace(config, out=out, stop_after_steps=8))
    with pytest.raises(UserError, match="lr"):
        train(dataclasses.replace(config, out=out, resume=True, lr=1e-2))


def test_schedule_warms_up_then_decays_to_the_floor():
    schedule = CosineSchedule(lr=1e-3, warmup_steps=10, total_steps=100, min_ratio=0.1)
    rates = [schedule(s) for s in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert schedule(100) == pytest.approx(1e-4)


def test_mfu_is_reported_against_a_given_peak(tokens_with_validation, tmp_path):
    config = tiny_config(tokens_with_validation, str(tmp_path / "mfu"), budget_tokens=3 * 16 * 64,
                         peak_flops=1e12)
    summary = train(config)
    records = read_metrics(config.out)
    assert all(0 < r["mfu"] < 1 for r in records)
    with open(os.path.join(config.out, "config.json"), encoding="utf-8") as f:
        flops_per_token = json.load(f)["flops_per_token"]
    assert records[-1]["mfu"] == pytest.approx(flops_per_token * records[-1]["tokens_per_s"] / 1e12)
    assert summary["mfu"] is not None


def test_prefetching_batches_changes_nothing(reference_run, tmp_path):
    """The GPU default (next micro-batch made in a thread) gives the CPU run's exact curve."""
    config, _ = reference_run
    out = str(tmp_path / "prefetched")
    train(dataclasses.replace(config, out=out, prefetch=True))
    assert curve(out) == curve(config.out)
