"""corpus.stats on real data: the sample build's stats against counts computed here, the
funnel's balance, parallel = serial, broken shards, and the optional sections."""
from __future__ import annotations

import glob
import json
import os
import shutil
from collections import Counter
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tldextract

from cleancrawl.corpus.errors import UserError
from cleancrawl.stats.collect import (
    LENGTH_EDGES, Histogram, StatsConfig, compare_funnels, corpus_stats, funnel_from_beam_counters,
    funnel_from_stats, load_beam_metrics, text_metrics,
)
from stats_testdata import build_sample, sample_documents, webtext_like


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory):
    """The real build of the bundled sample crawl in 3 train shards (~10 s: DirectRunner)."""
    out = str(tmp_path_factory.mktemp("stats") / "out")
    stats, counters = build_sample(out, num_shards=3)
    return out, stats, counters


@pytest.fixture(scope="module")
def webtext_corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("stats") / "webtextlike")
    return out, webtext_like(out)


def _config(**changes) -> StatsConfig:
    return StatsConfig(**{"workers": 1, "progress": False, **changes})


def _read_back(out: str) -> pa.Table:
    """Every kept document, read here with plain pyarrow (not through corpus.stats)."""
    paths = sorted(os.path.join(d, n) for d, _, names in os.walk(out) for n in names
                   if n.endswith(".parquet") and os.path.basename(d) in ("train", "validation"))
    return pa.concat_tables([pq.read_table(p) for p in paths])


# ---------------------------------------------------------------------------- text metrics

def test_text_metrics_are_pythons_len_split_and_newline_count(sample_documents):
    texts = [d.text for d in sample_documents] + [
        "", "   ", "x", "a\u3000b\xa0c\u2009 d\x1ce\x85f \x01g\x0bh", "\u00e9t\u00e9\n\nhiver\n", "\u2028line\u2029",
    ]
    for array in (pa.array(texts, pa.large_string()), pa.array(texts, pa.string()),
                  pa.array(texts, pa.large_string()).slice(100, 150)):
        got = text_metrics(array)
        want = array.to_pylist()
        assert got["words"].tolist() == [len(t.split()) for t in want]
        assert got["lines"].tolist() == [t.count("\n") + 1 if t else 0 for t in want]
        assert got["characters"].tolist() == [len(t) for t in want]
        assert got["bytes"].tolist() == [len(t.encode("utf-8")) for t in want]


def test_histograms_merge_exactly_and_quantiles_land_in_the_right_bin(sample_documents):
    lengths = np.array([len(d.text) for d in sample_documents])
    whole, first, second = Histogram(LENGTH_EDGES), Histogram(LENGTH_EDGES), Histogram(LENGTH_EDGES)
    whole.add(lengths)
    first.add(lengths[:100])
    second.add(lengths[100:])
    first.merge(second)
    assert first.to_json() == whole.to_json()
    assert whole.count == len(lengths) and whole.low == lengths.min() and whole.high == lengths.max()
    median = float(np.median(lengths))
    bin_of = np.searchsorted(LENGTH_EDGES, median, side="right") - 1
    lo, hi = LENGTH_EDGES[bin_of], LENGTH_EDGES[bin_of + 1]
    assert lo * 0.8 <= whole.quantile(0.5) <= hi * 1.25   # within a bin of the exact median


# ---------------------------------------------------------------------------- the sample build

