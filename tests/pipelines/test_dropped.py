"""`build --keep-dropped [FRACTION]`: the dropped documents of the real sample crawl in
OUT/dropped/, with stage, reason and detail; deterministic (runs, worker counts), a seeded
sample below 1, the kept shards unchanged; and the stats report's examples per reason."""
from __future__ import annotations

import json
import os
from collections import Counter

import pyarrow.parquet as pq
import pytest

from cleancrawl.cli import main
from cleancrawl.corpus.record import DOCUMENT_SCHEMA
from cleancrawl.pipelines.build import run_build
from cleancrawl.pipelines.config import BuildConfig
from cleancrawl.pipelines.dropped import DROPPED_SCHEMA, sampled
from cleancrawl.stats import report
from cleancrawl.stats.collect import StatsConfig, corpus_stats


def tree_bytes(folder):
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = open(path, "rb").read()
    return out


def shards(out, folder):
    return {k: v for k, v in tree_bytes(out).items() if k.startswith(folder + "/")}


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("keep_dropped")
    plain, full = str(base / "plain"), str(base / "full")
    run_build(BuildConfig(output=plain))
    assert main(["build", "--output", full, "--keep-dropped"]) == 0     # no value: 1.0
    return plain, full


def test_every_dropped_document_is_written_with_stage_and_reason(builds, sample_documents):
    _, full = builds
    stats = json.load(open(os.path.join(full, "stats.json")))
    assert stats["config"]["keep_dropped"] == 1.0
    assert sorted(os.listdir(os.path.join(full, "dropped"))) == ["part-00000-of-00001.parquet"]
    table = pq.read_table(os.path.join(full, "dropped"))
    assert table.schema.names == DROPPED_SCHEMA.names == ["stage", "reason", "detail", *DOCUMENT_SCHEMA.names]
    written = Counter(zip(table.column("stage").to_pylist(), table.column("reason").to_pylist()))
    # Every drop of a document is there; the one record that never became a document (read/too_long) is not.
    expected = Counter({(stage, reason): slot["documents"] for stage, reasons in stats["dropped"].items()
                        for reason, slot in reasons.items() if stage != "read"})
    assert written == expected and sum(written.values()) == stats["totals"]["dropped"] - 1
    # The text is the document as the dropping stage saw it: for the clean stage, the page as read.
    originals = {d.url: d.text for d in sample_documents}
    rows = table.to_pylist()
    clean = [r for r in rows if r["stage"] == "clean"]
    assert clean and all(r["text"] == originals[r["url"]] for r in clean)
    langid = [r for r in rows if r["stage"] == "langid"]
    assert all(r["detail"] and r["reason"] == "not_english" for r in langid)
    # Sorted like the kept shards.
    keys = [(r["normalized_url"], r["url"]) for r in rows]
    assert keys == sorted(keys)


def test_kept_shards_are_unchanged_and_dropped_is_byte_identical_across_workers(builds, tmp_path):
    plain, full = builds
    for folder in ("train", "validation", "duplicates"):
        assert shards(plain, folder) == shards(full, folder), folder
    again = str(tmp_path / "again")
    assert main(["build", "--output", again, "--keep-dropped", "1", "--workers", "2"]) == 0
    assert shards(again, "dropped") == shards(full, "dropped")
    assert shards(again, "train") == shards(full, "train")


def test_a_fraction_keeps_a_deterministic_seeded_sample(builds, tmp_path):
    _, full = builds
    everything = pq.read_table(os.path.join(full, "dropped")).to_pylist()
    half = str(tmp_path / "half")
    assert main(["build", "--output", half, "--keep-dropped", "0.5", "--num-shards", "1"]) == 0
    rows = pq.read_table(os.path.join(half, "dropped")).to_pylist()
    ids = {r["record_id"] for r in rows}
    assert ids < {r["record_id"] for r in everything}
    assert 0.3 * len(everything) < len(rows) < 0.7 * len(everything)
    # Exactly the records whose hash falls in the sample; another seed takes another sample.
    from cleancrawl.corpus.record import Document
    chosen = {r["record_id"] for r in everything
              if sampled(Document(url=r["url"], normalized_url="", timestamp=r["timestamp"], text="",
                                  record_id=r["record_id"]), 0.5)}
    assert ids == chosen
    other = {r["record_id"] for r in everything
             if sampled(Document(url=r["url"], normalized_url="", timestamp=r["timestamp"], text="",
                                 record_id=r["record_id"]), 0.5, seed=7)}
    assert other != chosen


