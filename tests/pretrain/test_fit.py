"""The fitted law of repetition (`experiment fit`, and in `experiment report`).

Synthetic sweeps are generated from the law itself (Muennighoff et al. 2023, eq. 5) at two true R*
(5 and the published 15.4) with small seeded noise, at two budgets as their sweeps have; the fit
must find each and its bootstrap interval must contain it. A tiny real sweep on the byte tokens of
tests/pretrain/conftest.py goes end to end through the CLI; bad CSVs are one line and exit 2.
"""
from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

from cleancrawl.cli import main
from cleancrawl.pretrain.fit import (
    effective_data,
    fit_repetition_law,
    make_runs,
    predict,
    read_runs_csv,
    t5_log_fit,
)

REPEATS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
BUDGETS = (1e8, 1e9)
TRUE = {"E": 1.9, "B": 400.0, "beta": 0.35}


def synthetic(r_star: float, *, noise: float = 0.003, seed: int = 1, e=TRUE["E"], budgets=BUDGETS):
    rng = np.random.default_rng(seed)
    tokens = np.array([t for t in budgets for _ in REPEATS])
    unique = np.array([t / r for t in budgets for r in REPEATS])
    loss = e + TRUE["B"] / effective_data(unique, tokens / unique - 1, r_star) ** TRUE["beta"]
    return unique, tokens, loss + rng.normal(0.0, noise, len(loss))


def write_csv(path, header, rows) -> str:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.mark.parametrize("r_star", [5.0, 15.4])
def test_fit_recovers_a_known_r_star_and_its_interval_contains_it(r_star):
    fit = fit_repetition_law(make_runs(*synthetic(r_star)))
    assert fit["r_star"] == pytest.approx(r_star, rel=0.05)
    low, high = fit["r_star_ci"]
    assert low <= r_star <= high and high - low < 0.5 * r_star  # an interval that says something
    assert fit["beta"] == pytest.approx(TRUE["beta"], rel=0.05)
    assert fit["E"] == pytest.approx(TRUE["E"], abs=0.02)
    assert fit["B"] == pytest.approx(TRUE["B"], rel=0.2)
    assert fit["r2"] > 0.99 and fit["published_r_star"] == 15.4 and fit["bootstrap_samples"] >= 150


def test_the_two_true_values_give_two_different_fits():
    five = fit_repetition_law(make_runs(*synthetic(5.0)), bootstrap=0)["r_star"]
    published = fit_repetition_law(make_runs(*synthetic(15.4)), bootstrap=0)["r_star"]
    assert published / five == pytest.approx(15.4 / 5.0, rel=0.1)


def test_one_wild_run_does_not_move_the_robust_fit_much():
    unique, tokens, loss = synthetic(15.4)
    loss[3] += 0.5  # one diverged run
    fit = fit_repetition_law(make_runs(unique, tokens, loss), bootstrap=0)
    assert fit["r_star"] == pytest.approx(15.4, rel=0.15)


def test_bootstrap_is_seeded():
    runs = make_runs(*synthetic(5.0))
    assert fit_repetition_law(runs, bootstrap=30) == fit_repetition_law(runs, bootstrap=30)


def test_model_sizes_share_r_star_and_each_has_its_own_e():
    u1, t1, l1 = synthetic(15.4, seed=2, e=2.5)
    u2, t2, l2 = synthetic(15.4, seed=3, e=2.1)
    runs = make_runs(np.r_[u1, u2], np.r_[t1, t2], np.r_[l1, l2], params=[1e7] * len(u1) + [1e8] * len(u2))
    fit = fit_repetition_law(runs, bootstrap=20)
    assert fit["r_star"] == pytest.approx(15.4, rel=0.05)
    assert fit["E"] == {"10000000.0": pytest.approx(2.5, abs=0.02), "100000000.0": pytest.approx(2.1, abs=0.02)}
    assert predict(fit, 1e6, 1e8, params=1e8) == pytest.approx(
        2.1 + TRUE["B"] / effective_data(1e6, 99, 15.4) ** TRUE["beta"], abs=0.02)


