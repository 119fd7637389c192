"""Benchmarks for the WebText-like selection: reading Reddit dumps, and the URL-table join.

    .venv/bin/python bench/bench_select.py            # full: dumps of ~120k lines, joins at 10k/100k/1M URLs
    .venv/bin/python bench/bench_select.py --quick    # a smoke run (seconds)

1. Reading a dump: submissions/s on one core for `selection.reddit_dumps.read_submissions` (JSON
   parsing, validation, link filters, URL normalisation) by compression, beside a bare
   `json.loads` loop over the same lines (the floor any Python reader pays), and the whole
   `reddit-urls` (`build_url_table`) with 1 and 2 worker processes.
2. The join: `SelectDocuments` on the DirectRunner with a URL table of 10k, 100k and 1M
   URLs and a fixed crawl of documents (half of them listed), side-input vs cogroup. Each
   run is a fresh process; peak RSS is that process's maximum, and "none" is the same
   pipeline without the select stage (the baseline to subtract). "table-dict" loads the
   side-input join's lookup table alone: the memory each worker process pays for it.
   "asdict" is the same join through a Beam `AsDict` view, for comparison (not used).

The dumps are the real 2005 submissions repeated with distinct ids and URLs; the
documents carry real page text from the sample crawl. Results: bench/out/select.json.
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import lzma
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

DUMPS = [os.path.join(ROOT, "tests", "data", "reddit", n) for n in ("RS_v2_2005-06.xz", "RS_v2_2005-07.xz")]
SAMPLE_WET = os.path.join(ROOT, "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
OUT_DIR = os.path.join(ROOT, "bench", "out")


# ---------------------------------------------------------------------------- inputs

def real_records() -> list[dict]:
    return [json.loads(line) for path in DUMPS for line in lzma.open(path)]


def synthetic_dump(copies: int) -> bytes:
    """The real records `copies` times, each copy with its own ids and URLs (distinct keys)."""
    records = real_records()
    lines = []
    for c in range(copies):
        for r in records:
            lines.append(json.dumps({**r, "id": f"{r['id']}_{c}", "url": f"{r['url'].rstrip('/')}/c{c}"},
                                    separators=(",", ":")).encode())
    return b"\n".join(lines) + b"\n"


def zstd_long(data: bytes) -> bytes:
    import zstandard
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    out = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, closefd=False) as w:
        w.write(data)
    return out.getvalue()


# ---------------------------------------------------------------------------- 1. reading

def bench_reading(copies: int, work: str) -> dict:
    from cleancrawl.selection.reddit import UrlTableConfig, build_url_table
    from cleancrawl.selection.reddit_dumps import read_submissions

    data = synthetic_dump(copies)
    lines = data.count(b"\n")
    files = {"plain": data, "zstd-long": zstd_long(data), "gzip": gzip.compress(data, compresslevel=6)}
    results = {"lines": lines, "json_bytes": len(data), "per_core": {}}

    start = time.perf_counter()
    for line in io.BytesIO(data):
        json.loads(line)
    results["per_core"]["json.loads only"] = lines / (time.perf_counter() - start)

    for name, blob in files.items():
        path = os.path.join(work, f"RS_bench.{name}")
        with open(path, "wb") as f:
            f.write(blob)
        start = time.perf_counter()
        with open(path, "rb") as f:
            subs, report = read_submissions(f, path)
            n = sum(1 for _ in subs)
        elapsed = time.perf_counter() - start
        assert report.lines == lines and n == report.eligible
        results["per_core"][f"read_submissions {name}"] = lines / elapsed
        results.setdefault("compressed_bytes", {})[name] = len(blob)

    # The whole command: two files (the dump split in halves), 1 and 2 processes.
    half = data.rfind(b"\n", 0, len(data) // 2) + 1
    parts = []
    for i, chunk in enumerate((data[:half], data[half:])):
        path = os.path.join(work, f"RS_half{i}.zst")
        with open(path, "wb") as f:
            f.write(zstd_long(chunk))
        parts.append(path)
    for workers in (1, 2):
        start = time.perf_counter()
        stats = build_url_table(UrlTableConfig(submissions=tuple(parts), output=os.path.join(work, f"urls{workers}"),
                                               workers=workers, partitions=2, overwrite=True))
        elapsed = time.perf_counter() - start
        results[f"reddit-urls {workers} worker(s)"] = {"seconds": elapsed, "lines_per_s": lines / elapsed,
                                                       "urls_kept": stats["totals"]["urls_kept"]}
    return results


# ---------------------------------------------------------------------------- 2. the join

def make_table(n_urls: int, path: str) -> list[str]:
    """A URL table of n distinct URLs (real submitted URLs + a suffix); returns the normalised keys."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cleancrawl.corpus.urls import normalize_url
    from cleancrawl.selection.url_table import URL_TABLE_SCHEMA

    base = [r["url"].replace("&amp;", "&") for r in real_records()]
    urls = [f"{base[i % len(base)].rstrip('/')}/n{i}" for i in range(n_urls)]
    keys = [normalize_url(u) for u in urls]
    table = pa.table({
        "normalized_url": keys, "url": urls, "reddit_score": [3 + i % 50 for i in range(n_urls)],
        "reddit_submissions": [1 + i % 3 for i in range(n_urls)], "subreddits": [["reddit.com"]] * n_urls,
        "first_created_utc": [1119552233 + i for i in range(n_urls)], "first_id": [str(i) for i in range(n_urls)],
        "over_18": [False] * n_urls,
    }, schema=URL_TABLE_SCHEMA)
    os.makedirs(path, exist_ok=True)
    pq.write_table(table, os.path.join(path, "part-00000-of-00001.parquet"), compression="zstd")
    open(os.path.join(path, "_SUCCESS"), "w").close()
    return urls


