"""mC4 speed: CLD3 as TFDS calls it vs corpus.cld3_langid, and every mC4 stage in pages per CPU-second.

    .venv/bin/python bench/bench_mc4.py [--rounds 3] [--copies 4] [--json bench/out/mc4.json]

Pages: the 323 real pages of the bundled WET sample and 134 UDHR translations (tests/data/mc4,
many scripts), the UDHR ones also three times over (pages longer than the 10,000 bytes CLD3
reads) — `--copies` times over, each copy at its own URLs. All single-threaded in this process;
pages/s per core is pages over *process CPU time* (other load on a shared machine does not
distort it); the best of `--rounds` counts.

  cld3 (TFDS)   gcld3.NNetLanguageIdentifier(100, 10000).FindLanguage(page.text) under a lock,
                the whole text passed (TFDS `c4_utils.detect_languages`)
  cld3 (ours)   corpus.cld3_langid.Cld3Identifier.detect: only the 10,000 bytes CLD3 reads
  stages        paragraph_filter, dedup (c4-lines, in memory), cld3_langid, badwords (0.999),
                and the whole `mc4_in_memory` chain
Every CLD3 answer of ours is compared with TFDS's call and mismatches are printed (must be 0).

Then (`--build-pages N`, 0 for none) the whole Beam build, DirectRunner, one worker, in this process:
`--recipe mc4` beside `--recipe c4` (English C4, today's default) on the same crawl — the sample's
pages replicated onto other hosts (bench/scale_data.py) — in pages per CPU-second of the build.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import threading
import time

from common import ROOT, cpu_best, sample_records

from cleancrawl.corpus.badwords import BadwordsFilter
from cleancrawl.corpus.cld3_langid import Cld3Identifier, Cld3LanguageFilter
from cleancrawl.corpus.dedup import document_key
from cleancrawl.corpus.dedup.lines import dedup_lines_in_memory
from cleancrawl.corpus.mc4 import BADWORDS_FILTER_FRACTION, mc4_in_memory
from cleancrawl.corpus.paragraph_filter import ParagraphFilter
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.urls import normalize_url

UDHR = os.path.join(ROOT, "tests", "data", "mc4", "udhr.jsonl.gz")


def pages(copies: int) -> list[Document]:
    texts = [(url, payload.decode("utf-8", "replace")) for url, _, payload in sample_records()]
    with gzip.open(UDHR, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    texts += [(f"https://udhr.example/{r['bcp47']}", r["text"]) for r in records]
    texts += [(f"https://udhr.example/{r['bcp47']}/x3", "\n".join([r["text"]] * 3)) for r in records]
    docs = []
    for copy in range(copies):
        for url, text in texts:
            url = f"{url}?copy={copy}" if copy else url
            docs.append(Document(url=url, normalized_url=normalize_url(url), timestamp="2024-05-18T00:00:00Z",
                                 text=text, source_file="bench", source_offset=len(docs)))
    return docs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--json", default="")
    parser.add_argument("--build-pages", type=int, default=3000)
    args = parser.parse_args()
    docs = pages(args.copies)
    texts = [d.text for d in docs]
    n = len(docs)
    mean_bytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / n
    print(f"{n} pages, mean {mean_bytes:,.0f} UTF-8 bytes, "
          f"{sum(len(t.encode('utf-8', 'surrogatepass')) > 10_000 for t in texts)} over 10,000 bytes")

    import gcld3

    lock = threading.Lock()
    tfds_detector = gcld3.NNetLanguageIdentifier(min_num_bytes=100, max_num_bytes=10000)
    ours = Cld3Identifier()
    ours.detector  # noqa: B018  (made before timing, as TFDS's start_bundle does)

    def tfds_call(texts):
        out = []
        for text in texts:
            with lock:
                r = tfds_detector.FindLanguage(text)
            out.append((r.language, r.probability, r.is_reliable, r.proportion))
        return out

    def our_call(texts):
        out = []
        for text in texts:
            r = ours.find_language(text)
            out.append((r.language, r.probability, r.is_reliable, r.proportion))
        return out

    def fresh():
        """New str objects, as a reader makes them: CPython caches a str's UTF-8 form once asked
        for it, which would spare the whole-text call its encoding after the first round."""
        return [t.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass") for t in texts]

    # pages the reference cannot take (lone surrogates: TFDS's reader never makes them) are left out
    refusable = [t for t in texts if t != t.encode("utf-8", "replace").decode("utf-8")]
    mismatches = sum(a != b for a, b in zip(tfds_call(fresh()), our_call(fresh()))) if not refusable else -1
    results = {"pages": n, "mean_bytes": round(mean_bytes), "cld3_mismatches": mismatches}
    best = {"cld3 (TFDS call)": float("inf"), "cld3 (ours)": float("inf")}
    for i in range(args.rounds * 2):  # alternate which goes first
        order = [("cld3 (TFDS call)", tfds_call), ("cld3 (ours)", our_call)]
        for name, fn in (order if i % 2 == 0 else order[::-1]):
            batch = fresh()
            start = time.process_time()
            fn(batch)
            best[name] = min(best[name], time.process_time() - start)
    for name, seconds in best.items():
        results[name] = {"cpu_s": round(seconds, 4), "us_per_page": round(seconds / n * 1e6, 1),
                         "pages_per_cpu_s": round(n / seconds)}

    paragraph, cld3 = ParagraphFilter(), Cld3LanguageFilter()
    badwords = BadwordsFilter("", BADWORDS_FILTER_FRACTION)
    labelled = [cld3(d) for d in docs]
    labelled = [d for d in labelled if isinstance(d, Document)]
    stages = {
        "paragraph_filter": (lambda: [paragraph(d) for d in docs], n),
        "dedup c4-lines (in memory)": (
            lambda: dedup_lines_in_memory([(document_key(d), d.text) for d in docs], min_sentences=0), n),
        "cld3_langid": (lambda: [cld3(d) for d in docs], n),
        "badwords (0.999)": (lambda: [badwords(d) for d in labelled], len(labelled)),
        "mc4_in_memory (all stages)": (lambda: mc4_in_memory(docs), n),
    }
    for name, (fn, count) in stages.items():
        seconds = cpu_best(fn, args.rounds)
        results[name] = {"cpu_s": round(seconds, 4), "pages_per_cpu_s": round(count / seconds)}

    if args.build_pages:
        results["builds"] = builds(args.build_pages)
    print(f"CLD3 answers differing from TFDS's call: {mismatches}")
    for name, value in results.items():
        if name == "builds":
            for recipe_name, b in value.items():
                print(f"  build --recipe {recipe_name:<15} {b['pages_per_cpu_s']:>9,} pages/CPU-s  "
                      f"({b['pages']:,} pages, {b['kept']:,} kept, {b['cpu_s']:.1f} CPU-s, Beam, one worker)")
        elif isinstance(value, dict):
            extra = f"  {value['us_per_page']:>7} us/page" if "us_per_page" in value else ""
            print(f"  {name:<30} {value['pages_per_cpu_s']:>9,} pages/CPU-s{extra}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


def builds(n_pages: int) -> dict:
    """The whole build with --recipe c4 and with --recipe mc4 on the same replicated crawl."""
    import resource
    import tempfile

    from scale_data import write_scaled_crawl

    from cleancrawl import options
    from cleancrawl.pipelines.build import run_build
    from cleancrawl.pipelines.config import BuildConfig, recipe_values

    def cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    work = tempfile.mkdtemp(prefix="bench-mc4-")
    manifest = write_scaled_crawl(os.path.join(work, "data"), n_pages, pages_per_file=max(1, n_pages // 4))
    out = {}
    for name in ("c4", "mc4"):
        config = options.from_dict(BuildConfig, {**recipe_values(name), "inputs": [manifest["input_dir"]],
                                                 "output": os.path.join(work, name)}, f"--recipe {name}")
        start = cpu()
        stats = run_build(config)
        seconds = cpu() - start
        out[name] = {"pages": stats["totals"]["read"], "kept": stats["totals"]["kept"], "cpu_s": round(seconds, 2),
                     "pages_per_cpu_s": round(stats["totals"]["read"] / seconds)}
    return out


if __name__ == "__main__":
    main()
