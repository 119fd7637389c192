"""The dedup transforms on DirectRunner (real pages with planted near-duplicates), and the
standalone `cleancrawl dedup` command end to end."""
import json
import os
import random

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from cleancrawl import layout
from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.dedup import NEAR_DUPLICATE, DedupConfig, document_key
from cleancrawl.corpus.dedup.audit import DUPLICATE_SCHEMA
from cleancrawl.corpus.dedup.components import union_find_components
from cleancrawl.corpus.dedup.lines import dedup_lines_in_memory
from cleancrawl.corpus.dedup.minhash import jaccard, shingle_hashes
from cleancrawl.corpus.dedup.spans import dedup_spans_in_memory
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.record import Document
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY
from cleancrawl.pipelines.dedup import (
    DUPLICATES,
    C4LineDedup,
    C4SpanDedup,
    ConnectedComponents,
    DedupDocuments,
    MinHashDedup,
    cluster_size_name,
)


def _variant(doc, text, n):
    return doc.replace(text=text, url=f"{doc.url}#copy{n}", record_id=f"{doc.record_id}-copy{n}")


@pytest.fixture(scope="module")
def planted(sample_documents):
    """Real pages after C4's clean stage, plus near-copies of 12 of them at known Jaccard."""
    cleaner = C4Cleaner()
    pages = [r for r in (cleaner(d) for d in sample_documents) if isinstance(r, Document)]
    rng = random.Random(5)
    long_pages = [p for p in pages if len(p.text.split()) >= 300][:12]
    variants = []
    for i, page in enumerate(long_pages):
        words = page.text.split(" ")
        if i % 3 == 0:    # cut the last 5%: J ~ 0.95
            text = " ".join(words[: int(len(words) * 0.95)])
        elif i % 3 == 1:  # one word in 150 replaced: J ~ 0.93
            text = " ".join(w if rng.random() > 1 / 150 else "zzz" for w in words)
        else:             # cut the last quarter: J ~ 0.75, below the threshold
            text = " ".join(words[: int(len(words) * 0.75)])
        variants.append((page, _variant(page, text, i)))
    similarity = {v.url: jaccard(shingle_hashes(p.text), shingle_hashes(v.text)) for p, v in variants}
    return pages + [v for _, v in variants], variants, similarity


def _expected_near_duplicates(variants, similarity, threshold=0.8):
    """{dropped url: kept id} for the planted pairs at or above the threshold."""
    expected = {}
    for page, variant in variants:
        if similarity[variant.url] >= threshold:
            kept, dropped = sorted((page, variant), key=document_key)
            expected[dropped.url] = kept.record_id
    return expected