def join_child(table_dir: str, n_docs: int, join: str, n_urls: int) -> None:
    """Runs in a fresh process: build documents, run the pipeline, print time and peak RSS."""
    if join == "table-dict":  # the side-input join's lookup table alone: its load time and memory
        from cleancrawl.pipelines.select import load_lookup
        from cleancrawl.selection.url_table import list_url_table
        files = tuple(list_url_table(table_dir))
        rss_before = _current_rss_mb()
        start = time.perf_counter()
        table = load_lookup(files)
        elapsed = time.perf_counter() - start
        print(json.dumps({"kept": len(table)}))
        print(json.dumps({"seconds": elapsed, "peak_rss_mb": _peak_rss_mb(),
                          "rss_before_mb": rss_before, "table_mb": _current_rss_mb() - rss_before}))
        return
    import apache_beam as beam

    from cleancrawl.corpus.readers import read_local_file
    from cleancrawl.corpus.record import Document
    from cleancrawl.corpus.urls import normalize_url
    from cleancrawl.pipelines.accounting import KEPT
    from cleancrawl.pipelines.select import SelectConfig, SelectDocuments

    texts = [d.text for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)]
    base = [r["url"].replace("&amp;", "&") for r in real_records()]
    docs = []
    for i in range(n_docs):
        # Even documents are listed (their URL is in the table), odd ones are not.
        url = f"{base[i % len(base)].rstrip('/')}/n{i}" if i % 2 == 0 and i < n_urls else f"http://unlisted.example/{i}"
        docs.append(Document(url=url, normalized_url=normalize_url(url), timestamp="2019-05-01T00:00:00Z",
                             text=texts[i % len(texts)][:2000], source_file="bench"))
    rss_before = _current_rss_mb()
    start = time.perf_counter()
    with beam.Pipeline() as p:
        pcoll = p | beam.Create(docs, reshuffle=False)
        if join == "asdict":
            pcoll = _asdict_join(pcoll, table_dir)
        elif join != "none":
            pcoll = (pcoll | SelectDocuments(SelectConfig(urls=table_dir, join=join)))[KEPT]
        counted = pcoll | beam.combiners.Count.Globally()
        counted | beam.Map(lambda n: print(json.dumps({"kept": n}), flush=True))
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": rss_before}))


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024


