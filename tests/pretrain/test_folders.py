"""Run folders: nothing clobbered (issue 21). `pretrain`, `experiment repetition` and `experiment
datasets` own a declared set of files, lock their --out, refuse foreign files and names that would
leave --out, and turn a full disk or a folder that cannot be written into one line.

Real runs of the tiny model on the byte tokens of conftest.py; the concurrent run is a real process.
Root ignores file modes, so a read-only folder and a full disk are simulated where the write fails."""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from cleancrawl import output_folder, storage
from cleancrawl.cli import main
from cleancrawl.pretrain import folders
from cleancrawl.pretrain.folders import truncate_metrics
from cleancrawl.pretrain.train import train

from .test_train import REPO, as_cli_args, subprocess_env, tiny_config
from disk_faults import fill_disk


def snapshot(folder) -> dict:
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names}


def one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def leftovers(folder) -> list[str]:
    return [p for p in snapshot(folder) if ".tmp" in p or output_folder.LOCK_FILE in p]


@pytest.fixture(scope="module")
def stopped_run(tokens_with_validation, tmp_path_factory):
    """A run stopped after its first checkpoint (step 8 of 30)."""
    config = tiny_config(tokens_with_validation, str(tmp_path_factory.mktemp("stopped") / "run"),
                         unique_tokens=2_300, stop_after_steps=8)
    assert not train(config)["finished"]
    return dataclasses.replace(config, stop_after_steps=None)


def copy_of(stopped_run, tmp_path) -> dataclasses.dataclass:
    return dataclasses.replace(stopped_run, out=shutil.copytree(stopped_run.out, str(tmp_path / "run")))


def live_process():
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])


def hold_lock(folder: str, pid: int, command: str) -> None:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, output_folder.LOCK_FILE), "w") as f:
        json.dump({"run_id": "other", "command": command, "host": socket.gethostname(), "pid": pid,
                   "started": "2024-01-01T00:00:00Z"}, f)


# ---------------------------------------------------------------------------------------------
# One writer per folder


