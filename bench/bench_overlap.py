"""Overlap and decontamination benchmark: documents/s/core and peak RSS against corpus size, and datatrove.

    .venv/bin/python bench/bench_overlap.py                    # corpora of 4x and 16x the sample pages
    .venv/bin/python bench/bench_overlap.py --copies 2,8 --no-datatrove

The corpus: the 323 real pages of the bundled sample crawl (all of them, unfiltered), replicated
`copies` times into Parquet shards of 1,000 documents (a `text` column). The eval side: WikiText-2
validation (tests/data/text) plus 10 passages planted from the sample pages. Each measurement runs
in its own process, which reports its CPU time and peak RSS (ru_maxrss):

  overlap (Beam)     run_overlap: the Beam pipeline (DirectRunner, one process), 8-grams
  overlap (local)    overlap_local: the same scan without Beam (the pipeline's per-shard function)
  decontaminate      corpus.ngrams.Decontaminator over every document (what the build stage runs), 13-grams
  datatrove          NGramsDecontFilter (ParquetReader → filter, one task), 13-grams, its own index
                     (bench/peers/datatrove_decont.py in bench/.venv-peers, or $CLEANCRAWL_PEERS_PYTHON)

documents/s/core = documents / (user + sys CPU seconds). Figures go to bench/out/overlap.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

OUT_DIR = os.path.join(ROOT, "bench", "out", "overlap")
WIKITEXT = os.path.join(ROOT, "tests", "data", "text", "wikitext-2-valid.txt")
SAMPLE_WET = os.path.join(ROOT, "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
PEERS_PYTHON = os.environ.get("CLEANCRAWL_PEERS_PYTHON") or os.path.join(ROOT, "bench", ".venv-peers", "bin", "python")
DATATROVE_RUNNER = os.path.join(ROOT, "bench", "peers", "datatrove_decont.py")


# ---------------------------------------------------------------------------- data

def _sample_texts() -> list[tuple[str, str]]:
    from cleancrawl.corpus.readers import read_local_file
    from cleancrawl.corpus.record import Document

    return [(d.url, d.text) for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)]


def write_corpus(folder: str, copies: int, per_shard: int = 1000) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pages = _sample_texts()
    os.makedirs(folder, exist_ok=True)
    rows = [(f"{url}#copy{c}", text) for c in range(copies) for url, text in pages]
    for i in range(0, len(rows), per_shard):
        chunk = rows[i:i + per_shard]
        pq.write_table(pa.table({"url": [u for u, _ in chunk], "text": [t for _, t in chunk]}),
                       os.path.join(folder, f"part-{i // per_shard:05d}.parquet"))
    return len(rows)


def write_eval(path: str) -> None:
    from cleancrawl.corpus.ngrams import words

    pages = [words(t) for _, t in _sample_texts()]
    planted = [" ".join(ws[50:90]) for ws in [p for p in pages if len(p) > 200][:10]]
    lines = [line for line in open(WIKITEXT, encoding="utf-8").read().splitlines() if line.strip()]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines + planted) + "\n")


# ---------------------------------------------------------------------------- children (one process each)

def _usage() -> dict:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_seconds": u.ru_utime + u.ru_stime, "max_rss_mb": u.ru_maxrss / 1024}


def child(kind: str, corpus: str, eval_path: str, result: str) -> None:
    from cleancrawl.pipelines.overlap import OverlapConfig, overlap_local, run_overlap

    before = _usage()["cpu_seconds"]  # imports are not the scan's
    start = time.perf_counter()
    if kind in ("beam", "local"):
        config = OverlapConfig(corpus=corpus, evals=[f"held={eval_path}"], ngram=8)
        report = (run_overlap if kind == "beam" else overlap_local)(config)
        documents, extra = report["corpus"]["documents"], {"evals": report["evals"]}
    else:  # the decontaminate stage's work: index, then every document through Decontaminator
        from cleancrawl import layout, storage
        from cleancrawl.corpus.ngrams import Decontaminator
        from cleancrawl.corpus.record import Document
        from cleancrawl.pipelines.overlap import build_index

        stage = Decontaminator(build_index([f"held={eval_path}"], 13))
        documents = removed = 0
        for batch in storage.iter_batches(layout.list_shards(corpus, split=None), ["url", "text"]):
            for url, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                documents += 1
                removed += stage.match(Document(url, url, "", text)) is not None
        extra = {"removed": removed, "index_ngrams": len(stage.index), "index_mb": stage.index.memory_bytes() / 2**20}
    usage = _usage()
    with open(result, "w") as f:
        json.dump({"seconds": time.perf_counter() - start, "documents": documents,
                   "cpu_seconds": usage["cpu_seconds"] - before, "max_rss_mb": usage["max_rss_mb"], **extra}, f)


def run_child(kind: str, corpus: str, eval_path: str) -> dict:
    result = os.path.join(OUT_DIR, f"result-{kind}.json")
    subprocess.run([sys.executable, __file__, "--child", kind, corpus, eval_path, result], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.load(open(result))


def run_datatrove(corpus: str, eval_path: str) -> dict | None:
    if not os.path.exists(PEERS_PYTHON):
        return None
    work = os.path.join(OUT_DIR, "datatrove")
    proc = subprocess.run([PEERS_PYTHON, DATATROVE_RUNNER, corpus, eval_path, work, "--ngram", "13"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return None
    result = json.load(open(os.path.join(work, "result.json")))
    result["removed"] = len(result["removed"])
    return result


# ---------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", default="4,16", help="corpus sizes, in copies of the 323 sample pages")
    parser.add_argument("--no-datatrove", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    eval_path = os.path.join(OUT_DIR, "eval.txt")
    write_eval(eval_path)
    rows, report = [], {"eval": "WikiText-2 validation + 10 planted passages", "sizes": {}}
    for copies in [int(c) for c in args.copies.split(",")]:
        corpus = os.path.join(OUT_DIR, f"corpus-x{copies}")
        import shutil

        shutil.rmtree(corpus, ignore_errors=True)
        documents = write_corpus(corpus, copies)
        size_mb = sum(os.path.getsize(os.path.join(corpus, n)) for n in os.listdir(corpus)) / 2**20
        results = {"overlap (Beam)": run_child("beam", corpus, eval_path),
                   "overlap (local)": run_child("local", corpus, eval_path),
                   "decontaminate": run_child("decont", corpus, eval_path)}
        if not args.no_datatrove:
            results["datatrove"] = run_datatrove(corpus, eval_path)
        report["sizes"][documents] = {"parquet_mb": size_mb, **results}
        for name, r in results.items():
            if r is None:
                rows.append((f"{documents:,}", name, "not installed", "", "", ""))
                continue
            rate = r["documents"] / r["cpu_seconds"] if r["cpu_seconds"] else 0.0
            note = (f"{r['evals']['held']['percent']:.2f}% of 8-grams" if "evals" in r
                    else f"{r['removed']} removed")
            rows.append((f"{documents:,}", name, f"{r['seconds']:.1f}", f"{rate:,.0f}", f"{r['max_rss_mb']:.0f}", note))
    header = ("documents", "method", "wall s", "docs/s/core", "peak RSS MB", "result")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    with open(os.path.join(ROOT, "bench", "out", "overlap.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