@pytest.mark.slow
def test_transforms_make_the_in_memory_decisions(planted):
    docs, variants, similarity = planted
    expected_dups = _expected_near_duplicates(variants, similarity)
    assert 6 <= len(expected_dups) < len(variants)  # some planted pairs are below 0.8 on purpose
    lines = dedup_lines_in_memory([(document_key(d), d.text) for d in docs])
    spans = dedup_spans_in_memory([(document_key(d), d.text) for d in docs])

    order = random.Random(2).sample(range(2000), 2000)
    path = list(zip(order, order[1:])) + [(5000, 5001)]
    roots = union_find_components(path)

    pipeline = TestPipeline()
    pcoll = pipeline | "Docs" >> beam.Create(docs)
    by_lines = pcoll | "Lines" >> C4LineDedup()
    assert_that(by_lines[KEPT] | "LineText" >> beam.Map(lambda d: (d.url, d.text)),
                equal_to([(d.url, o.text) for d, o in zip(docs, lines) if o.text is not None]), label="LinesKept")
    assert_that(by_lines[DROPPED] | "LineDrops" >> beam.Map(lambda d: (d.url, d.reason, d.stage)),
                equal_to([(d.url, o.reason, "dedup") for d, o in zip(docs, lines) if o.text is None]),
                label="LinesDropped")
    # Fewer shuffle partitions (what a small input gets, `DedupConfig.for_inputs`): the same decisions.
    narrow = DedupConfig(partition_bytes=1)
    by_lines_narrow = pcoll | "LinesNarrow" >> C4LineDedup(narrow)
    assert_that(by_lines_narrow[KEPT] | "LineTextNarrow" >> beam.Map(lambda d: (d.url, d.text)),
                equal_to([(d.url, o.text) for d, o in zip(docs, lines) if o.text is not None]), label="LinesKeptNarrow")
    # Claims without any of the order key (every contested line settled as a tie is, on whole keys
    # read back from the spill), or with one byte of it (some settled by it, some tied): the same.
    by_lines_tied = pcoll | "LinesTied" >> C4LineDedup(narrow, prefix_bytes=0)
    assert_that(by_lines_tied[KEPT] | "LineTextTied" >> beam.Map(lambda d: (d.url, d.text)),
                equal_to([(d.url, o.text) for d, o in zip(docs, lines) if o.text is not None]), label="LinesKeptTied")
    assert_that(by_lines_tied[DROPPED] | "LineDropsTied" >> beam.Map(lambda d: (d.url, d.reason, d.stage)),
                equal_to([(d.url, o.reason, "dedup") for d, o in zip(docs, lines) if o.text is None]),
                label="LinesDroppedTied")
    by_spans_tied = pcoll | "SpansTied" >> C4SpanDedup(prefix_bytes=1)
    assert_that(by_spans_tied[KEPT] | "SpanTextTied" >> beam.Map(lambda d: (d.url, d.text)),
                equal_to([(d.url, o.text) for d, o in zip(docs, spans) if o.text is not None]), label="SpansKeptTied")
    by_minhash_narrow = pcoll | "MinHashNarrow" >> MinHashDedup(narrow)
    assert_that(by_minhash_narrow[DROPPED] | "NearDropsNarrow" >> beam.Map(lambda d: (d.url, d.reason, d.detail)),
                equal_to([(url, NEAR_DUPLICATE, kept) for url, kept in expected_dups.items()]),
                label="NearDroppedNarrow")
    by_spans = pcoll | "Spans" >> C4SpanDedup()
    assert_that(by_spans[KEPT] | "SpanText" >> beam.Map(lambda d: (d.url, d.text)),
                equal_to([(d.url, o.text) for d, o in zip(docs, spans) if o.text is not None]), label="SpansKept")
    by_minhash = pcoll | "MinHash" >> MinHashDedup(DedupConfig())
    assert_that(by_minhash[DROPPED] | "NearDrops" >> beam.Map(lambda d: (d.url, d.reason, d.detail)),
                equal_to([(url, NEAR_DUPLICATE, kept) for url, kept in expected_dups.items()]), label="NearDropped")
    assert_that(by_minhash[DUPLICATES]
                | "Audit" >> beam.Map(lambda r: (r["dropped_url"], r["kept_id"], r["cluster_size"])),
                equal_to([(url, kept, 2) for url, kept in expected_dups.items()]), label="AuditRows")
    assert_that(by_minhash[TALLY] | "Clusters" >> beam.Filter(lambda t: t[0][2].startswith("minhash:cluster"))
                | "SumClusters" >> beam.CombinePerKey(lambda values: (sum(v[0] for v in values), 0)),
                equal_to([(("event", "dedup", "minhash:clusters"), (len(expected_dups), 0)),
                          (("event", "dedup", cluster_size_name(2)), (len(expected_dups), 0))]), label="ClusterTallies")
    both = pcoll | "Default" >> DedupDocuments(DedupConfig())  # c4-lines, then minhash
    outcomes = ((both[KEPT] | "KeptUrls" >> beam.Map(lambda d: d.url)),
                (both[DROPPED] | "DroppedUrls" >> beam.Map(lambda d: d.url))) | "Every" >> beam.Flatten()
    assert_that(outcomes, equal_to([d.url for d in docs]), label="EachDocumentOnce")
    edges = pipeline | "Path" >> beam.Create(path) | "Components" >> ConnectedComponents(rounds=10)
    assert_that(edges["parents"], equal_to([(n, r) for n, r in roots.items() if n != r]), label="PathComponents")
    assert_that(edges[TALLY], equal_to([]), label="Converged")
    result = pipeline.run()
    result.wait_until_finish()
    counters = {}
    for counter in result.metrics().query()["counters"]:  # one entry per step: add them up
        counters[counter.key.metric.name] = counters.get(counter.key.metric.name, 0) + counter.committed
    assert counters["dedup/near_duplicate"] >= len(expected_dups)
    # In the default branch c4-lines runs first: a copy's lines go to one page of the pair.
    assert counters["dedup/duplicate_lines"] >= 1
    assert counters["dedup/lines/c4-lines:duplicate"] > 100
    assert counters["dedup/event/minhash:documents_hashed"] >= len(docs)


