"""Corpora shared by the stats tests (built once a session: each build takes ~10 s)."""
from __future__ import annotations

import pytest

from cleancrawl.stats.collect import StatsConfig, corpus_stats

from stats_testdata import build_sample, webtext_like


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory):
    """The real build of the bundled sample crawl in 3 train shards (~10 s: DirectRunner)."""
    out = str(tmp_path_factory.mktemp("stats") / "out")
    stats, counters = build_sample(out, num_shards=3)
    return out, stats, counters


@pytest.fixture(scope="session")
def webtext_corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("stats") / "webtextlike")
    return out, webtext_like(out)


@pytest.fixture(scope="session")
def two_corpora(tmp_path_factory):
    """The real sample build (C4-like, with a funnel) and a WebText-like corpus (Reddit
    columns, dedup side output, token shards; no funnel)."""
    base = tmp_path_factory.mktemp("report")
    c4like, webtext = str(base / "c4like"), str(base / "webtextlike")
    build_sample(c4like, num_shards=2)
    webtext_like(webtext)
    return c4like, webtext


@pytest.fixture(scope="session")
def stats_doc(two_corpora):
    return corpus_stats(list(two_corpora), StatsConfig(workers=1, progress=False))