def _current_rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_rss_mb() -> float:
    # VmHWM, not getrusage's ru_maxrss: that one keeps the parent's RSS from before the exec.
    return _status_mb("VmHWM")


def _asdict_join(docs, table_dir: str):
    """For comparison only: the same join through a Beam `AsDict` side input (not what
    pipelines.select does; the bench shows why)."""
    import apache_beam as beam

    from cleancrawl.pipelines.select import _ReadUrlTableFn, with_karma
    from cleancrawl.selection.url_table import list_url_table, merge_karma

    table = (docs.pipeline | "Files" >> beam.Create(list_url_table(table_dir)) | beam.ParDo(_ReadUrlTableFn())
             | beam.CombinePerKey(merge_karma))
    return docs | "LookUp" >> beam.FlatMap(
        lambda d, t: [with_karma(d, t[d.normalized_url])] if d.normalized_url in t else [], t=beam.pvalue.AsDict(table))


def bench_join(sizes: list[int], n_docs: int, work: str) -> list[dict]:
    rows = []
    for n_urls in sizes:
        table_dir = os.path.join(work, f"table-{n_urls}")
        make_table(n_urls, table_dir)
        for join in ("table-dict", "none", "side-input", "cogroup", "asdict"):
            cmd = [sys.executable, os.path.abspath(__file__), "--join-child", table_dir, str(n_docs), join, str(n_urls)]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-3000:])
            lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
            kept = next(line["kept"] for line in lines if "kept" in line)
            figures = lines[-1]
            rows.append({"urls": n_urls, "docs": n_docs, "join": join, "kept": kept, **figures})
            extra = f", table dict {figures['table_mb']:.0f} MB" if "table_mb" in figures else ""
            print(f"  join {join:<10} urls {n_urls:>9,} docs {n_docs:>7,}: {figures['seconds']:7.1f} s, "
                  f"peak RSS {figures['peak_rss_mb']:7.0f} MB, kept {kept:,}{extra}", flush=True)
    return rows


# ---------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--join-child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--skip-reading", action="store_true")
    parser.add_argument("--skip-join", action="store_true")
    args = parser.parse_args()
    if args.join_child:
        table_dir, n_docs, join, n_urls = args.join_child
        join_child(table_dir, int(n_docs), join, int(n_urls))
        return

    copies, sizes, n_docs = (5, [10_000], 2_000) if args.quick else (100, [10_000, 100_000, 1_000_000], 20_000)
    results = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-select-") as work:
        if not args.skip_reading:
            print(f"reading a submissions dump ({copies} copies of the 1,182 real 2005 submissions)", flush=True)
            reading = bench_reading(copies, work)
            results["reading"] = reading
            for name, rate in reading["per_core"].items():
                print(f"  {name:<28} {rate:>10,.0f} submissions/s (one core)")
            print(f"  JSON {reading['json_bytes'] / 1e6:.0f} MB; compressed: "
                  + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in reading["compressed_bytes"].items()))
            for workers in (1, 2):
                r = reading[f"reddit-urls {workers} worker(s)"]
                print(f"  reddit-urls, {workers} worker(s): {r['seconds']:.1f} s, "
                      f"{r['lines_per_s']:,.0f} submissions/s, {r['urls_kept']:,} URLs kept")
        if not args.skip_join:
            print(f"the URL-table join (DirectRunner, {n_docs:,} documents, half listed)", flush=True)
            results["join"] = bench_join(sizes, n_docs, work)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "select.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {os.path.join(OUT_DIR, 'select.json')}")


if __name__ == "__main__":
    main()