def test_a_second_pretrain_on_one_out_is_refused_while_the_first_runs(stopped_run, tmp_path, capsys):
    out = str(tmp_path / "run")
    longer = dataclasses.replace(stopped_run, out=out, budget_tokens=400 * 16 * 64, checkpoint_every=1000)
    first = subprocess.Popen([sys.executable, "-m", "cleancrawl.pretrain", "pretrain", *as_cli_args(longer)],
                             cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while not os.path.exists(os.path.join(out, "metrics.jsonl")):  # training, under its lock
            assert first.poll() is None and time.time() < deadline, first.communicate()[1][-2000:]
            time.sleep(0.05)
        for resume in ([], ["--resume"]):
            assert main(["pretrain", *as_cli_args(longer), *resume]) == 2
            one_line(capsys, f"{out} is being written by another run", "cleancrawl pretrain", f"pid {first.pid}")
    finally:
        first.send_signal(signal.SIGTERM)
        stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 3, stderr[-2000:]  # checkpointed and stopped, alone in its folder
    assert not os.path.exists(os.path.join(out, output_folder.LOCK_FILE))
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        assert json.load(f)["config"]["budget_tokens"] == longer.budget_tokens
    step = int(stdout.split("stopping at step ")[1].split()[0])
    # Its own folder, once it is gone: resumed (one more step, then stopped as asked).
    assert main(["pretrain", *as_cli_args(longer), "--resume", "--stop-after-steps", str(step + 1)]) == 3
    assert "resumed from" in capsys.readouterr().out and not leftovers(out)


def test_resume_replaces_a_dead_runs_lock_and_removes_its_temporary_files(stopped_run, tmp_path, capsys):
    config = copy_of(stopped_run, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    hold_lock(config.out, dead.pid, "pretrain")
    for name in ("checkpoint.pt.tmp-4242", "summary.json.tmp"):  # a kill mid-write, this and older versions
        open(os.path.join(config.out, name), "wb").close()
    assert main(["pretrain", *as_cli_args(config), "--resume"]) == 0
    assert sorted(os.listdir(config.out)) == ["checkpoint.pt", "config.json", "metrics.jsonl", "summary.json"]


def test_experiments_are_refused_while_another_run_holds_their_out(tokens_with_validation, tmp_path, capsys):
    out = str(tmp_path / "t8")
    other = live_process()
    try:
        hold_lock(out, other.pid, "experiment datasets")
        assert main(["experiment", "datasets", "--tokens", f"a={tokens_with_validation}", "--eval", "wikitext",
                     "--budget-tokens", "1024", "--batch-size", "8", "--device", "cpu", "--out", out]) == 2
        one_line(capsys, "being written by another run", f"pid {other.pid}")
        assert main(["experiment", "repetition", "--tokens", tokens_with_validation, "--unique-tokens", "1e3",
                     "--budget-tokens", "1024", "--batch-size", "8", "--device", "cpu", "--out", out]) == 2
        one_line(capsys, "being written by another run", f"pid {other.pid}")
        assert main(["experiment", "report", out]) == 2
        one_line(capsys, "being written by another run", f"pid {other.pid}")
    finally:
        other.kill()
        other.wait()
    assert os.listdir(out) == [output_folder.LOCK_FILE]  # the other run's, left alone


def test_a_run_that_lost_its_folder_writes_no_checkpoint(tokens_with_validation, tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    monkeypatch.setattr(output_folder.OutputLock, "owned", lambda self: False)  # as if another run took the lock
    assert main(["pretrain", *as_cli_args(tiny_config(tokens_with_validation, out))]) == 2
    one_line(capsys, "another run took this folder")
    assert not os.path.exists(os.path.join(out, "checkpoint.pt"))


# ---------------------------------------------------------------------------------------------
# A user's files


@pytest.mark.parametrize("name, content", [
    ("notes.txt", b"mine\n"),
    ("config.json", b'{"lr": 0.1}\n'),        # a run's name, not a run's content
    ("summary.json", b'{"finished": true}\n'),
    ("metrics.jsonl", b"step,loss\n1,2.0\n"),
    ("data/train.csv", b"a,b\n"),            # a folder of the user's
])
def test_pretrain_refuses_a_folder_with_a_users_file_even_with_resume(tokens_with_validation, tmp_path, capsys,
                                                                      name, content):
    out = tmp_path / "run"
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    (out / name).write_bytes(content)
    before = snapshot(tmp_path)
    for resume in ([], ["--resume"]):
        assert main(["pretrain", *as_cli_args(tiny_config(tokens_with_validation, str(out))), *resume]) == 2
        by_name = name in ("notes.txt", "data/train.csv")
        one_line(capsys, name.split("/")[0], "did not write" if by_name else "not a file cleancrawl pretrain wrote")
        assert snapshot(tmp_path) == before  # untouched, and nothing written anywhere


def test_a_users_file_beside_a_stopped_run_stops_its_resume(stopped_run, tmp_path, capsys):
    config = copy_of(stopped_run, tmp_path)
    open(os.path.join(config.out, "README.md"), "w").write("my notes on this run\n")
    before = snapshot(tmp_path)
    assert main(["pretrain", *as_cli_args(config), "--resume"]) == 2
    one_line(capsys, "README.md", "did not write", "nothing was changed")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["datasets", "repetition"])
def test_experiments_refuse_a_users_file_in_out_or_in_a_run_folder(tokens_with_validation, tmp_path, capsys, command):
    out = tmp_path / "exp"
    run = "a" if command == "datasets" else "gpt2-tiny_u1k"
    args = (["experiment", "datasets", "--tokens", f"a={tokens_with_validation}", "--eval", "wikitext"]
            if command == "datasets" else
            ["experiment", "repetition", "--tokens", tokens_with_validation, "--unique-tokens", "1e3"])
    args += ["--budget-tokens", "1024", "--batch-size", "8", "--device", "cpu", "--out", str(out)]
    for mine in ("plan.txt", f"{run}/notes.txt", "other/data.csv"):
        shutil.rmtree(out, ignore_errors=True)
        (out / mine).parent.mkdir(parents=True, exist_ok=True)
        (out / mine).write_text("mine\n")
        before = snapshot(tmp_path)
        assert main(args) == 2
        one_line(capsys, mine if "/" not in mine or mine.startswith(run) else "other/", "did not write")
        assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# Names that would leave --out


@pytest.mark.parametrize("spec", ["..=TOKENS", "../", ".=TOKENS", "TOKENS/..", "results.json=TOKENS",
                                  "_cleancrawl.lock=TOKENS", ".hidden=TOKENS"])
def test_a_dataset_name_that_is_not_a_plain_name_is_refused(tokens_with_validation, tmp_path, capsys, spec):
    spec = spec.replace("TOKENS", tokens_with_validation)
    out = tmp_path / "sub" / "t8"
    out.parent.mkdir()
    assert main(["experiment", "datasets", "--tokens", spec, "--eval", "wikitext", "--budget-tokens", "1024",
                 "--batch-size", "8", "--device", "cpu", "--out", str(out)]) == 2
    one_line(capsys, "--tokens", "the dataset name")
    assert os.listdir(out.parent) == [] and os.listdir(tmp_path) == ["sub"]  # no run folder anywhere


def test_run_folders_are_plain_names_inside_out(tmp_path):
    assert folders.run_folder(str(tmp_path), "wiki") == os.path.join(str(tmp_path), "wiki")
    for name in ("..", "a/../..", "/etc"):
        with pytest.raises(Exception, match="outside --out"):
            folders.run_folder(str(tmp_path), name)
    for name in ("", ".", "..", "a/b", "a\\b", "x\x1b[41m"):
        with pytest.raises(Exception, match="not a plain name"):
            folders.check_plain_name(name, "--tokens")


# ---------------------------------------------------------------------------------------------
# A folder that cannot be written, a full disk


def test_pretrain_into_a_folder_that_cannot_be_written_is_one_line(tokens_with_validation, tmp_path, monkeypatch,
                                                                   capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine\n")
    assert main(["pretrain", *as_cli_args(tiny_config(tokens_with_validation, str(blocker / "run")))]) == 2
    one_line(capsys, "cannot write to", str(blocker / "run"))
    assert main(["pretrain", *as_cli_args(tiny_config(tokens_with_validation, str(blocker)))]) == 2
    one_line(capsys, "is a file, not a folder")
    assert blocker.read_text() == "mine\n"

    # A read-only folder (root writes anyway: the lock file's creation fails as it would)
    out = tmp_path / "read-only"
    out.mkdir()
    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(out)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    assert main(["pretrain", *as_cli_args(tiny_config(tokens_with_validation, str(out)))]) == 2
    one_line(capsys, f"cannot write to {out}", "Permission denied")
    monkeypatch.undo()

    # A file system remounted read-only once the run has its lock: its first write is one line.
    def read_only_file(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).startswith(str(out)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(storage, "open", read_only_file, raising=False)
    assert main(["pretrain", *as_cli_args(tiny_config(tokens_with_validation, str(out)))]) == 2
    one_line(capsys, f"cannot write to {out}", "Read-only file system", "config.json")
    assert os.listdir(out) == []  # no lock, no temporary file


def test_disk_full_while_checkpointing_is_one_line_and_keeps_the_last_checkpoint(stopped_run, tmp_path,
                                                                                 monkeypatch, capsys):
    config = copy_of(stopped_run, tmp_path)
    checkpoint = os.path.join(config.out, "checkpoint.pt")
    before = open(checkpoint, "rb").read()
    fill_disk(monkeypatch, "checkpoint.pt.tmp-")
    assert main(["pretrain", *as_cli_args(config), "--resume"]) == 2
    one_line(capsys, config.out, "no space left on device", "--resume")
    assert open(checkpoint, "rb").read() == before  # the step-8 checkpoint, whole
    assert not leftovers(str(tmp_path))  # no temporary file, no lock
    monkeypatch.undo()
    # Space freed: the run resumes from that checkpoint and finishes.
    assert train(dataclasses.replace(config, resume=True))["finished"]
    assert [json.loads(line)["step"] for line in open(os.path.join(config.out, "metrics.jsonl"))] == list(range(1, 31))


def test_a_metrics_line_cut_by_a_full_disk_is_dropped_on_resume(tmp_path):
    path = str(tmp_path / "metrics.jsonl")
    with open(path, "w") as f:
        f.write('{"step": 1, "train_loss": 5.0}\n{"step": 2, "train_loss": 4.0}\n{"step": 3, "tra')
    truncate_metrics(path, 8)
    assert [json.loads(line)["step"] for line in open(path)] == [1, 2]
    assert os.listdir(tmp_path) == ["metrics.jsonl"]