def test_sample_stats_match_counts_computed_independently(sample_build):
    out, _, _ = sample_build
    doc = corpus_stats([out], _config())
    contents = doc["corpora"][0]["contents"]
    table = _read_back(out)
    texts = table.column("text").to_pylist()
    urls = table.column("url").to_pylist()

    assert contents["documents"] == len(texts) == 51
    assert contents["characters"] == sum(len(t) for t in texts)
    assert contents["bytes"] == sum(len(t.encode("utf-8")) for t in texts)
    assert contents["words"] == sum(len(t.split()) for t in texts)
    assert contents["lines"] == sum(t.count("\n") + 1 for t in texts)
    assert contents["shards"] == {"listed": 4, "scanned": 4, "failed": [], "missing": []}
    assert contents["splits"]["train"]["shards"] == 3

    chars = contents["lengths"]["characters"]
    assert sum(chars["counts"]) == len(texts)
    assert chars["min"] == min(map(len, texts)) and chars["max"] == max(map(len, texts))
    under_5000 = sum(c for e, c in zip(chars["edges"], chars["counts"]) if e < 5000)
    assert under_5000 == sum(len(t) < 5000 for t in texts)
    assert contents["lengths"]["words"]["max"] == max(len(t.split()) for t in texts)

    assert contents["languages"] == dict(Counter(table.column("language").to_pylist()))
    assert contents["language_score"]["count"] == len(texts)
    assert contents["language_score"]["min"] == pytest.approx(min(table.column("language_score").to_pylist()), abs=1e-6)
    assert contents["months"] == dict(Counter(t[:7] for t in table.column("timestamp").to_pylist()))

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    domains, tlds = Counter(), Counter()
    for url in urls:
        host = urlsplit(url).hostname
        if not host:
            domains["(no host)"] += 1
            tlds["(no host)"] += 1
            continue
        parts = extract(host)
        domains[f"{parts.domain}.{parts.suffix}"] += 1
        tlds[parts.suffix.rsplit(".", 1)[-1]] += 1
    assert dict(contents["domains"]["top"]) == dict(domains.most_common(50))
    assert contents["domains"]["distinct"] == len(domains)
    assert dict(contents["tlds"]["top"]) == dict(tlds)
    assert contents["reddit"] is None
    # The default build runs MinHash: its audit shard exists and, on the sample, is empty.
    duplicates = doc["corpora"][0]["duplicates"]
    expected_rows = sum(pq.read_metadata(p).num_rows for p in glob.glob(os.path.join(out, "duplicates", "*.parquet")))
    assert duplicates is not None and duplicates["rows"] == expected_rows
    assert doc["corpora"][0]["tokens"] is None


def test_funnel_adds_up_at_every_stage(sample_build):
    out, stats, _ = sample_build
    corpus = corpus_stats([out], _config())["corpora"][0]
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
    corpus = corpus_stats([copy], _config())["corpora"][0]
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
    corpus = corpus_stats([out], _config(beam_metrics=(str(path),)))["corpora"][0]
    assert corpus["beam_metrics_check"]["agree"] is True and corpus["funnel"]["source"] == "stats.json"
    # Without stats.json the counters give the funnel.
    copy = tmp_path / "nostats"
    shutil.copytree(out, copy)
    os.remove(copy / "stats.json")
    corpus = corpus_stats([str(copy)], _config(beam_metrics=(str(path),)))["corpora"][0]
    assert corpus["funnel"]["source"] == "beam_metrics"
    assert corpus["funnel"]["documents"]["dropped"] == 323 - 51


def test_parallel_scan_equals_serial_scan(sample_build):
    out, _, _ = sample_build
    serial = corpus_stats([out], _config(workers=1))
    parallel = corpus_stats([out], _config(workers=2))
    assert json.dumps(parallel, sort_keys=True) == json.dumps(serial, sort_keys=True)


