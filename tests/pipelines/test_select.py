"""The select stage in Beam: the URL-table join (both strategies), plain URL lists, the domain
allowlist, and its place in the build's accounting.

The crawl sample and the 2005 Reddit dumps share no URL, so the crawl here is written for
the test: real page text from the sample crawl under URLs taken from the dumps, in the
variants a crawl holds them (http/https, www., trailing slash, utm_ tails).
"""
import argparse
import gzip
import io
import json
import lzma
import os

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from warcio.warcwriter import WARCWriter

from cleancrawl import options
from cleancrawl.corpus.accounting import summarize
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.readers import ReaderConfig, read_local_file
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, SumTallies
from cleancrawl.pipelines.build import DedupUrls
from cleancrawl.pipelines.read import ReadCrawl
from cleancrawl.pipelines.select import (
    SelectConfig,
    SelectDocuments,
    plan_selection,
)
from cleancrawl.pipelines.stages import STAGE_NAMES
from cleancrawl.selection.reddit import UrlTableConfig, build_url_table

from datapaths import DATA_DIR, SAMPLE_WET

DUMPS = [os.path.join(DATA_DIR, "reddit", n) for n in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz")]


def _variants(url: str) -> list[str]:
    """The forms one submitted URL takes in a crawl: all normalise to the same key."""
    bare = url.split("://", 1)[1].removeprefix("www.")
    return [url, f"https://{bare}", f"https://www.{bare}/", f"http://{bare}/?utm_source=feedburner&utm_medium=feed"]


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    base = tmp_path_factory.mktemp("select")
    build_url_table(UrlTableConfig(submissions=tuple(DUMPS), output=str(base / "urls"), workers=1))
    table = {r["normalized_url"]: r for r in pq.read_table(str(base / "urls")).to_pylist()}
    records = [json.loads(line) for path in DUMPS for line in lzma.open(path)]
    # Listed: URLs without a query (so a utm_ tail is a query of its own), one crawled in all four forms.
    listed = [r["url"] for r in records if r["score"] >= 3 and "?" not in r["url"] and r["url"].startswith("http://www.")
              and normalize_url(r["url"]) in table][:8]
    low = [r["url"] for r in records if normalize_url(r["url"]) not in table and r["score"] < 3][:3]
    crawl = [(u, True) for u in _variants(listed[0])]
    crawl += [(_variants(u)[i % 4], True) for i, u in enumerate(listed[1:])]
    crawl += [(u, False) for u in low]                                         # scored below 3
    crawl += [(listed[1].rstrip("/") + "/comments", False), (listed[2].replace("http://www.", "http://blog."), False)]
    texts = [d.text for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)]
    path = str(base / "crawl.warc.wet.gz")
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i, (url, _) in enumerate(crawl):
            headers = {"WARC-Date": f"2019-05-{1 + i % 28:02d}T00:00:00Z"}
            writer.write_record(writer.create_warc_record(
                url, "conversion", payload=io.BytesIO(texts[i].encode("utf-8")), warc_content_type="text/plain",
                warc_headers_dict=headers))
    docs = [d for d in read_local_file(path) if isinstance(d, Document)]
    assert len(docs) == len(crawl)
    return {"base": base, "table": table, "crawl": crawl, "docs": docs, "path": path, "listed": listed}


def _karma(doc):
    return (doc.url, doc.reddit_score, doc.reddit_submissions, doc.subreddits)


@pytest.mark.parametrize("join", ["side-input", "cogroup"])
def test_join_keeps_exactly_the_pages_whose_normalised_url_is_listed(setting, join):
    select = SelectDocuments(SelectConfig(urls=str(setting["base"] / "urls"), join=join))
    assert select.plan.join == join
    table = setting["table"]
    wanted = [u for u, listed in setting["crawl"] if listed]
    expected_kept = [(u, table[normalize_url(u)]["reddit_score"], table[normalize_url(u)]["reddit_submissions"],
                      table[normalize_url(u)]["subreddits"]) for u in wanted]
    expected_dropped = [("select", "not_in_url_list", u) for u, listed in setting["crawl"] if not listed]
    with TestPipeline() as p:
        out = p | beam.Create(setting["docs"]) | select
        assert_that(out[KEPT] | "Karma" >> beam.Map(_karma), equal_to(expected_kept), label="Kept")
        assert_that(out[DROPPED] | "Reasons" >> beam.Map(lambda d: (d.stage, d.reason, d.url)),
                    equal_to(expected_dropped), label="Dropped")
        summed = out[TALLY] | "SumTallies" >> beam.CombinePerKey(lambda pairs: tuple(map(sum, zip(*pairs))))
        assert_that(summed, equal_to([
            (("event", "select", "url_list_kept"), (len(wanted), 0)),
            (("event", "select", "url_list_urls"), (len(table), 0)),
            (("event", "select", "url_list_urls_found"), (len(setting["listed"]), 0)),
        ]), label="Tallies")
    assert len(wanted) == 11 and len(expected_dropped) == 5


