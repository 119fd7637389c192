"""`cleancrawl experiment datasets`: the same model and budget on each token directory, scored on
every --eval in bits per byte (T5's Table 8 at any scale), on the real byte tokens of conftest.py."""
from __future__ import annotations

import csv
import json
import os

import pytest

from cleancrawl.cli import main

BUDGET = 12 * 8 * 64


@pytest.fixture(scope="module")
def table8(tokens_with_validation, tokens_without_validation, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("datasets") / "t8")
    args = ["experiment", "datasets", "--tokens", f"wiki_and_novel={tokens_with_validation}",
            "--tokens", f"held_out_by_hash={tokens_without_validation}", "--eval", "wikitext", "--eval", "botchan",
            "--model", "gpt2-tiny", "--budget-tokens", str(BUDGET), "--batch-size", "8", "--lr", "3e-3",
            "--validation-tokens", "2048", "--eval-every", "12", "--device", "cpu", "--out", out]
    assert main(args) == 0
    return out, args


def test_results_json_has_every_dataset_on_every_eval(table8):
    out, _ = table8
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    assert set(results["bpb"]) == {"wiki_and_novel", "held_out_by_hash"}
    for dataset, per_eval in results["bpb"].items():
        assert set(per_eval) == {"wikitext", "botchan"} and all(0 < v < 9 for v in per_eval.values())
        assert results["bpb_mean"][dataset] == pytest.approx(sum(per_eval.values()) / 2)
        with open(os.path.join(out, dataset, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
        assert summary["tokens_seen"] == BUDGET and summary["eval_bpb"] == per_eval  # same budget each


def test_markdown_and_csv_mark_the_best_of_each_column_and_a_plot(table8):
    out, _ = table8
    with open(os.path.join(out, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert "| dataset | wikitext bits/byte | botchan bits/byte | mean bits/byte |" in markdown
    for column in ("wikitext", "botchan"):
        best = min(results["bpb"], key=lambda d: results["bpb"][d][column])
        assert f"**{results['bpb'][best][column]:.4f}**" in markdown
    assert markdown.count("**") == 2 * 3  # one best per column (no ties here)
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["dataset"] for r in rows] == ["wiki_and_novel", "held_out_by_hash"]
    assert sum(len(r["best_of"].split(";")) for r in rows if r["best_of"]) == 3
    with open(os.path.join(out, "bpb.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_rerun_skips_finished_runs(table8, capsys):
    out, args = table8
    path = os.path.join(out, "wiki_and_novel", "summary.json")
    before = os.path.getmtime(path)
    assert main(args) == 0
    assert os.path.getmtime(path) == before and "already finished" in "".join(capsys.readouterr())


@pytest.mark.parametrize("extra, needle", [
    (["--tokens", "a=TOKENS", "--tokens", "a=TOKENS", "--eval", "wikitext"], "the dataset name a is given twice"),
    (["--tokens", "a=TOKENS"], "--eval: name at least one"),
    (["--tokens", "a=TOKENS", "--eval", "wikitext", "--objective", "span-corruption", "--model", "t5-tiny"],
     "span-corruption"),
])
def test_bad_datasets_commands_are_one_line(tokens_with_validation, tmp_path, capsys, extra, needle):
    extra = [e.replace("TOKENS", tokens_with_validation) for e in extra]
    assert main(["experiment", "datasets", *extra, "--budget-tokens", "1024", "--batch-size", "8",
                 "--device", "cpu", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_finished_runs_scored_on_other_evals_are_refused(table8, capsys):
    out, args = table8
    i = args.index("botchan")
    other = args[:i - 1] + args[i + 1:]  # without `--eval botchan`
    assert other.count("--eval") == 1
    assert main(other) == 2
    err = capsys.readouterr().err.strip()
    assert "finished earlier with --eval wikitext, botchan, not wikitext" in err and len(err.splitlines()) == 1, err