def test_corrupt_and_missing_shards_are_named_and_the_rest_is_summarised(sample_build, tmp_path):
    out, _, _ = sample_build
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    train = copy / "train"
    corrupt, missing, intact = (train / f"part-0000{i}-of-00003.parquet" for i in range(3))
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])
    os.remove(missing)
    expected = pq.read_table(intact).num_rows + pq.read_table(copy / "validation" / "part-00000-of-00001.parquet").num_rows

    corpus = corpus_stats([str(copy)], _config(workers=2))["corpora"][0]
    contents = corpus["contents"]
    assert [f["path"] for f in contents["shards"]["failed"]] == [str(corrupt)]
    assert contents["shards"]["missing"] == [str(missing)]
    assert contents["documents"] == expected
    assert any(str(corrupt) in p for p in corpus["problems"]) and any(str(missing) in p for p in corpus["problems"])
    # The CLI still writes everything; --strict turns the problems into exit status 1.
    from cleancrawl.cli import main
    assert main(["stats", str(copy), "--quiet", "--json", str(tmp_path / "s.json")]) == 0
    assert main(["stats", str(copy), "--quiet", "--strict"]) == 1
    assert json.loads((tmp_path / "s.json").read_text())["corpora"][0]["contents"]["documents"] == expected


def test_unfinished_build_is_refused_unless_partial_is_allowed(sample_build, tmp_path):
    out, _, _ = sample_build
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    os.remove(copy / "_SUCCESS")
    with pytest.raises(UserError, match="_SUCCESS"):
        corpus_stats([str(copy)], _config())
    assert corpus_stats([str(copy)], _config(allow_partial=True))["corpora"][0]["contents"]["documents"] == 51


def test_split_option_scans_only_that_split(sample_build):
    out, _, _ = sample_build
    contents = corpus_stats([out], _config(splits=("validation",)))["corpora"][0]["contents"]
    assert set(contents["splits"]) == {"validation"}
    assert contents["documents"] == pq.read_table(os.path.join(out, "validation", "part-00000-of-00001.parquet")).num_rows


# ---------------------------------------------------------------------------- optional sections

def test_reddit_duplicates_and_tokens_sections(webtext_corpus):
    out, expected = webtext_corpus
    corpus = corpus_stats([out], _config())["corpora"][0]
    docs = expected["documents"]

    reddit = corpus["contents"]["reddit"]
    scores = [d.reddit_score for d in docs]
    assert reddit["documents"] == len(docs)
    assert reddit["score"]["sum"] == sum(scores) and reddit["score"]["max"] == max(scores)
    assert reddit["score"]["counts"][:10] == [sum(s == v for s in scores) for v in range(10)]
    assert dict(reddit["subreddits"]["top"]) == dict(Counter(s for d in docs for s in d.subreddits))
    assert corpus["contents"]["languages"] == {}            # language ID never ran on these pages
    assert corpus["contents"]["language_score"] is None
    assert corpus["funnel"] is None                          # no stats.json: not a cleancrawl build

    dups = corpus["duplicates"]
    assert (dups["key_column"], dups["size_column"]) == ("kept_id", "cluster_size")
    assert {int(k): v for k, v in dups["sizes"].items()} == dict(expected["clusters"])
    assert dups["rows"] == sum((size - 1) * n for size, n in expected["clusters"].items())

    tokens = corpus["tokens"]
    for split, want in expected["tokens"].items():
        got = tokens["splits"][split]
        assert (got["documents"], got["tokens"]) == (want["documents"], want["tokens"])
        chars = corpus["contents"]["splits"][split]["characters"]
        assert got["characters_per_token"] == round(chars / want["tokens"], 3)
    assert tokens["missing_shards"] == [] and tokens["failed"] == [] and corpus["problems"] == []
    # Token lengths per document, read from the shards' document index: one token a word + EOS.
    for split, want in expected["tokens"].items():
        lengths = tokens["splits"][split]["lengths"]
        assert (lengths["count"], lengths["sum"]) == (want["documents"], want["tokens"])
    words = sorted(len(d.text.split()) + 1 for d in docs)
    assert (tokens["lengths"]["min"], tokens["lengths"]["max"]) == (words[0], words[-1])
    assert tokens["lengths"]["counts"][:10] == [words.count(n) for n in range(10)]