def test_auto_join_chooses_by_table_size(setting):
    urls = str(setting["base"] / "urls")
    plan = plan_selection(SelectConfig(urls=urls))
    assert (plan.join, plan.url_rows) == ("side-input", len(setting["table"]))
    assert plan_selection(SelectConfig(urls=urls, side_input_max_urls=100)).join == "cogroup"
    with pytest.raises(UserError, match="no file matches"):
        plan_selection(SelectConfig(urls=str(setting["base"] / "nothing-here")))
    with pytest.raises(UserError, match="--select-join"):
        plan_selection(SelectConfig(urls=urls, join="broadcast"))


def test_a_plain_url_list_selects_the_same_pages_without_karma(setting):
    # An OpenWebText-style list: the submitted URLs as they were (Reddit's &amp; undone), one a line.
    lines = [setting["table"][k]["url"] for k in sorted(setting["table"])]
    path = setting["base"] / "urls.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    wanted = [(u, None, None, None) for u, listed in setting["crawl"] if listed]
    with TestPipeline() as p:
        out = p | beam.Create(setting["docs"]) | SelectDocuments(SelectConfig(urls=str(path), join="cogroup"))
        assert_that(out[KEPT] | beam.Map(_karma), equal_to(wanted))


def test_select_in_the_build_funnel(setting):
    """Read → URL dedup → select (domains, then URLs) → stats: every record accounted for."""
    allowlist = setting["base"] / "allow.json"
    hosts = sorted({normalize_url(u).split("/")[0] for u, listed in setting["crawl"] if listed})
    allowlist.write_text(json.dumps({h.removeprefix("www."): True for h in hosts[:-2]}))
    select = SelectDocuments(SelectConfig(urls=str(setting["base"] / "urls"), domains=str(allowlist)))
    path = setting["path"]
    with TestPipeline() as p:
        read = p | beam.Create([path]) | ReadCrawl(ReaderConfig())
        dedup = read[KEPT] | DedupUrls()
        out = dedup[KEPT] | select
        kept_tally = out[KEPT] | beam.Map(lambda d: (("kept", "train", d.source_file), (1, 0)))
        tallies = (read[TALLY], out[TALLY], kept_tally) | "Tallies" >> beam.Flatten()
        drops = (read[DROPPED], dedup[DROPPED], out[DROPPED]) | "Drops" >> beam.Flatten()
        stats = (tallies, drops) | SumTallies() | beam.Map(summarize, order=STAGE_NAMES)  # the registry's order

        def check(results):
            (s,) = results
            select_step = next(step for step in s["funnel"] if step["stage"] == "select")
            assert s["totals"]["balanced"] and s["totals"]["read"] == len(setting["crawl"])
            # The four forms of one URL are one page after URL dedup.
            assert s["dropped"]["url_dedup"]["duplicate_url"]["documents"] == 3
            assert select_step["in"] == len(setting["crawl"]) - 3
            events = s["events"]["select"]
            assert select_step["reasons"]["domain_not_allowed"] > 0
            assert select_step["reasons"]["not_in_url_list"] > 0
            assert select_step["out"] == s["totals"]["kept"] == events["url_list_kept"]
            assert events["domains_kept"] == select_step["in"] - select_step["reasons"]["domain_not_allowed"]
            assert events["url_list_kept"] == events["domains_kept"] - select_step["reasons"]["not_in_url_list"]

        assert_that(stats, check)


def test_options():
    parser = argparse.ArgumentParser()
    options.add_arguments(parser, SelectConfig)
    assert not options.from_args(SelectConfig, parser.parse_args([])).enabled
    config = options.from_args(SelectConfig, parser.parse_args(
        ["--select-urls", "urls/", "--select-domains", "news.json", "--select-join", "cogroup",
         "--side-input-max-urls", "5"]))
    assert config == SelectConfig(urls="urls/", domains="news.json", join="cogroup", side_input_max_urls=5)
    assert config.enabled and config.to_dict()["join"] == "cogroup"
