"""Deduplication benchmarks: signature speed, MinHash quality, stage speed vs datatrove, memory.

    .venv/bin/python bench/bench_dedup.py                      # every step (~15 min on 2 cores)
    .venv/bin/python bench/bench_dedup.py --steps quality,speed
    .venv/bin/python bench/bench_dedup.py --steps memory --memory-sizes 10000,100000,1000000

Steps (each prints a table; figures are also written to bench/out/dedup.json):

  signatures  signatures/s on one core (CPU time): cleancrawl's batched numpy MinHash against a
              plain datasketch `MinHash.update` loop (and datasketch's `update_batch`), on real
              documents, same 5-word shingles and 112 permutations.
  quality     precision/recall of the MinHash stage on real documents with planted
              near-duplicates (bench/dedup_corpus.py) against exact Jaccard >= threshold:
              verification exact / signature / none, and datatrove's MinhashDedup, at
              thresholds 0.7, 0.8 (14 x 8, the default) and 0.9 (b x r chosen by cleancrawl
              for the threshold; datatrove gets the same b x r).
  speed       the whole near-dedup stage, cleancrawl (Beam DirectRunner, one process) and
              datatrove's 4 stages (LocalPipelineExecutor, one worker), on the same JSONL
              documents and parameters, each in its own process: wall time, CPU time, peak RSS.
  memory      peak RSS of cleancrawl's stage at 10k / 100k / 1M short synthetic documents.

datatrove runs from bench/.venv-peers (python3 -m venv bench/.venv-peers;
bench/.venv-peers/bin/pip install datatrove orjson spacy 'xxhash<3.6'); if it is missing, its
rows say so and the rest still runs.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PEERS_PYTHON = os.path.join(ROOT, "bench", ".venv-peers", "bin", "python")
DATATROVE_RUNNER = os.path.join(ROOT, "bench", "peers", "datatrove_minhash.py")
OUT_DIR = os.path.join(ROOT, "bench", "out")


# ---------------------------------------------------------------------------- documents

def synthetic_documents(chunk: int, size: int = 1000, duplicate_rate: float = 0.1) -> list[dict]:
    """`size` short documents (30-60 words from a 50k-word Zipf-like vocabulary); about
    `duplicate_rate` of them are copies of an earlier one with one word changed."""
    rng = random.Random(chunk)
    docs: list[dict] = []
    for i in range(size):
        k = chunk * size + i
        if docs and rng.random() < duplicate_rate:
            words = rng.choice(docs)["text"].split()
            words[rng.randrange(len(words))] = _word(rng.randrange(50_000))
        else:
            words = [_word(min(int(rng.paretovariate(0.3)) - 1, 49_999)) for _ in range(rng.randint(30, 60))]
        docs.append({"id": f"s{k}", "url": f"https://synthetic.example/{k}", "text": " ".join(words)})
    return docs


def _word(i: int) -> str:  # letters only: digits would all normalise to "0"
    return "".join(chr(97 + (i // 26 ** k) % 26) for k in range(4))


def speed_corpus(copies: int = 15, seed: int = 1) -> list[dict]:
    """Real base documents plus `copies` differently edited variants of each (~10k docs)."""
    from dedup_corpus import KINDS, base_documents, make_variant

    rng = random.Random(seed)
    texts, boilerplate = base_documents()
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha()})
    docs = []
    for i, text in enumerate(texts):
        docs.append({"id": f"b{i}", "url": f"https://base.example/{i}", "text": text})
        for c in range(copies):
            variant = make_variant(text, KINDS[(i + c) % len(KINDS)], rng, vocabulary, boilerplate)
            docs.append({"id": f"v{i}-{c}", "url": f"https://variant.example/{i}/{c}", "text": variant})
    return docs


def write_jsonl(docs: list[dict], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------- child: cleancrawl's stage

def child_ours(args) -> None:
    """Run MinHashDedup on a JSONL file (or synthetic:N) in this process; write result.json."""
    import apache_beam as beam

    from cleancrawl.corpus.dedup import DedupConfig
    from cleancrawl.corpus.record import Document
    from cleancrawl.pipelines.accounting import KEPT
    from cleancrawl.pipelines.dedup import DUPLICATES, MinHashDedup

    config = DedupConfig(methods=("minhash",), bands=args.bands, rows=args.rows, threshold=args.threshold,
                         verify=args.verify)

    def to_document(d: dict) -> Document:
        return Document(url=d["url"], normalized_url=d["url"], timestamp="", text=d["text"], record_id=d["id"],
                        source_file="bench")

    out = args.out
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    with beam.Pipeline(argv=args.beam_args) as p:
        if args.input.startswith("synthetic:"):
            n = int(args.input.split(":")[1])
            docs = (p | "Chunks" >> beam.Create(range(n // 1000))
                    | "Generate" >> beam.FlatMap(synthetic_documents) | "ToDocs" >> beam.Map(to_document))
        else:
            docs = (p | "ReadJsonl" >> beam.io.ReadFromText(args.input)
                    | "ToDocs" >> beam.Map(lambda line: to_document(json.loads(line))))
        result = docs | "MinHash" >> MinHashDedup(config)
        (result[KEPT] | "KeptJson" >> beam.Map(lambda d: json.dumps({"id": d.record_id, "text": d.text}))
         | "WriteKept" >> beam.io.WriteToText(os.path.join(out, "kept"), shard_name_template=""))
        (result[DUPLICATES] | "DupJson" >> beam.Map(json.dumps)
         | "WriteDups" >> beam.io.WriteToText(os.path.join(out, "duplicates"), shard_name_template=""))
    seconds = time.perf_counter() - start
    removed = {}
    with open(os.path.join(out, "duplicates")) as f:
        for line in f:
            r = json.loads(line)
            removed[r["dropped_id"]] = r["kept_id"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                   "max_rss_mb": usage.ru_maxrss / 1024, "removed": removed}, f)


def run_ours(input_path: str, workdir: str, bands=14, rows=8, threshold=0.8, verify="exact", timeout=3600) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "ours", "--input", input_path, "--out", workdir,
           "--bands", str(bands), "--rows", str(rows), "--threshold", str(threshold), "--verify", verify]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"cleancrawl child failed:\n{proc.stderr[-3000:]}")
    result = json.load(open(os.path.join(workdir, "result.json")))
    result["wall_seconds"] = time.perf_counter() - start  # process start-up and imports included
    return result


def run_datatrove(input_path: str, workdir: str, bands=14, rows=8, timeout=3600) -> dict | None:
    if not os.path.exists(PEERS_PYTHON):
        return None
    cmd = ["/usr/bin/time", "-f", "%M %U %S", PEERS_PYTHON, DATATROVE_RUNNER, input_path, workdir,
           "--buckets", str(bands), "--rows", str(rows)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"  datatrove failed: {proc.stderr[-1500:]}")
        return None
    max_kb, user, system = proc.stderr.strip().splitlines()[-1].split()
    result = json.load(open(os.path.join(workdir, "result.json")))
    result.update(wall_seconds=wall, cpu_seconds=float(user) + float(system), max_rss_mb=int(max_kb) / 1024,
                  seconds=sum(result["seconds"].values()))
    return result


# ---------------------------------------------------------------------------- step: signatures

def step_signatures(report: dict) -> None:
    from datasketch import MinHash

    from common import cpu_best
    from dedup_corpus import base_documents

    from cleancrawl.corpus.dedup.minhash import MinHasher, batch_shingles, normalize_text, shingle_hashes

    texts, _ = base_documents(min_words=1)
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    hasher = MinHasher()
    batch_shingles(texts[:4])  # build the character table outside the timing

    def ours_batched():
        for i in range(0, len(texts), 256):
            hasher.batch_band_keys(hasher.batch_signatures(batch_shingles(texts[i:i + 256])))

    def ours_single():
        for t in texts:
            signature = hasher.signature(shingle_hashes(t))
            if signature is not None:
                hasher.band_keys(signature)

    def shingle_strings(text):
        words = normalize_text(text).split()
        return [" ".join(words[i:i + 5]).encode() for i in range(max(1, len(words) - 4))]

    sample = texts
    sample_strings = [shingle_strings(t) for t in sample]

    def datasketch_update():
        for shingles in sample_strings:
            m = MinHash(num_perm=112, seed=1)
            for s in shingles:
                m.update(s)

    def datasketch_batch():
        for shingles in sample_strings:
            m = MinHash(num_perm=112, seed=1)
            m.update_batch(shingles)

    rows = [
        ("cleancrawl batched (shingles+signature+bands)", len(texts), cpu_best(ours_batched)),
        ("cleancrawl one doc at a time", len(texts), cpu_best(ours_single)),
        ("datasketch MinHash.update loop (signature only)", len(sample), cpu_best(datasketch_update, 1)),
        ("datasketch MinHash.update_batch (signature only)", len(sample), cpu_best(datasketch_batch, 1)),
    ]
    base = rows[2][1] / rows[2][2]
    print(f"\n== signatures/s, one core (CPU time), {len(texts)} real documents, {megabytes:.1f} MB, "
          f"5-word shingles, 112 permutations")
    print(f"{'method':<52}{'docs':>7}{'CPU s':>9}{'docs/s':>10}{'vs update loop':>16}")
    for name, n, seconds in rows:
        print(f"{name:<52}{n:>7}{seconds:>9.2f}{n / seconds:>10.0f}{(n / seconds) / base:>15.1f}x")
    print("  (datasketch rows exclude shingling: shingle strings are built before the timing)")
    report["signatures"] = {name: {"docs": n, "cpu_seconds": s, "docs_per_second": n / s} for name, n, s in rows}
    report["signatures"]["megabytes"] = megabytes


# ---------------------------------------------------------------------------- step: quality

def clusters_from_removed(removed: dict, ids: list[str]) -> dict:
    """doc id -> cluster id (its survivor's id, or itself)."""
    return {i: removed.get(i, i) for i in ids}


def pair_metrics(cluster: dict, labelled, truth_pairs: dict, threshold: float) -> dict:
    tp = fp = fn = 0
    for a, b, similarity, _ in labelled:
        same = cluster[a] == cluster[b]
        if similarity >= threshold:
            tp += same
            fn += not same
        else:
            fp += same
    members: dict = {}
    for doc, c in cluster.items():
        members.setdefault(c, []).append(doc)
    predicted = {tuple(sorted((x, y))) for group in members.values() if len(group) > 1
                 for i, x in enumerate(group) for y in group[i + 1:]}
    true_all = {p for p, s in truth_pairs.items() if s >= threshold}
    hits = len(predicted & true_all)
    return {
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "tp": tp, "fp": fp, "fn": fn,
        "all_pairs_precision": hits / len(predicted) if predicted else 1.0,
        "all_pairs_recall": hits / len(true_all) if true_all else 1.0,
        "removed": sum(1 for d, c in cluster.items() if d != c),
    }


def detection_by_bin(cluster: dict, labelled) -> dict:
    bins = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.01]
    out = {}
    for lo, hi in zip(bins, bins[1:]):
        pairs = [(a, b) for a, b, s, _ in labelled if lo <= s < hi]
        if pairs:
            out[f"{lo:.2f}-{min(hi, 1.0):.2f}"] = (sum(cluster[a] == cluster[b] for a, b in pairs) / len(pairs),
                                                   len(pairs))
    return out


