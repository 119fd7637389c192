"""The build end to end on real crawl data (DirectRunner): accounting, fidelity, determinism,
atomic output and bad input."""
import json
import os
import shutil

import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from cleancrawl import layout
from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import DOCUMENT_SCHEMA
from cleancrawl.pipelines.build import BuildConfig, build_pipeline, resolve_inputs, run_build

from datapaths import COMMONCRAWL, EDGE_CASES, PAGES_WARC, SAMPLE_WET


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("build") / "out")
    stats = run_build(BuildConfig(output=out))
    return out, stats


def read_split(out, split="train"):
    tables = [pq.read_table(p) for p in layout.list_shards(out, split)]
    rows = []
    for t in tables:
        rows += t.to_pylist()
    return rows


def test_sample_build_accounts_for_every_record(sample_build):
    out, stats = sample_build
    totals = stats["totals"]
    assert totals["read"] == 323 and totals["balanced"]
    assert totals["kept"] + totals["dropped"] == totals["read"]
    assert stats["files"][SAMPLE_WET]["balanced"]
    # The funnel adds up stage by stage.
    for before, after in zip(stats["funnel"], stats["funnel"][1:]):
        assert before["out"] == after["in"]
        assert before["in"] - before["dropped"] == before["out"]
    assert stats["funnel"][-1]["out"] == totals["kept"]
    # Text bytes chain too: what leaves a stage enters the next; the last stage's output is kept.
    for before, after in zip(stats["funnel"], stats["funnel"][1:]):
        assert before["bytes_out"] == after["bytes_in"] is not None
    assert stats["funnel"][-1]["bytes_out"] == sum(s["bytes"] for s in stats["splits"].values())
    clean = next(s for s in stats["funnel"] if s["stage"] == "clean")
    assert clean["bytes_out"] < clean["bytes_in"] / 1.5  # C4's line filters remove most boilerplate text
    assert stats["dropped"]["read"]["too_long"]["documents"] == 1
    assert stats["dropped"]["langid"]["not_english"]["documents"] > 200
    assert stats["lines"]["clean"]["no_end_mark"] > 10_000
    assert os.path.exists(os.path.join(out, "_SUCCESS"))


def test_shards_hold_the_kept_documents_with_the_documented_schema(sample_build):
    out, stats = sample_build
    rows = read_split(out, "train") + read_split(out, "validation")
    assert len(rows) == stats["totals"]["kept"] == sum(s["documents"] for s in stats["splits"].values())
    schema = pq.read_schema(layout.list_shards(out, "train")[0])
    assert schema.names == DOCUMENT_SCHEMA.names
    assert all(r["language"] == "en" and r["language_score"] >= 0.99 for r in rows)
    assert all(r["source_file"] == SAMPLE_WET and r["text"] for r in rows)
    names = sorted(os.listdir(os.path.join(out, "train")))
    assert names == ["part-00000-of-00001.parquet"]
    assert [r["normalized_url"] for r in rows] == sorted(r["normalized_url"] for r in rows)


def test_build_matches_the_reference_decisions_on_real_pages(sample_documents, tmp_path):
    """C4's own configuration (`--dedup c4-lines`): same pages kept, same text kept, as the
    reference's clean_page → remove_duplicate_text → langdetect → badwords."""
    from cleancrawl.corpus.badwords import load_badwords, reference_pattern
    from cleancrawl.corpus.dedup import DedupConfig
    from cleancrawl.corpus.langid import reference_detect

    from c4_reference import reference_clean_page, reference_remove_duplicate_text

    pattern = reference_pattern(sorted(load_badwords("en")), "en")
    cleaned = [(d.url, reference_clean_page(d.text)) for d in sample_documents]
    deduplicated = reference_remove_duplicate_text([(url, text) for url, text in cleaned if text is not None])
    expected = {}
    for url, text in deduplicated.items():
        if text is None:
            continue
        result = reference_detect(text)
        if result.error or result.probability < 0.99 or result.language != "en":
            continue
        if pattern.search(text.lower()):
            continue
        expected[url] = text
    out = str(tmp_path / "c4")
    run_build(BuildConfig(output=out, dedup=DedupConfig(methods=("c4-lines",))))
    got = {r["url"]: r["text"] for r in read_split(out)}
    assert got == expected
    assert len(got) > 40