def test_t5_log_fit_is_a_straight_line_in_log_unique_data():
    unique = np.array([1e6, 4e6, 1.6e7, 6.4e7])
    fit = t5_log_fit(make_runs(unique, np.full(4, 1e8), -0.12 * np.log(unique) + 5.0))
    assert fit["a"] == pytest.approx(-0.12) and fit["b"] == pytest.approx(5.0)


def test_fit_cli_reads_a_csv_and_writes_json(tmp_path, capsys):
    unique, tokens, loss = synthetic(5.0)
    path = write_csv(tmp_path / "runs.csv", ["unique_tokens", "tokens", "val_loss"], zip(unique, tokens, loss))
    assert main(["experiment", "fit", path, "--json", str(tmp_path / "fit.json")]) == 0
    out = capsys.readouterr().out
    assert "fitted R* = 5" in out and "published 15.4" in out
    with open(tmp_path / "fit.json", encoding="utf-8") as f:
        fit = json.load(f)
    assert {"r_star", "r_star_ci", "E", "B", "beta", "r2", "t5_log_fit"} <= set(fit)
    assert fit["r_star_ci"][0] <= 5.0 <= fit["r_star_ci"][1]


def test_fit_takes_its_options_from_a_config_file(tmp_path, capsys):
    """Every subcommand takes --config: the file's keys are FitConfig's fields, RESULTS.csv among them."""
    unique, tokens, loss = synthetic(5.0)
    path = write_csv(tmp_path / "runs.csv", ["unique_tokens", "tokens", "val_loss"], zip(unique, tokens, loss))
    config = tmp_path / "fit.yaml"
    config.write_text(f"results_csv: {path}\nbootstrap: 0\njson: {tmp_path / 'from-file.json'}\n", encoding="utf-8")
    assert main(["experiment", "fit", "--config", str(config)]) == 0
    assert main(["experiment", "fit", path, "--bootstrap", "0", "--json", str(tmp_path / "from-args.json")]) == 0
    with open(tmp_path / "from-file.json", encoding="utf-8") as f, \
            open(tmp_path / "from-args.json", encoding="utf-8") as g:
        assert json.load(f) == json.load(g)
    capsys.readouterr()
    config.write_text("bootstrap: 0\n", encoding="utf-8")
    assert main(["experiment", "fit", "--config", str(config)]) == 2
    assert "required: RESULTS.csv" in capsys.readouterr().err


def _bad(tmp_path, header, rows):
    return write_csv(tmp_path / "bad.csv", header, rows)


