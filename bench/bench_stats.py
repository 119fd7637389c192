"""Scan throughput of `cleancrawl stats` (corpus.stats) on ~1 GB of Parquet shards.

    .venv/bin/python bench/bench_stats.py [--size-gb 1.0] [--shards 16] [--workers 1,2] [--keep DIR]

The shards are made from the 323 real pages of the bundled sample crawl, replicated with
distinct URLs (`?copy=N`) and crawl months (2019-01 … 2024-12), shuffled per shard, and
written with the build's own Parquet options (zstd 3, 10k-row groups) — so the compression
ratio is that of real web text, not of repeated bytes.

Printed side by side, on the same shards:
  1. corpus.stats with 1 and 2 worker processes: MB/s of Parquet per core, text MB/s,
     documents/s; wall time of the whole `corpus_stats` call (listing, merge, JSON); and the
     floor: decoding the same columns without computing anything.
  2. the plain-Python way (pyarrow → Python strings → len/split/count, urlsplit +
     tldextract per URL, Counters) on a few shards, one core: the ratio to (1).
Per core = wall time × workers: on a shared machine, read it as a lower bound; MB per CPU
second (this process and its workers) is the load-independent figure.
`--keep DIR` keeps the shards and reuses them on the next run.
Figures go to stdout and bench/out/bench_stats.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common import OUT_DIR, SAMPLE_WET

from cleancrawl.corpus.readers import read_local_file
from cleancrawl.corpus.record import Document, documents_to_table
from cleancrawl.pipelines.write import PARQUET_OPTIONS
from cleancrawl.stats.collect import StatsConfig, corpus_stats
from cleancrawl.stats.contents import BATCH_ROWS, CONTENT_COLUMNS

# ---------------------------------------------------------------------------- shards

def base_table() -> pa.Table:
    docs = [d for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)]
    docs = [d.replace(language="en", language_score=0.9999) for d in docs]
    return documents_to_table(docs)


def copies_of_sample(base: pa.Table, rng, first_copy: int, copies: int) -> pa.Table:
    """`copies` shuffled copies of the sample, each with its own URL suffix and crawl month."""
    months = [f"{y}-{m:02d}" for y in range(2019, 2025) for m in range(1, 13)]
    pieces = []
    for copy in range(first_copy, first_copy + copies):
        piece = base.take(pa.array(rng.permutation(base.num_rows)))
        urls = pc.binary_join_element_wise(piece.column("url"), pa.scalar(f"?copy={copy}"), "")
        stamps = pa.array([f"{months[copy % len(months)]}-15T00:00:00Z"] * piece.num_rows)
        piece = piece.set_column(0, "url", urls).set_column(2, "timestamp", stamps)
        pieces.append(piece)
    return pa.concat_tables(pieces).combine_chunks().cast(base.schema)


def write_shards(directory: str, size_bytes: int, shards: int, seed: int = 0) -> dict:
    """Write OUT/train/part-*.parquet, about `size_bytes` of Parquet in all."""
    base = base_table()
    rng = np.random.default_rng(seed)
    train = os.path.join(directory, "train")
    os.makedirs(train, exist_ok=True)
    # Measure the compressed size of a row group's worth of rows to size the shards.
    probe = copies_of_sample(base, rng, 0, 30)
    buffer = pa.BufferOutputStream()
    pq.write_table(probe, buffer, **PARQUET_OPTIONS)
    rows_per_shard = int(size_bytes / shards / (buffer.getvalue().size / probe.num_rows))
    copies_per_chunk = 30                                   # ~9.7k rows: about one row group
    parquet_bytes = text_bytes = documents = 0
    copy = 0
    for index in range(shards):
        path = os.path.join(train, f"part-{index:05d}-of-{shards:05d}.parquet")
        with pq.ParquetWriter(path, base.schema, compression=PARQUET_OPTIONS["compression"],
                              compression_level=PARQUET_OPTIONS["compression_level"],
                              use_dictionary=PARQUET_OPTIONS["use_dictionary"],
                              write_statistics=PARQUET_OPTIONS["write_statistics"]) as writer:
            rows = 0
            while not rows or rows < rows_per_shard - copies_per_chunk * base.num_rows / 2:   # nearest whole chunk
                chunk = copies_of_sample(base, rng, copy, copies_per_chunk)
                copy += copies_per_chunk
                writer.write_table(chunk, row_group_size=PARQUET_OPTIONS["row_group_size"])
                rows += chunk.num_rows
                text_bytes += int(pc.sum(pc.binary_length(chunk.column("text"))).as_py())
        documents += rows
        parquet_bytes += os.path.getsize(path)
    open(os.path.join(directory, "_SUCCESS"), "w").close()
    return {"parquet_bytes": parquet_bytes, "text_bytes": text_bytes, "documents": documents, "shards": shards}


# ---------------------------------------------------------------------------- plain Python

def plain_python_stats(paths: list[str]) -> dict:
    """The obvious way: every text and URL as a Python object, counted in loops."""
    import tldextract

    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    docs = chars = words = lines = 0
    domains, languages, months = Counter(), Counter(), Counter()
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(columns=["text", "url", "language", "timestamp"]):
            for text, url, language, timestamp in zip(*(c.to_pylist() for c in batch.columns)):
                docs += 1
                chars += len(text)
                words += len(text.split())
                lines += text.count("\n") + 1 if text else 0
                host = urlsplit(url).hostname or ""
                parts = extract(host)
                domains[f"{parts.domain}.{parts.suffix}"] += 1
                languages[language] += 1
                months[timestamp[:7]] += 1
    return {"documents": docs, "characters": chars, "words": words, "lines": lines}


# ---------------------------------------------------------------------------- main

def cpu_seconds() -> float:
    import resource
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0, help="Parquet to generate (default: %(default)s GB)")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to time")
    parser.add_argument("--baseline-shards", type=int, default=1, help="shards the plain-Python baseline reads")
    parser.add_argument("--keep", help="write the shards here, keep them, reuse them next time "
                                       "(default: a temporary directory)")
    args = parser.parse_args()

    directory = args.keep or tempfile.mkdtemp(prefix="bench-stats-")
    results = {"size_gb_requested": args.size_gb, "cpu_count": os.cpu_count()}
    try:
        manifest = os.path.join(directory, "bench-corpus.json")
        if args.keep and os.path.exists(manifest):
            with open(manifest) as f:
                corpus = json.load(f)
            print(f"== reusing the shards in {directory} ==")
        else:
            print(f"== generating ~{args.size_gb:g} GB of Parquet shards in {directory} ==")
            start = time.perf_counter()
            corpus = write_shards(directory, int(args.size_gb * 1e9), args.shards)
            corpus["seconds"] = round(time.perf_counter() - start, 1)
            with open(manifest, "w") as f:
                json.dump(corpus, f)
        results["corpus"] = corpus
        ratio = corpus["text_bytes"] / corpus["parquet_bytes"]
        print(f"{corpus['shards']} shards, {corpus['parquet_bytes'] / 1e6:,.0f} MB Parquet, "
              f"{corpus['text_bytes'] / 1e6:,.0f} MB text (×{ratio:.2f}), {corpus['documents']:,} documents, "
              f"written in {corpus['seconds']} s")

        print("\n== 1. corpus.stats ==")
        print(f"{'workers':>7}  {'wall s':>7}  {'CPU s':>7}  {'MB/s Parquet/core':>17}  {'MB/s text/core':>14}  "
              f"{'MB Parquet/CPU s':>16}  {'docs/s':>9}")
        runs = []
        reference = None
        for workers in [int(w) for w in args.workers.split(",")]:
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            doc = corpus_stats([directory], StatsConfig(workers=workers, progress=False))
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
            contents = doc["corpora"][0]["contents"]
            assert contents["documents"] == corpus["documents"], "the scan lost documents"
            reference = reference or contents
            assert contents["words"] == reference["words"]
            run = {
                "workers": workers, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                "parquet_mb_per_s_per_core": round(corpus["parquet_bytes"] / 1e6 / wall / workers, 1),
                "text_mb_per_s_per_core": round(corpus["text_bytes"] / 1e6 / wall / workers, 1),
                "parquet_mb_per_cpu_second": round(corpus["parquet_bytes"] / 1e6 / cpu, 1),
                "documents_per_s": round(corpus["documents"] / wall),
            }
            runs.append(run)
            print(f"{workers:>7}  {wall:>7.1f}  {cpu:>7.1f}  {run['parquet_mb_per_s_per_core']:>17.1f}  "
                  f"{run['text_mb_per_s_per_core']:>14.1f}  {run['parquet_mb_per_cpu_second']:>16.1f}  "
                  f"{run['documents_per_s']:>9,}")
        results["corpus_stats"] = runs

        # The floor: only decoding the same columns, nothing computed.
        paths = sorted(os.path.join(directory, "train", n) for n in os.listdir(os.path.join(directory, "train")))
        cpu0, t0 = time.process_time(), time.perf_counter()
        for path in paths:
            parquet = pq.ParquetFile(path)
            columns = [c for c in CONTENT_COLUMNS if c in parquet.schema_arrow.names]
            for _ in parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                pass
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        results["decode_only"] = {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                                  "parquet_mb_per_cpu_second": round(corpus["parquet_bytes"] / 1e6 / cpu, 1)}
        print(f"{'decode only':>7}  {wall:>7.1f}  {cpu:>7.1f}  {'':>17}  {'':>14}  "
              f"{results['decode_only']['parquet_mb_per_cpu_second']:>16.1f}   (reading the same columns, one core)")

        print(f"\n== 2. plain Python on {args.baseline_shards} shard(s), one core (CPU seconds) ==")
        paths = sorted(os.path.join(directory, "train", n) for n in os.listdir(os.path.join(directory, "train")))
        paths = paths[: args.baseline_shards]
        size = sum(os.path.getsize(p) for p in paths)
        t0 = time.process_time()
        plain = plain_python_stats(paths)
        plain_cpu = time.process_time() - t0
        t0 = time.process_time()
        ours = corpus_stats([_subset(directory, paths)],
                            StatsConfig(workers=1, progress=False))["corpora"][0]["contents"]
        ours_cpu = time.process_time() - t0
        assert (ours["documents"], ours["words"], ours["lines"], ours["characters"]) == (
            plain["documents"], plain["words"], plain["lines"], plain["characters"]), "plain Python disagrees"
        results["plain_python"] = p = {
            "shards": len(paths), "parquet_mb": round(size / 1e6, 1),
            "plain_cpu_seconds": round(plain_cpu, 2), "corpus_stats_cpu_seconds": round(ours_cpu, 2),
            "plain_mb_per_cpu_second": round(size / 1e6 / plain_cpu, 1),
            "corpus_stats_mb_per_cpu_second": round(size / 1e6 / ours_cpu, 1),
            "speedup": round(plain_cpu / ours_cpu, 2),
        }
        print(f"{'':<14}{'CPU s':>9}  {'MB Parquet/CPU s':>16}")
        print(f"{'plain Python':<14}{p['plain_cpu_seconds']:>9.1f}  {p['plain_mb_per_cpu_second']:>16.1f}")
        print(f"{'corpus.stats':<14}{p['corpus_stats_cpu_seconds']:>9.1f}  "
              f"{p['corpus_stats_mb_per_cpu_second']:>16.1f}   (×{p['speedup']:.1f}, same counts)")
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "bench_stats.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {os.path.join(OUT_DIR, 'bench_stats.json')}")
    return 0


def _subset(directory: str, paths: list[str]) -> str:
    """A directory holding links to just `paths`, so corpus_stats reads only those."""
    subset = os.path.join(directory, "subset")
    os.makedirs(subset, exist_ok=True)
    for path in paths:
        link = os.path.join(subset, os.path.basename(path))
        if not os.path.exists(link):
            os.symlink(path, link)
    return subset


if __name__ == "__main__":
    sys.exit(main())
