"""stats.contents on real data: the sample build's contents against counts computed here,
parallel = serial, broken, missing and unfinished shards, one split, and Parquet without the
columns a scan needs (through the real CLI)."""
from __future__ import annotations

import glob
import json
import os
import shutil
from collections import Counter
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tldextract

from cleancrawl.corpus.errors import UserError
from cleancrawl.stats.collect import corpus_stats
from cleancrawl.stats.contents import text_metrics

from stats_testdata import QUIET, refused, run, sample_documents, stats_config


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


# ---------------------------------------------------------------------------- the sample build

def test_sample_stats_match_counts_computed_independently(sample_build):
    out, _, _ = sample_build
    doc = corpus_stats([out], stats_config())
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


def test_parallel_scan_equals_serial_scan(sample_build):
    out, _, _ = sample_build
    serial = corpus_stats([out], stats_config(workers=1))
    parallel = corpus_stats([out], stats_config(workers=2))
    assert json.dumps(parallel, sort_keys=True) == json.dumps(serial, sort_keys=True)


def test_corrupt_and_missing_shards_are_named_and_the_rest_is_summarised(sample_build, tmp_path):
    out, _, _ = sample_build
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    train = copy / "train"
    corrupt, missing, intact = (train / f"part-0000{i}-of-00003.parquet" for i in range(3))
    corrupt.write_bytes(corrupt.read_bytes()[: corrupt.stat().st_size // 2])
    os.remove(missing)
    expected = (pq.read_table(intact).num_rows
                + pq.read_table(copy / "validation" / "part-00000-of-00001.parquet").num_rows)

    corpus = corpus_stats([str(copy)], stats_config(workers=2))["corpora"][0]
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
        corpus_stats([str(copy)], stats_config())
    assert corpus_stats([str(copy)], stats_config(allow_partial=True))["corpora"][0]["contents"]["documents"] == 51


def test_split_option_scans_only_that_split(sample_build):
    out, _, _ = sample_build
    contents = corpus_stats([out], stats_config(splits=("validation",)))["corpora"][0]["contents"]
    assert set(contents["splits"]) == {"validation"}
    assert (contents["documents"]
            == pq.read_table(os.path.join(out, "validation", "part-00000-of-00001.parquet")).num_rows)


# ---------------------------------------------------------------------------- columns

def _write(folder, table: pa.Table) -> str:
    os.makedirs(folder, exist_ok=True)
    pq.write_table(table, os.path.join(folder, "part-0.parquet"))
    return str(folder)


def test_parquet_without_a_text_column_is_one_line_naming_the_option(tmp_path, capsys):
    docs = sample_documents()[:51]
    theirs = _write(tmp_path / "theirs", pa.table({"id": [str(i) for i in range(len(docs))],
                                                   "content": [d.text for d in docs]}))
    err = refused(capsys, theirs, "--json", str(tmp_path / "s.json"), "--html", str(tmp_path / "r"), *QUIET)
    assert "no text column 'text' (set --text-column; its columns: id, content)" in err
    assert sorted(os.listdir(tmp_path)) == ["theirs"]  # nothing written
    code, err = run(capsys, theirs, "--text-column", "content", "--url-column", "-", "--json", str(tmp_path / "s.json"),
                    *QUIET)
    assert code == 0, err
    contents = json.loads((tmp_path / "s.json").read_text())["corpora"][0]["contents"]
    assert contents["documents"] == 51 and contents["characters"] == sum(len(d.text) for d in docs)
    assert contents["domains"]["distinct"] == 0


def test_parquet_without_a_url_column_is_one_line_unless_told_there_is_none(tmp_path, capsys):
    docs = sample_documents()[:20]
    texts = _write(tmp_path / "texts", pa.table({"text": [d.text for d in docs]}))
    err = refused(capsys, texts, *QUIET)
    assert "no url column 'url' (set --url-column, or --url-column - to count no domains; its columns: text)" in err
    code, err = run(capsys, texts, "--url-column", "-", "--strict", *QUIET)
    assert code == 0 and err == ""


def test_a_later_shard_without_the_text_column_is_a_named_problem(tmp_path, capsys):
    docs = sample_documents()[:10]
    folder = tmp_path / "mixed"
    _write(folder, pa.table({"url": [d.url for d in docs], "text": [d.text for d in docs]}))
    pq.write_table(pa.table({"url": [d.url for d in docs], "content": [d.text for d in docs]}),
                   folder / "part-1.parquet")
    code, err = run(capsys, str(folder), "--strict", *QUIET)
    assert code == 1 and "part-1.parquet" in err and "no text column" in err
