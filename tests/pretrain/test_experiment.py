"""The repetition sweep end to end through the CLI, and its report."""
from __future__ import annotations

import csv
import json
import os

import pytest

from cleancrawl.cli import main
from cleancrawl.cli.pretrain import parse_count, parse_count_list
from cleancrawl.pretrain.experiment import run_name, short_count

BUDGET = 100 * 16 * 64  # 100 steps of 16 sequences of 64 tokens
UNIQUE = [BUDGET, 6_400, 1_600]  # 1, 16 and 64 repeats


@pytest.fixture(scope="module")
def sweep(tokens_without_validation, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sweep"))
    args = ["experiment", "repetition", "--tokens", tokens_without_validation, "--model", "gpt2-tiny",
            "--budget-tokens", str(BUDGET), "--unique-tokens", ",".join(str(u) for u in UNIQUE),
            "--batch-size", "16", "--lr", "3e-3", "--validation-tokens", "8192", "--eval-every", "25",
            "--log-every", "5", "--device", "cpu", "--out", out]
    assert main(args) == 0
    return out, args


@pytest.mark.slow
def test_sweep_writes_one_run_per_size_and_the_table(sweep):
    out, _ = sweep
    for u in UNIQUE:
        assert os.path.exists(os.path.join(out, run_name("gpt2-tiny", u), "summary.json"))
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["unique_tokens"]) for r in rows] == UNIQUE  # most unique data first
    for r in rows:
        assert int(r["tokens_seen"]) == BUDGET  # every run sees the same tokens...
        assert float(r["repeats"]) == pytest.approx(BUDGET / int(r["unique_tokens"]))  # ...repeated more or less
        assert float(r["gap"]) == pytest.approx(float(r["final_val_loss"]) - float(r["final_train_loss"]))
    once, many = rows[0], rows[-1]
    # 64 passes over 1,600 tokens: memorised, far below validation; one pass: no gap to speak of.
    assert float(many["gap"]) > float(once["gap"]) + 0.3
    assert float(many["final_val_loss"]) > float(once["final_val_loss"])
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert "| gpt2-tiny | 1,600 | 64 |" in markdown
    assert "held out by hash" in markdown  # the sample corpus has no validation split


@pytest.mark.slow
def test_sweep_report_has_plots_and_a_self_contained_page(sweep):
    out, _ = sweep
    for name in ("val_loss_vs_repeats.png", "curves.png"):
        with open(os.path.join(out, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
        page = f.read()
    assert page.count("data:image/png;base64,") == 2 and "<table>" in page and "held out by hash" in page


@pytest.mark.slow
def test_rerunning_the_sweep_skips_finished_runs_and_report_rewrites(sweep, capsys):
    out, args = sweep
    path = os.path.join(out, run_name("gpt2-tiny", UNIQUE[0]), "summary.json")
    before = os.path.getmtime(path)
    assert main(args) == 0
    assert os.path.getmtime(path) == before
    os.remove(os.path.join(out, "results.csv"))
    assert main(["experiment", "report", out]) == 0
    assert os.path.join(out, "results.csv") in capsys.readouterr().out
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["finished"]


def test_counts_parse_like_the_issue_writes_them():
    assert parse_count("2e8") == 200_000_000
    assert parse_count_list("2e8,5e7,1.25e7,3.1e6") == [200_000_000, 50_000_000, 12_500_000, 3_100_000]
    assert parse_count_list("all,1e6") == [None, 1_000_000]
    assert [short_count(n) for n in (200_000_000, 12_500_000, 3_100_000, 1_600, 12)] == \
        ["200M", "12.5M", "3.1M", "1.6k", "12"]


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    code = main(["pretrain", "--tokens", str(tmp_path / "none"), "--out", str(tmp_path / "run"), "--device", "cpu"])
    assert code == 2
    err = capsys.readouterr().err
    assert "no such token directory" in err and "Traceback" not in err
    assert main(["experiment", "report", str(tmp_path / "nothing")]) == 2
    config = tmp_path / "report.json"
    config.write_text(json.dumps({"sweep_dir": str(tmp_path / "elsewhere")}), encoding="utf-8")
    capsys.readouterr()
    assert main(["experiment", "report", "--config", str(config)]) == 2  # --config names the sweep too
    assert f"{tmp_path / 'elsewhere'}: no such sweep directory" in capsys.readouterr().err
    assert main(["experiment", "report"]) == 2
    assert "required: sweep_dir" in capsys.readouterr().err
    assert main(["experiment", "repetition", "--tokens", str(tmp_path), "--out", str(tmp_path / "sweep"),
                 "--model", "gpt5", "--unique-tokens", "1e3"]) == 2
    assert "unknown model 'gpt5'" in capsys.readouterr().err


def test_pretrain_cli_runs_without_beam(tmp_path):
    """`python -m cleancrawl.pretrain` is what a GPU machine without Beam runs (bench/gpu_session.sh)."""
    import subprocess
    import sys

    code = ("import runpy, sys; sys.modules['apache_beam'] = None; "
            "runpy.run_module('cleancrawl.pretrain', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code, "experiment", "repetition", "--tokens", str(tmp_path / "none"),
                             "--out", str(tmp_path / "sweep"), "--unique-tokens", "1e3"],
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "no such token directory" in result.stderr and "Traceback" not in result.stderr
