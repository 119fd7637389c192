"""Corpora for the stats and report tests, all made of real data.

- `build_sample(out)`: the real build over the bundled sample crawl (323 real pages), run
  like `run_build` but keeping the pipeline result so the Beam counters can be checked too.
- `webtext_like(out)`: the sample's pages (read stage only) as a WebText-like corpus: each
  page carries the score, submission count and subreddit of a real 2005 Reddit submission
  (tests/data/reddit), a dedup audit trail that clusters pages by host, and token shards
  (one token per word plus EOS) with their manifest.

And the helpers the tests share: `stats_config(**changes)` (one worker, no progress bar), and
`run`/`refused` for `cleancrawl stats` through the real CLI.
"""
from __future__ import annotations

import json
import lzma
import os
from collections import Counter, defaultdict
from urllib.parse import urlsplit

import pyarrow.parquet as pq

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_WET = os.path.join(os.path.dirname(TESTS_DIR), "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
REDDIT_DUMP = os.path.join(TESTS_DIR, "data", "reddit", "RS_v2_2005-07.xz")


def build_sample(out: str, num_shards: int = 3) -> tuple[dict, dict]:
    """The real build of the sample crawl → (stats.json, Beam counters of namespace cleancrawl)."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from cleancrawl import layout
    from cleancrawl.pipelines.build import BuildConfig, build_pipeline, prepare_output, resolve_inputs

    config = BuildConfig(output=out, num_shards=num_shards)
    inputs = resolve_inputs(config)
    prepare_output(config.output, overwrite=True)
    pipeline = beam.Pipeline(options=PipelineOptions([]))
    build_pipeline(pipeline, config, inputs)
    result = pipeline.run()
    result.wait_until_finish()
    counters = {r.key.metric.name: r.committed for r in result.metrics().query()["counters"]
                if r.key.metric.namespace == "cleancrawl"}
    return layout.read_stats(out), counters


def sample_documents():
    from cleancrawl.corpus.readers import read_local_file
    from cleancrawl.corpus.record import Document

    return [d for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)]


def reddit_submissions() -> list[dict]:
    """The real link submissions of the July 2005 dump, in file order."""
    with lzma.open(REDDIT_DUMP, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if not r.get("is_self") and r.get("url")]


def webtext_like(out: str) -> dict:
    """Write the WebText-like corpus into `out`; return what the test expects to find."""
    from cleancrawl.corpus.record import documents_to_table

    docs = sample_documents()
    submissions = reddit_submissions()
    per_domain = Counter(s["domain"] for s in submissions)
    for i, doc in enumerate(docs):
        s = submissions[i % len(submissions)]
        docs[i] = doc.replace(reddit_score=s["score"], reddit_submissions=per_domain[s["domain"]],
                              subreddits=[s["subreddit"]])
    # Two train shards and one validation shard; no stats.json (not a cleancrawl build).
    parts = {"train": [docs[0::3], docs[1::3]], "validation": [docs[2::3]]}
    for split, shards in parts.items():
        os.makedirs(os.path.join(out, split), exist_ok=True)
        for index, shard in enumerate(shards):
            pq.write_table(documents_to_table(shard),
                           os.path.join(out, split, f"part-{index:05d}-of-{len(shards):05d}.parquet"))
    open(os.path.join(out, "_SUCCESS"), "w").close()
    clusters = _write_duplicates(out, docs)
    tokens = _write_tokens(out, parts)
    return {"documents": docs, "clusters": clusters, "tokens": tokens}


def _write_duplicates(out: str, docs) -> Counter:
    """The dedup audit trail (`corpus.dedup.audit`'s schema): pages of the same host form a
    cluster, the first stays, the others are rows naming it. Returns cluster size → clusters."""
    from cleancrawl.corpus.dedup.audit import records_to_table

    by_host = defaultdict(list)
    for doc in docs:
        by_host[urlsplit(doc.url).hostname or ""].append(doc)
    records, sizes = [], Counter()
    for cluster in by_host.values():
        if len(cluster) < 2:
            continue
        sizes[len(cluster)] += 1
        kept = cluster[0]
        for doc in cluster[1:]:
            records.append(dict(dropped_url=doc.url, dropped_id=doc.record_id, dropped_source_file=doc.source_file,
                                kept_url=kept.url, kept_id=kept.record_id, kept_source_file=kept.source_file,
                                method="minhash", cluster_size=len(cluster), estimated_jaccard=0.9))
    os.makedirs(os.path.join(out, "duplicates"), exist_ok=True)
    pq.write_table(records_to_table(records), os.path.join(out, "duplicates", "part-00000-of-00001.parquet"))
    return sizes


def _write_tokens(out: str, parts) -> dict:
    """Token shards in the tokenizer's format: one id per word (its length), EOS after each."""
    from cleancrawl.tokenizer.token_shards import write_manifest, write_token_shard

    tokens_dir = os.path.join(out, "tokens")
    manifest = {"tokenizer": {"kind": "whitespace-test", "vocab_size": 1000}, "splits": {}}
    expected = {}
    for split, shards in parts.items():
        entries = []
        for index, shard in enumerate(shards):
            relative = f"{split}/part-{index:05d}-of-{len(shards):05d}.tok"
            path = os.path.join(tokens_dir, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            ids = [[min(len(w), 998) for w in d.text.split()] for d in shard]
            header = write_token_shard(path, ids, vocab_size=1000, eos_id=999, tokenizer_hash="0" * 64)
            entries.append({"path": relative, "num_tokens": header.num_tokens, "num_docs": header.num_docs})
        manifest["splits"][split] = entries
        expected[split] = {"documents": sum(len(s) for s in shards),
                           "tokens": sum(len(d.text.split()) + 1 for s in shards for d in s)}
    write_manifest(tokens_dir, manifest)
    return expected


# ---------------------------------------------------------------------------- helpers

QUIET = ["--workers", "1", "-q", "--no-progress"]


def stats_config(**changes):
    from cleancrawl.stats.collect import StatsConfig

    return StatsConfig(**{"workers": 1, "progress": False, **changes})


def run(capsys, *args: str) -> tuple[int, str]:
    """`cleancrawl stats ARGS` → (exit code, stderr)."""
    from cleancrawl.cli import main

    code = main(["stats", *args])
    return code, capsys.readouterr().err


def refused(capsys, *args: str) -> str:
    """Run stats, expect exit 2 with one line on stderr and no traceback; return that line."""
    code, err = run(capsys, *args)
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("cleancrawl stats: error: "), err
    return err