def step_quality(report: dict, workdir: str) -> None:
    from dedup_corpus import all_similar_pairs, labelled_corpus

    from cleancrawl.corpus.dedup.minhash import optimal_bands

    corpus = labelled_corpus()
    ids = [d["id"] for d in corpus.docs]
    path = os.path.join(workdir, "labelled.jsonl")
    write_jsonl(corpus.docs, path)
    truth = all_similar_pairs(corpus.docs, 0.5)
    n_true = {t: sum(1 for _, _, s, _ in corpus.pairs if s >= t) for t in (0.7, 0.8, 0.9)}
    print(f"\n== quality: {len(corpus.docs)} real documents, {len(corpus.pairs)} labelled (base, variant) pairs; "
          f"pairs with J >= 0.7 / 0.8 / 0.9: {n_true[0.7]} / {n_true[0.8]} / {n_true[0.9]}")
    print(f"{'threshold':>9} {'b x r':>7} {'method':<22}{'precision':>10}{'recall':>8}{'FP':>5}{'FN':>5}"
          f"{'all-pairs P':>13}{'all-pairs R':>13}")
    results, bins = [], {}
    for threshold in (0.7, 0.8, 0.9):
        bands, rows = (14, 8) if threshold == 0.8 else optimal_bands(threshold, 112, verified=True)
        runs = [(f"cleancrawl {v}", lambda v=v: run_ours(path, os.path.join(workdir, f"q-{threshold}-{v}"),
                                                          bands, rows, threshold, v))
                for v in ("exact", "signature", "none")]
        runs.append(("datatrove", lambda: run_datatrove(path, os.path.join(workdir, f"q-{threshold}-dt"), bands, rows)))
        for name, run in runs:
            result = run()
            if result is None:
                print(f"{threshold:>9} {bands:>3}x{rows:<3} {name:<22} (not installed)")
                continue
            if name == "datatrove":
                cluster = _datatrove_clusters(result, ids)
            else:
                cluster = clusters_from_removed(result["removed"], ids)
            m = pair_metrics(cluster, corpus.pairs, truth, threshold)
            print(f"{threshold:>9} {bands:>3}x{rows:<3} {name:<22}{m['precision']:>10.3f}{m['recall']:>8.3f}"
                  f"{m['fp']:>5}{m['fn']:>5}{m['all_pairs_precision']:>13.3f}{m['all_pairs_recall']:>13.3f}")
            results.append({"threshold": threshold, "bands": bands, "rows": rows, "method": name, **m})
            if threshold == 0.8:
                bins[name] = detection_by_bin(cluster, corpus.pairs)
    print("\n  fraction of labelled pairs merged, by exact Jaccard (threshold 0.8, 14 x 8):")
    names = list(bins)
    print(f"  {'J':<11}{'pairs':>6}" + "".join(f"{n:>22}" for n in names))
    for key in bins[names[0]]:
        print(f"  {key:<11}{bins[names[0]][key][1]:>6}" + "".join(f"{bins[n][key][0]:>22.2f}" for n in names))
    report["quality"] = {"runs": results, "detection_by_jaccard": bins, "documents": len(corpus.docs),
                         "labelled_pairs": len(corpus.pairs)}