def _write_url_text_shards(docs, directory):
    """Parquet with only url and text, as another tool might write it: two shards."""
    os.makedirs(directory)
    half = len(docs) // 2
    for i, part in enumerate((docs[:half], docs[half:])):
        table = pa.table({"url": [d.url for d in part], "text": [d.text for d in part]})
        pq.write_table(table, os.path.join(directory, f"in-{i}.parquet"))


def _read(out, split):
    rows = []
    for path in layout.list_shards(out, split):
        rows += pq.read_table(path).to_pylist()
    return rows


def _copies(doc, n, tag):
    return [doc.replace(url=doc.url.replace("://", f"://{tag}{i}.", 1), record_id=f"{doc.record_id}-{tag}{i}")
            for i in range(n)]


@pytest.mark.slow
def test_minhash_on_clusters_of_copies_makes_the_union_find_decisions(planted):
    """Pages recurring on many hosts (the text unchanged) and a near copy recurring too: the
    clusters are those of every pair at exact Jaccard >= 0.8 (union-find), the smallest key survives."""
    docs, variants, similarity = planted
    page, variant = next((p, v) for p, v in variants if similarity[v.url] >= 0.9)
    others = [p for p in docs if len(p.text.split()) >= 200 and p.url not in (page.url, variant.url)][:3]
    corpus = [*_copies(page, 30, "a"), *_copies(variant, 12, "b"), *[c for o in others for c in _copies(o, 10, "c")],
              *docs[:40]]
    shingles = {d.url: shingle_hashes(d.text) for d in corpus}
    by_key = sorted(corpus, key=document_key)
    edges = [(document_key(a), document_key(b)) for i, a in enumerate(by_key) for b in by_key[i + 1:]
             if jaccard(shingles[a.url], shingles[b.url]) >= 0.8]
    root = union_find_components(edges)
    url_of = {document_key(d): d for d in corpus}
    size = {}
    for r in root.values():
        size[r] = size.get(r, 0) + 1
    expected = [(url_of[k].url, url_of[r].record_id, size[r]) for k, r in root.items() if k != r]
    assert len(expected) >= 29 + 12 + 27

    pipeline = TestPipeline()
    out = pipeline | beam.Create(corpus) | MinHashDedup(DedupConfig())
    assert_that(out[DUPLICATES] | beam.Map(lambda r: (r["dropped_url"], r["kept_id"], r["cluster_size"])),
                equal_to(expected))
    pipeline.run().wait_until_finish()


def test_dedup_documents_can_leave_the_documents_where_each_method_drops(planted):
    docs, _, _ = planted
    pipeline = TestPipeline()
    corpus = pipeline | beam.Create(docs[:30] + _copies(docs[1], 3, "a"))  # 3 copies: 3 drops of 4 pages
    kept_documents = corpus | "Keep" >> DedupDocuments(DedupConfig())
    bare = corpus | "Bare" >> DedupDocuments(DedupConfig(), drop_documents=False)
    assert_that(kept_documents[DROPPED] | "Kept" >> beam.Map(lambda d: (d.reason, d.document is not None)),
                equal_to([("duplicate_lines", True)] * 3), label="WithDocuments")
    assert_that(bare[DROPPED] | "Stripped" >> beam.Map(lambda d: (d.reason, d.document is None)),
                equal_to([("duplicate_lines", True)] * 3), label="Bare")
    pipeline.run().wait_until_finish()