def test_keep_dropped_rejects_a_fraction_outside_0_1(tmp_path, capsys):
    assert main(["build", "--output", str(tmp_path / "x"), "--keep-dropped", "1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--keep-dropped 1.5" in err[0]
    assert not os.path.exists(tmp_path / "x")


def test_overwrite_replaces_a_build_with_dropped(builds, tmp_path):
    out = str(tmp_path / "out")
    assert main(["build", "--output", out, "--keep-dropped"]) == 0
    assert main(["build", "--output", out, "--overwrite"]) == 0      # dropped/ is the build's own folder
    folder = os.path.join(out, "dropped")
    assert not os.path.isdir(folder) or not os.listdir(folder)      # the old run's dropped shards are gone


def test_stats_report_shows_examples_per_reason_and_drops_per_domain(builds):
    _, full = builds
    doc = corpus_stats([full], StatsConfig(workers=1, progress=False))
    corpus = doc["corpora"][0]
    assert corpus["build"]["cleancrawl_version"] and corpus["build"]["finished_at"]
    dropped = corpus["dropped"]
    by_reason = {(r["stage"], r["reason"]): r for r in dropped["reasons"]}
    assert set(by_reason) == {("clean", "too_few_sentences"), ("clean", "curly_bracket"), ("dedup", "duplicate_lines"),
                              ("langid", "not_english"), ("badwords", "badwords")}
    table = pq.read_table(os.path.join(full, "dropped")).to_pylist()
    for (stage, reason), entry in by_reason.items():
        rows = sorted((r for r in table if (r["stage"], r["reason"]) == (stage, reason)),
                      key=lambda r: (r["normalized_url"], r["url"], r["record_id"]))
        assert entry["documents"] == len(rows)
        assert [e["url"] for e in entry["examples"]] == [r["url"] for r in rows[:3]]     # the first by URL
        assert all(r["text"].startswith(e["text"].removesuffix(" …")) for e, r in zip(entry["examples"], rows))
    assert sum(d["documents"] for d in dropped["domains"]) <= dropped["rows"] == len(table)
    assert corpus["kept_examples"] and all(e["url"] and e["text"] for e in corpus["kept_examples"])
    text = report.render_text(doc)
    assert "Sample documents" in text and "Drop reasons per top domain" in text
    assert "dropped: language ID" in text and "not_english" in text


def test_stats_json_line_counters_equal_the_references_on_every_sample_page(builds, sample_documents):
    # The clean stage sees every page the reader made (URL dedup drops none of the sample's).
    from c4_reference import reference_counters
    plain, _ = builds
    stats = json.load(open(os.path.join(plain, "stats.json")))
    assert stats["dropped"].get("url_dedup", {}) == {}
    names = {"too_long_word": "line-filtered:too_long_word", "no_end_mark": "line-filtered:no_endmark",
             "too_few_words": "line-filtered:too_short", "javascript": "line-filtered:javascript",
             "policy": "line-filtered:policy", "kept": "line-passed"}
    ours = {names[rule]: n for rule, n in stats["lines"]["clean"].items()}
    reference = {k: n for k, n in reference_counters([d.text for d in sample_documents]).items()
                 if k.startswith("line-")}
    assert ours == reference
    # ... and the page counters agree with the drop reasons.
    assert stats["dropped"]["clean"]["curly_bracket"]["documents"] == reference_counters(
        [d.text for d in sample_documents])["filtered:squigglybracket"]