@pytest.mark.parametrize("case, needle", [
    ("missing", "no such file"),
    ("directory", "is a directory"),
    ("no column", "no column 'val_loss'"),
    ("not a number", "line 3: val_loss = 'nan-ish' is not a number"),
    ("negative", "line 2: unique_tokens = '-5' must be a positive"),
    ("infinite", "line 2: val_loss = 'inf' must be a positive finite number"),
    ("empty", "holds no runs"),
    ("few repeats", "4 or more distinct repeat counts; these 3 runs have 3"),
    ("json is the input", "is the input RESULTS.csv"),
    ("binary", "not a readable CSV"),
])
def test_bad_csvs_are_one_line_and_exit_2(tmp_path, capsys, case, needle):
    header = ["unique_tokens", "tokens", "val_loss"]
    good = [[1000, 1000, 3.0], [500, 1000, 3.1], [250, 1000, 3.2], [125, 1000, 3.4]]
    extra = []
    path = {
        "missing": lambda: str(tmp_path / "nope.csv"),
        "directory": lambda: str(tmp_path),
        "no column": lambda: _bad(tmp_path, header[:2], [r[:2] for r in good]),
        "not a number": lambda: _bad(tmp_path, header, [good[0], [500, 1000, "nan-ish"]]),
        "negative": lambda: _bad(tmp_path, header, [[-5, 1000, 3.0]]),
        "infinite": lambda: _bad(tmp_path, header, [[100, 1000, "inf"]]),
        "empty": lambda: _bad(tmp_path, header, []),
        "few repeats": lambda: _bad(tmp_path, header, good[:3]),
        "json is the input": lambda: _bad(tmp_path, header, good),
        "binary": lambda: str(tmp_path / "bin.csv"),
    }[case]()
    if case == "binary":
        with open(path, "wb") as f:
            f.write(bytes(range(128, 256)) * 4)
    if case == "json is the input":
        extra = ["--json", path]
    assert main(["experiment", "fit", path, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_fit_reads_the_reports_own_column_names(tmp_path):
    path = write_csv(tmp_path / "results.csv", ["model", "unique_tokens", "tokens_seen", "final_val_loss"],
                     [["m", 1000, 1000, 3.0], ["m", 500, 1000, 3.1], ["m", 4000, 1000, 3.0]])
    runs = read_runs_csv(path)
    assert list(runs.tokens) == [1000] * 3 and list(runs.val_loss) == [3.0, 3.1, 3.0]
    assert list(runs.repeats) == [0, 1, 0]  # `all` (more unique data than tokens): one pass over what it saw


# A tiny real sweep: 5 unique-data sizes, 1 to 64 repeats, gpt2-tiny on CPU.
STEPS, BATCH, SEQ = 24, 8, 64
BUDGET = STEPS * BATCH * SEQ
UNIQUE = [BUDGET, BUDGET // 2, BUDGET // 4, BUDGET // 16, BUDGET // 64]


@pytest.fixture(scope="module")
def small_sweep(tokens_without_validation, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("fit-sweep"))
    args = ["experiment", "repetition", "--tokens", tokens_without_validation, "--model", "gpt2-tiny",
            "--budget-tokens", str(BUDGET), "--unique-tokens", ",".join(str(u) for u in UNIQUE),
            "--batch-size", str(BATCH), "--seq-len", str(SEQ), "--lr", "3e-3", "--validation-tokens", "4096",
            "--eval-every", str(STEPS), "--log-every", str(STEPS), "--device", "cpu", "--out", out]
    assert main(args) == 0
    return out


def test_a_real_sweep_is_fitted_by_the_report_and_by_the_cli(small_sweep, tmp_path, capsys):
    out = small_sweep
    with open(os.path.join(out, "fit.json"), encoding="utf-8") as f:
        fits = json.load(f)
    assert set(fits) == {"gpt2-tiny"} and fits["gpt2-tiny"]["runs"] == 5
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        assert "gpt2-tiny: fitted R* = " in f.read()
    capsys.readouterr()
    assert main(["experiment", "report", out]) == 0
    printed = capsys.readouterr().out
    assert "vs published 15.4" in printed and os.path.join(out, "fit.json") in printed
    assert main(["experiment", "fit", os.path.join(out, "results.csv"), "--bootstrap", "0",
                 "--json", str(tmp_path / "fit.json")]) == 0
    with open(tmp_path / "fit.json", encoding="utf-8") as f:
        fit = json.load(f)
    assert fit["r_star"] == pytest.approx(fits["gpt2-tiny"]["r_star"])  # the same fit as the report's
    assert fit["runs"] == 5 and np.isfinite(fit["r2"]) and fit["r_star_ci"] is None
    ci = fits["gpt2-tiny"]["r_star_ci"]
    assert ci is not None and 0 < ci[0] <= ci[1]


def test_four_runs_for_four_parameters_get_no_interval():
    unique = np.array([1e6, 2.5e5, 6.25e4, 1.5625e4])
    fit = fit_repetition_law(make_runs(unique, np.full(4, 1e6), [3.6, 3.6, 3.62, 3.86]))
    assert fit["r_star_ci"] is None and fit["r_star_ci_note"] == "no interval: 4 runs for 4 parameters"


def test_a_csv_saved_by_a_spreadsheet_with_a_bom_is_read(tmp_path):
    path = tmp_path / "excel.csv"
    rows = [[1000, 1000, 3.0], [500, 1000, 3.1]]
    path.write_bytes(b"\xef\xbb\xbf" + "unique_tokens,tokens,val_loss\n".encode() +
                     "".join(f"{u},{t},{v}\n" for u, t, v in rows).encode())
    runs = read_runs_csv(str(path))  # was "no column 'unique_tokens'" with the BOM invisible in the message
    assert list(runs.unique_tokens) == [1000, 500] and list(runs.val_loss) == [3.0, 3.1]