@pytest.mark.slow
def test_dedup_command_end_to_end(planted, tmp_path, capsys):
    docs, variants, similarity = planted
    expected_dups = _expected_near_duplicates(variants, similarity)
    source = str(tmp_path / "shards")
    _write_url_text_shards(docs, source)
    out = str(tmp_path / "out")
    assert cli_main(["dedup", "--input", source, "--method", "minhash", "--output", out]) == 0
    assert "kept" in capsys.readouterr().out
    stats = json.load(open(os.path.join(out, "stats.json")))
    assert stats["totals"]["read"] == len(docs) and stats["totals"]["balanced"]
    assert stats["dropped"]["dedup"][NEAR_DUPLICATE]["documents"] == len(expected_dups)
    assert stats["events"]["dedup"]["minhash:clusters"] == len(expected_dups)
    assert stats["events"]["dedup"]["minhash:verified_pairs"] == len(expected_dups)
    kept = {r["url"] for r in _read(out, "train") + _read(out, "validation")}
    assert kept == {d.url for d in docs} - set(expected_dups)
    audit = pq.read_table(os.path.join(out, "duplicates", "part-00000-of-00001.parquet"))
    assert audit.schema.names == DUPLICATE_SCHEMA.names
    # No record ids in the input: ids are shard#row, so each decision points at a row.
    position = {d.url: (f"in-{int(i >= len(docs) // 2)}.parquet", i - (len(docs) // 2) * (i >= len(docs) // 2))
                for i, d in enumerate(docs)}
    url_of = {d.record_id: d.url for d in docs}
    for row in audit.to_pylist():
        shard, index = position[url_of[expected_dups[row["dropped_url"]]]]
        assert row["kept_id"] == os.path.join(source, shard) + f"#{index}"
    assert os.path.exists(os.path.join(out, "_SUCCESS"))

    # Same bytes again, on two threads.
    again = str(tmp_path / "again")
    assert cli_main(["dedup", "--input", source, "--output", again,
                     "--direct_num_workers=2", "--direct_running_mode=multi_threading"]) == 0
    for sub in ("train", "validation", "duplicates"):
        for name in os.listdir(os.path.join(out, sub)):
            assert open(os.path.join(out, sub, name), "rb").read() == open(os.path.join(again, sub, name), "rb").read()


def test_dedup_command_c4_lines_on_a_build_output_layout(planted, tmp_path):
    docs, _, _ = planted
    source = str(tmp_path / "shards")
    _write_url_text_shards(docs, source)
    out = str(tmp_path / "lines")
    assert cli_main(["dedup", "--input", source, "--method", "c4-lines", "--output", out]) == 0
    stats = json.load(open(os.path.join(out, "stats.json")))
    assert stats["totals"]["balanced"] and stats["lines"]["dedup"]["c4-lines:duplicate"] > 100
    assert stats["events"]["dedup"]["c4-lines:removed_bytes"] > 10_000
    empty = pq.read_table(os.path.join(out, "duplicates", "part-00000-of-00001.parquet"))
    assert empty.num_rows == 0  # no MinHash: an empty audit shard, same layout
    # The output is a corpus in cleancrawl's layout: it can be deduplicated again.
    second = str(tmp_path / "second")
    assert cli_main(["dedup", "--input", out, "--method", "c4-lines", "--output", second]) == 0
    assert json.load(open(os.path.join(second, "stats.json")))["totals"]["dropped"] == 0


def test_dedup_command_refuses_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.table({"url": ["https://a.example/"], "body": ["no text column"]}), str(bad / "x.parquet"))
    assert cli_main(["dedup", "--input", str(bad), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no text column" in err
    assert cli_main(["dedup", "--input", str(bad), "--output", str(bad / "inside")]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    assert cli_main(["dedup", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "o")]) == 2
    assert cli_main(["dedup", "--input", str(bad), "--output", str(tmp_path / "o"), "--method", "simhash"]) == 2
    assert "unknown dedup method" in capsys.readouterr().err
