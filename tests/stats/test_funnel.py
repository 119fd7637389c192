"""stats.funnel on the real sample build: every stage balances, a broken record is flagged, and
the Beam counters tell the same funnel (also without stats.json)."""
from __future__ import annotations

import json
import os
import shutil

from cleancrawl.stats.collect import corpus_stats
from cleancrawl.stats.funnel import compare_funnels, funnel_from_beam_counters, funnel_from_stats, load_beam_metrics

from stats_testdata import stats_config


def test_funnel_adds_up_at_every_stage(sample_build):
    out, stats, _ = sample_build
    corpus = corpus_stats([out], stats_config())["corpora"][0]
    funnel = corpus["funnel"]
    assert funnel["balanced"] is True and corpus["problems"] == []
    read = funnel["documents"]["read"]
    assert read == 323
    assert funnel["documents"]["kept"] + funnel["documents"]["dropped"] == read
    stages = funnel["stages"]
    assert stages[0]["in"] == read
    for stage, following in zip(stages, stages[1:] + [None]):
        assert stage["in"] == stage["out"] + stage["dropped"], stage["stage"]
        assert stage["dropped"] == sum(r["documents"] for r in stage["reasons"]), stage["stage"]
        assert following is None or following["in"] == stage["out"]
    assert stages[-1]["out"] == funnel["documents"]["kept"]
    # What the funnel says was kept is what the shards hold.
    assert funnel["documents"]["kept"] == corpus["contents"]["documents"]
    assert funnel["bytes"]["kept"] == corpus["contents"]["bytes"]
    by_reason = {(s["stage"], r["reason"]): r["documents"] for s in stages for r in s["reasons"]}
    assert by_reason == {(stage, reason): slot["documents"]
                         for stage, reasons in stats["dropped"].items() for reason, slot in reasons.items()}
    clean_lines = next(e for e in funnel["lines"] if e["stage"] == "clean")
    assert clean_lines["seen"] == sum(stats["lines"]["clean"].values())
    assert {r["rule"]: r["lines"] for r in clean_lines["removed"]} == {
        k: v for k, v in stats["lines"]["clean"].items() if k != "kept"}


def test_a_funnel_that_does_not_add_up_is_flagged(sample_build, tmp_path):
    out, stats, _ = sample_build
    broken = json.loads(json.dumps(stats))
    broken["dropped"]["langid"]["not_english"]["documents"] -= 1   # a reason that lost a document
    funnel = funnel_from_stats(broken)
    assert funnel["balanced"] is False
    assert [s["stage"] for s in funnel["stages"] if not s["balanced"]] == ["langid"]

    copy = str(tmp_path / "out")
    shutil.copytree(out, copy)
    with open(os.path.join(copy, "stats.json"), "w") as f:
        json.dump(broken, f)
    corpus = corpus_stats([copy], stats_config())["corpora"][0]
    assert any("does not balance" in p for p in corpus["problems"])


def test_beam_counters_tell_the_same_funnel(sample_build, tmp_path):
    out, stats, counters = sample_build
    from_metrics = funnel_from_beam_counters(counters)
    from_stats = funnel_from_stats(stats)
    assert from_metrics["documents"]["read"] == 323
    assert from_metrics["balanced"] is None            # the counters hold no kept count
    assert compare_funnels(from_stats, from_metrics) == {"agree": True, "differences": []}
    assert from_metrics["lines"] == from_stats["lines"]

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({f"cleancrawl:{k}": v for k, v in counters.items()}))
    assert load_beam_metrics(str(path)) == counters
    corpus = corpus_stats([out], stats_config(beam_metrics=(str(path),)))["corpora"][0]
    assert corpus["beam_metrics_check"]["agree"] is True and corpus["funnel"]["source"] == "stats.json"
    # Without stats.json the counters give the funnel.
    copy = tmp_path / "nostats"
    shutil.copytree(out, copy)
    os.remove(copy / "stats.json")
    corpus = corpus_stats([str(copy)], stats_config(beam_metrics=(str(path),)))["corpora"][0]
    assert corpus["funnel"]["source"] == "beam_metrics"
    assert corpus["funnel"]["documents"]["dropped"] == 323 - 51