def _datatrove_clusters(result: dict, ids: list[str]) -> dict:
    by_cluster: dict = {}
    for doc, c in result["cluster_of"].items():
        if c != -1:
            by_cluster.setdefault(c, []).append(doc)
    cluster = {i: i for i in ids}
    removed = set(result["removed"])
    for members in by_cluster.values():
        kept = [m for m in members if m not in removed] or members
        for m in members:
            cluster[m] = kept[0]
    return cluster


# ---------------------------------------------------------------------------- step: speed

def step_speed(report: dict, workdir: str, synthetic: int) -> None:
    rows = []
    corpora = [("real docs + edited copies", speed_corpus())]
    if synthetic:
        corpora.append((f"{synthetic // 1000}k short synthetic", [d for c in range(synthetic // 1000)
                                                                  for d in synthetic_documents(c)]))
    print("\n== the whole near-dedup stage, same JSONL documents, 5-grams, 14 x 8, one worker each")
    print(f"{'corpus':<28}{'docs':>8}{'MB':>6} {'system':<28}{'wall s':>8}{'CPU s':>8}{'docs/s':>8}"
          f"{'peak MB':>9}{'removed':>9}")
    for label, docs in corpora:
        path = os.path.join(workdir, f"speed-{len(docs)}.jsonl")
        write_jsonl(docs, path)
        megabytes = os.path.getsize(path) / 1e6
        for name, run in [
            ("cleancrawl (verify exact)", lambda: run_ours(path, os.path.join(workdir, "s-ours"))),
            ("cleancrawl (verify none)", lambda: run_ours(path, os.path.join(workdir, "s-ours-none"), verify="none")),
            ("datatrove MinhashDedup x4", lambda: run_datatrove(path, os.path.join(workdir, "s-dt"))),
        ]:
            result = run()
            if result is None:
                print(f"{label:<28}{len(docs):>8}{megabytes:>6.0f} {name:<28} (not installed)")
                continue
            wall = result["wall_seconds"]
            print(f"{label:<28}{len(docs):>8}{megabytes:>6.0f} {name:<28}{wall:>8.1f}{result['cpu_seconds']:>8.1f}"
                  f"{len(docs) / wall:>8.0f}{result['max_rss_mb']:>9.0f}{len(result['removed']):>9}")
            rows.append({"corpus": label, "docs": len(docs), "system": name, "wall_seconds": wall,
                         "cpu_seconds": result["cpu_seconds"], "max_rss_mb": result["max_rss_mb"],
                         "removed": len(result["removed"])})
    print("  wall: process start to exit (imports, reading, writing the kept documents included)")
    report["speed"] = rows


# ---------------------------------------------------------------------------- step: memory

def step_memory(report: dict, workdir: str, sizes: list[int], timeout: int) -> None:
    print("\n== peak memory of cleancrawl's MinHash stage (DirectRunner, one process), short synthetic docs")
    print(f"{'docs':>9}{'wall s':>9}{'peak RSS MB':>13}{'KB/doc':>9}{'removed':>9}")
    rows = []
    for n in sizes:
        try:
            result = run_ours(f"synthetic:{n}", os.path.join(workdir, f"m-{n}"), timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"{n:>9}  (over {timeout} s: skipped)")
            continue
        rss = result["max_rss_mb"]
        print(f"{n:>9}{result['wall_seconds']:>9.1f}{rss:>13.0f}{rss * 1024 / n:>9.2f}{len(result['removed']):>9}")
        rows.append({"docs": n, "wall_seconds": result["wall_seconds"], "max_rss_mb": rss,
                     "removed": len(result["removed"])})
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        growth = (last["max_rss_mb"] - first["max_rss_mb"]) / (last["docs"] - first["docs"]) * 1024
        print(f"  marginal memory: {growth:.2f} KB per extra document (the documents themselves are ~0.3 KB)")
    report["memory"] = rows


# ---------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", default="signatures,quality,speed,memory")
    parser.add_argument("--speed-synthetic", type=int, default=100_000, help="short synthetic docs in the speed step")
    parser.add_argument("--memory-sizes", default="10000,100000,1000000")
    parser.add_argument("--memory-timeout", type=int, default=1800, help="seconds allowed per memory point")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--bands", type=int, default=14, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=8, help=argparse.SUPPRESS)
    parser.add_argument("--threshold", type=float, default=0.8, help=argparse.SUPPRESS)
    parser.add_argument("--verify", default="exact", help=argparse.SUPPRESS)
    args, beam_args = parser.parse_known_args()
    args.beam_args = beam_args
    if args.child == "ours":
        child_ours(args)
        return
    steps = args.steps.split(",")
    report: dict = {}
    os.makedirs(OUT_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-dedup-") as workdir:
        if "signatures" in steps:
            step_signatures(report)
        if "quality" in steps:
            step_quality(report, workdir)
        if "speed" in steps:
            step_speed(report, workdir, args.speed_synthetic)
        if "memory" in steps:
            step_memory(report, workdir, [int(n) for n in args.memory_sizes.split(",")], args.memory_timeout)
    path = os.path.join(OUT_DIR, "dedup.json")
    previous = json.load(open(path)) if os.path.exists(path) else {}
    previous.update(report)
    with open(path, "w") as f:
        json.dump(previous, f, indent=1)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