def test_duplicates_keyed_by_cluster_id_or_pointer_or_not_at_all(tmp_path, sample_documents):
    out = tmp_path / "corpus"
    os.makedirs(out / "duplicates")
    from cleancrawl.corpus.record import documents_to_table
    pq.write_table(documents_to_table(sample_documents[:20]), out / "docs.parquet")
    urls = [d.url for d in sample_documents[20:30]]
    # cluster_id given with its size (the kept documents are not rows).
    pq.write_table(pa.table({"url": urls, "cluster_id": [1, 1, 1, 2, 2, 3, 3, 3, 3, 3],
                             "cluster_size": [4, 4, 4, 3, 3, 6, 6, 6, 6, 6]}), out / "duplicates" / "a.parquet")
    corpus = corpus_stats([str(out)], _config())["corpora"][0]
    assert corpus["duplicates"]["sizes"] == {"3": 1, "4": 1, "6": 1}
    assert corpus["contents"]["documents"] == 20

    # Only a pointer to the kept document: a cluster is its rows + the kept one.
    pq.write_table(pa.table({"url": urls, "duplicate_of": [urls[0]] * 3 + [urls[5]] * 7}), out / "duplicates" / "a.parquet")
    dups = corpus_stats([str(out)], _config())["corpora"][0]["duplicates"]
    assert (dups["key_column"], dups["sizes"], dups["largest"]) == ("duplicate_of", {"4": 1, "8": 1}, [[urls[5], 8], [urls[0], 4]])

    pq.write_table(pa.table({"url": urls}), out / "duplicates" / "a.parquet")
    dups = corpus_stats([str(out)], _config())["corpora"][0]["duplicates"]
    assert (dups["rows"], dups["key_column"], dups["clusters"]) == (10, None, 0)


def test_missing_token_shard_is_reported(webtext_corpus, tmp_path):
    out, _ = webtext_corpus
    copy = tmp_path / "wt"
    shutil.copytree(out, copy)
    gone = copy / "tokens" / "train" / "part-00001-of-00002.tok"
    os.remove(gone)
    corpus = corpus_stats([str(copy)], _config())["corpora"][0]
    assert corpus["tokens"]["missing_shards"] == [str(gone)]
    assert any(str(gone) in p for p in corpus["problems"])

    # A truncated shard: named with its error; the manifest's totals still stand.
    cut = copy / "tokens" / "train" / "part-00000-of-00002.tok"
    cut.write_bytes(cut.read_bytes()[:-12])
    corpus = corpus_stats([str(copy)], _config())["corpora"][0]
    assert [f["path"] for f in corpus["tokens"]["failed"]] == [str(cut)]
    assert "truncated" in corpus["tokens"]["failed"][0]["error"]
    assert any(f"unreadable token shard: {cut}" in p for p in corpus["problems"])


# ---------------------------------------------------------------------------- remote paths

def test_remote_scheme_reads_through_beam_file_systems(webtext_corpus):
    """A scheme only Beam knows (like a plugin file system): listing, shards, manifest."""
    from apache_beam.io.localfilesystem import LocalFileSystem

    class PrefixedLocal(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "cctest"

        @staticmethod
        def _local(path):
            return path[len("cctest://"):] if path.startswith("cctest://") else path

        def match(self, patterns, limits=None):
            results = super().match([self._local(p) for p in patterns], limits)
            for result in results:
                for m in result.metadata_list:
                    m.path = "cctest://" + m.path
            return results

        def exists(self, path):
            return super().exists(self._local(path))

        def open(self, path, *args, **kwargs):
            return super().open(self._local(path), *args, **kwargs)

    out, _ = webtext_corpus
    local = corpus_stats([out], _config())["corpora"][0]
    remote = corpus_stats(["cctest://" + out], _config())["corpora"][0]
    assert remote["contents"]["shards"]["scanned"] == 3
    for key in ("contents", "duplicates"):
        assert json.dumps(remote[key]).replace("cctest://", "") == json.dumps(local[key])
    assert remote["tokens"]["tokens"] == local["tokens"]["tokens"]