def test_same_input_gives_byte_identical_shards(sample_build, tmp_path):
    out, stats = sample_build
    again = str(tmp_path / "again")
    stats2 = run_build(BuildConfig(output=again), ["--direct_num_workers=2", "--direct_running_mode=multi_threading"])
    for split in layout.SPLITS:
        for a, b in zip(layout.list_shards(out, split), layout.list_shards(again, split), strict=True):
            assert open(a, "rb").read() == open(b, "rb").read()
    for key in ("config", "finished_at"):  # the run's own: output folder, finish time
        stats.pop(key), stats2.pop(key)
    assert stats == stats2


def test_existing_output_is_refused_unless_overwrite(sample_build, tmp_path):
    out = str(tmp_path / "copy")
    shutil.copytree(sample_build[0], out)
    with pytest.raises(UserError, match="finished build.*--overwrite"):
        run_build(BuildConfig(output=out))
    # A crashed run leaves no _SUCCESS: refused as partial, and readers refuse it too.
    os.remove(os.path.join(out, "_SUCCESS"))
    with pytest.raises(UserError, match="partial output"):
        run_build(BuildConfig(output=out))
    with pytest.raises(UserError, match="did not finish"):
        layout.list_shards(out)
    # A crash that left only shards (of another shard count) and a temporary file: still refused,
    # and --overwrite leaves none of them behind.
    for name in os.listdir(out):
        if os.path.isfile(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    shutil.copy(os.path.join(out, "train", "part-00000-of-00001.parquet"),
                os.path.join(out, "train", "part-00003-of-00004.parquet"))
    open(os.path.join(out, "train", ".part-00000-of-00004.parquet.tmp-x"), "wb").close()
    with pytest.raises(UserError, match="partial output"):
        run_build(BuildConfig(output=out))
    stats = run_build(BuildConfig(output=out, overwrite=True))
    assert stats["totals"]["balanced"] and layout.is_complete(out)
    assert sorted(os.listdir(os.path.join(out, "train"))) == ["part-00000-of-00001.parquet"]


def test_bad_inputs_are_counted_and_named(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ["warcio-example-bad-non-chunked.warc.gz", "resiliparse-clipped.warc.gz", "warcio-example.warc.gz"]:
        shutil.copy(os.path.join(EDGE_CASES, name), inputs / name)
    shutil.copy(os.path.join(COMMONCRAWL, "CC-MAIN-2024-22.warc.paths.gz"), inputs / "not-a-warc.warc.gz")
    (inputs / "empty.warc.gz").write_bytes(b"")
    data = open(PAGES_WARC, "rb").read()
    (inputs / "truncated.warc.gz").write_bytes(data[: len(data) // 3])
    out = str(tmp_path / "out")
    # One of the six is no crawl file at all: more than --max-failed-files (5%) lost, so no success.
    assert cli_main(["build", "--input", str(inputs / "*"), "--output", out]) == 1
    assert not layout.is_complete(out) and os.path.exists(os.path.join(out, "stats.json"))
    code = cli_main(["build", "--input", str(inputs / "*"), "--output", out, "--overwrite",
                     "--max-failed-files", "0.2"])
    assert code == 0
    stats = json.load(open(os.path.join(out, "stats.json")))
    assert stats["totals"]["balanced"] and stats["totals"]["files"] == 6
    errors = {(os.path.basename(e["file"]), e["reason"]) for e in stats["file_errors"]}
    assert ("not-a-warc.warc.gz", "not_warc") in errors
    assert ("empty.warc.gz", "empty_file") in errors
    assert ("resiliparse-clipped.warc.gz", "truncated_file") in errors  # a file that ends early
    assert ("truncated.warc.gz", "truncated_file") in errors
    assert ("warcio-example-bad-non-chunked.warc.gz", "truncated_file") not in errors  # one gzip stream: read whole
    # --strict turns unreadable files into a failing exit code, after a complete run.
    assert cli_main(["build", "--input", str(inputs / "*"), "--output", out, "--overwrite", "--strict",
                     "--max-failed-files", "0.2"]) == 1
    assert layout.is_complete(out)


def test_missing_input_and_unwritable_output_fail_with_one_line(tmp_path, capsys):
    assert cli_main(["build", "--input", str(tmp_path / "nothing-*.warc.gz"), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no input file matches" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert cli_main(["build", "--output", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cannot write" in err


def test_skipping_every_stage_gives_c4_unfiltered(tmp_path):
    stats = run_build(BuildConfig(output=str(tmp_path / "o"),
                                  skip=("url-dedup", "clean", "dedup", "langid", "badwords")))
    assert stats["totals"]["kept"] == 322  # all but the one page over 190,000 characters
    rows = read_split(str(tmp_path / "o"))
    assert all(r["language"] == "" for r in rows)


def test_url_dedup_keeps_the_newest_page(tmp_path):
    import io

    from warcio.warcwriter import WARCWriter

    path = tmp_path / "dups.warc.wet.gz"
    text = "This page has a sentence. It has another sentence. And it has a third one too.\n"
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, date, body in [
            ("http://www.example.com/a/", "2024-01-01T00:00:00Z", "Old version of the page. " + text),
            ("https://example.com/a?utm_source=x", "2024-03-01T00:00:00Z", "New version of the page. " + text),
            ("https://example.com/a", "2024-02-01T00:00:00Z", "Middle version of the page. " + text),
        ]:
            record = writer.create_warc_record(url, "conversion", payload=io.BytesIO(body.encode()),
                                               warc_headers_dict={"WARC-Date": date, "Content-Type": "text/plain"})
            writer.write_record(record)
    stats = run_build(BuildConfig(inputs=[str(path)], output=str(tmp_path / "o"), skip=("langid",)))
    rows = read_split(str(tmp_path / "o"))
    assert [r["text"].split(".")[0] for r in rows] == ["New version of the page"]
    assert stats["dropped"]["url_dedup"]["duplicate_url"]["documents"] == 2


def test_beam_metrics_name_the_drop_reasons():
    config = BuildConfig(output="unused")
    pipeline = TestPipeline()
    import tempfile
    with tempfile.TemporaryDirectory() as out:
        config.output = out
        build_pipeline(pipeline, config, resolve_inputs(config))
        result = pipeline.run()
        result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query()["counters"]}
    assert counters["read/records"] == 323
    assert counters["read/too_long"] == 1
    assert counters["langid/not_english"] > 200
    assert counters["clean/lines/no_end_mark"] > 10_000


def test_realnews_like_selection_runs_before_the_c4_filters(tmp_path):
    from cleancrawl.layout import list_shards
    allowlist = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "cleancrawl", "corpus", "data", "realnews_domains_example.json")
    out = str(tmp_path / "rn")
    assert cli_main(["build", "--output", out, "--select-domains", allowlist]) == 0
    stats = json.load(open(os.path.join(out, "stats.json")))
    assert [s["stage"] for s in stats["funnel"]] == ["read", "url_dedup", "select", "clean", "dedup", "langid",
                                                     "badwords"]
    select = stats["funnel"][2]
    assert select["in"] == 322 and select["reasons"] == {"domain_not_allowed": select["dropped"]}
    assert stats["totals"]["balanced"] and 0 < stats["totals"]["kept"] <= select["out"]
    rows = read_split(out)
    assert {r["url"].split("/")[2].removeprefix("www.") for r in rows} <= {"bbc.com", "nytimes.com", "theguardian.com"}
    assert list_shards(out)


def test_input_and_paths_listing_combine(tmp_path):
    import gzip as gz
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gz.compress(b"pages-40.warc.gz\n"))
    files = resolve_inputs(BuildConfig(inputs=[SAMPLE_WET], input_list=str(listing),
                                       input_prefix=os.path.dirname(PAGES_WARC)))
    assert files == sorted([SAMPLE_WET, PAGES_WARC])
    assert resolve_inputs(BuildConfig()) == [SAMPLE_WET]  # nothing given: the bundled sample


def test_workers_option_runs_worker_processes_with_identical_output(sample_build, tmp_path):
    """`--workers 2`: two DirectRunner worker processes (multi_processing), the same bytes."""
    out, _ = sample_build
    again = str(tmp_path / "two-processes")
    assert cli_main(["build", "--output", again, "--workers", "2"]) == 0
    for split in layout.SPLITS:
        for a, b in zip(layout.list_shards(out, split), layout.list_shards(again, split), strict=True):
            assert open(a, "rb").read() == open(b, "rb").read()


def test_workers_option_is_for_the_direct_runner_only():
    from cleancrawl.cli.common import with_direct_workers

    assert with_direct_workers(1, ["--runner=DataflowRunner"]) == ["--runner=DataflowRunner"]
    assert with_direct_workers(3, []) == ["--direct_num_workers=3", "--direct_running_mode=multi_processing"]
    with pytest.raises(UserError, match="DataflowRunner takes its own"):
        with_direct_workers(2, ["--runner", "DataflowRunner"])
    with pytest.raises(UserError, match="one or the other"):
        with_direct_workers(2, ["--direct_num_workers=4"])
    with pytest.raises(UserError, match="at least 1"):
        with_direct_workers(0, [])
