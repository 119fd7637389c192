"""`cleancrawl plan`: a sample of a real listing's files projects the whole build, on real data
(the bundled 323-page WET sample split into 12 files at its gzip members)."""
from __future__ import annotations

import json

import pytest

from cleancrawl.cli import main
from cleancrawl.pipelines.build import run_build
from cleancrawl.pipelines.config import BuildConfig
from cleancrawl.pipelines.plan import _cpu_seconds, projected_total

from datapaths import write_sample_listing

FILES = 12


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    """12 real WET files (the first holding the warcinfo record) and a `.paths` listing of them."""
    folder = tmp_path_factory.mktemp("crawl")
    write_sample_listing(folder, FILES, subfolder="segments")
    return folder


def _plan(listing, tmp_path, capsys, *extra) -> tuple[int, str, str]:
    code = main(["plan", "--input-list", str(listing / "wet.paths"), "--input-prefix", str(listing), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_sample_projects_the_whole_build(listing, tmp_path, capsys):
    code, out, err = _plan(listing, tmp_path, capsys, "--sample", "6", "--sample-seed", "1", "--json",
                           str(tmp_path / "plan.json"), "--price-cpu-hour", "0.05", "--workers-wall", "4")
    assert code == 0, err
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert {"files", "sampled_files", "pages", "kept_pages", "cpu_hours", "bytes_read", "sample", "spill_bytes",
            "shuffle_bytes"} <= set(plan)
    assert plan["sample"]["spill_bytes"] > 0 and plan["sample"]["shuffle_bytes"] > 0  # dedup spills and shuffles
    assert "spill " in out and "shuffle " in out
    assert (plan["files"], plan["sampled_files"]) == (FILES, 6)
    assert "cost at $0.05/CPU-hour: $" in out and "assumptions:" in out
    assert not list(tmp_path.glob("cleancrawl-out*")), "plan writes only --json"

    start = _cpu_seconds()
    stats = run_build(BuildConfig(input_list=str(listing / "wet.paths"), input_prefix=str(listing),
                                  output=str(tmp_path / "whole")))
    cpu = _cpu_seconds() - start
    whole = {"pages": stats["totals"]["read"], "kept_pages": stats["totals"]["kept"], "cpu_hours": cpu / 3600}
    print("\n" + out)
    for name, bound in (("pages", 0.25), ("kept_pages", 0.25), ("cpu_hours", 0.5)):
        print(f"{name}: projected {plan[name]:.6g}, whole build {whole[name]:.6g}, 95% {plan['intervals_95'][name]}")
        assert abs(plan[name] - whole[name]) <= bound * whole[name], name
    assert plan["bytes_read"] == sum(p.stat().st_size for p in (listing / "segments").iterdir())


def test_a_sample_larger_than_the_listing_builds_everything(listing, tmp_path, capsys):
    code, out, err = _plan(listing, tmp_path, capsys, "--sample", "50", "--json", str(tmp_path / "plan.json"))
    assert code == 0, err
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["files"] == plan["sampled_files"] == FILES
    assert plan["pages"] == plan["sample"]["pages"] == 323
    assert plan["intervals_95"]["pages"] == [323, 323]


@pytest.mark.parametrize("extra, says", [
    ((), "plan needs a sample"),
    (("--sample", "0"), "plan needs a sample"),
    (("--sample", "2", "--workers-wall", "0"), "--workers-wall 0"),
    (("--sample", "2", "--price-cpu-hour", "-1"), "--price-cpu-hour -1"),
])
def test_bad_input_is_one_line(listing, tmp_path, capsys, extra, says):
    code, out, err = _plan(listing, tmp_path, capsys, *extra)
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1, err


def test_interval_has_a_finite_population_correction():
    assert projected_total([1, 3], 2) == {"total": 4, "low": 4, "high": 4}
    wide, narrow = projected_total([1, 3, 5], 10_000), projected_total([1, 3, 5], 4)
    assert wide["total"] == 30_000 and wide["low"] < 30_000 < wide["high"]
    assert narrow["high"] - narrow["low"] < (wide["high"] - wide["low"]) / 10_000 * 4
    assert projected_total([7], 5)["low"] is None


def test_a_json_path_holding_another_file_is_never_replaced(listing, tmp_path, capsys):
    mine = tmp_path / "notes.json"
    mine.write_text('{"my": "notes"}\n')
    code, out, err = _plan(listing, tmp_path, capsys, "--sample", "2", "--json", str(mine))
    assert code == 2 and "holds a file plan did not write" in err and len(err.strip().splitlines()) == 1
    assert mine.read_text() == '{"my": "notes"}\n'
