"""HTML → text extractors side by side: pages per CPU-second and F1 against reference extractions.

    .venv/bin/python bench/bench_extract.py [--aeb DIR] [--warc PATH] [--repeat N] [--others]

Every `--extraction` mode (cleancrawl.corpus.extract.EXTRACTION_MODES), on the same pages in one run,
each page decoded once by the shared `decode_html` (its cost printed apart, it is the same for every
mode), then timed in this process's CPU time (time.process_time: other sessions on the machine do
not count) over `HtmlExtractor.extract` alone. Two reference sets:

  1. words — the article-extraction-benchmark (Zyte/Scrapinghub, MIT): HTML pages with their
     hand-made article body. Precision/recall over the bag of words (`\\w+` tokens with their counts),
     per page normalised so that long pages weigh no more, then averaged over pages, F1 from the two
     means: that benchmark's `evaluate.py` with 1-word shingles. Its own 4-word shingles are the
     `F1 (4-grams)` column, comparable with the figures in its README. The repo ships 46 of its
     181 pages (tests/data/extraction/article-extraction-benchmark/); --aeb takes a clone of it.
  2. snippets — trafilatura's evaluation (Apache-2.0): for each page, sentences that must be in the
     text and boilerplate that must not; tp/fp/fn summed over pages as its `tests/eval_common.py`
     does. On the 40 pages of tests/data/pages-40.warc.gz, or on all 323 pages behind the sample
     crawl with --warc PATH/pages.warc.gz (references: tests/data/extraction/trafilatura-evaldata.json).

`--others` adds extractors that are no `--extraction` mode, for comparison: trafilatura's
`baseline()`, jusText (its English stop list, as the benchmark runs it) and readability-lxml.
Figures go to stdout and bench/out/bench_extract.json.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter

from warcio.archiveiterator import ArchiveIterator

from common import OUT_DIR, ROOT

from cleancrawl.corpus.extract import EXTRACTION_MODES, HtmlExtractor, decode_html

DATA = os.path.join(ROOT, "tests", "data", "extraction")
AEB_DIR = os.path.join(DATA, "article-extraction-benchmark")
PAGES_WARC = os.path.join(ROOT, "tests", "data", "pages-40.warc.gz")
SNIPPETS = os.path.join(DATA, "trafilatura-evaldata.json")
DEFAULT = "full"   # the build's --extraction default
FAST = "resiliparse"


# ---------------------------------------------------------------- reference sets

def load_aeb(directory: str) -> list[dict]:
    """article-extraction-benchmark layout: ground-truth.json and html/<id>.html.gz."""
    with open(os.path.join(directory, "ground-truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    pages = []
    for key in sorted(truth):
        path = os.path.join(directory, "html", f"{key}.html.gz")
        if not os.path.exists(path):
            continue
        with gzip.open(path, "rb") as f:
            payload = f.read()
        html, _ = decode_html(payload)   # the benchmark serves no HTTP headers: <meta> or a guess
        pages.append({"url": truth[key].get("url", ""), "html": html, "raw": (payload, ""),
                      "reference": truth[key].get("articleBody", "")})
    return pages


def load_snippet_pages(warc: str, references: str) -> list[dict]:
    """WARC `response` records that have a trafilatura evaluation entry, keyed by target URI."""
    with open(references, encoding="utf-8") as f:
        refs = json.load(f)
    pages = []
    with open(warc, "rb") as f:
        for record in ArchiveIterator(f):
            url = record.rec_headers.get_header("WARC-Target-URI")
            if record.rec_type != "response" or url not in refs:
                continue
            content_type = (record.http_headers and record.http_headers.get_header("Content-Type")) or ""
            payload = record.content_stream().read()
            html, _ = decode_html(payload, content_type)
            pages.append({"url": url, "html": html, "raw": (payload, content_type), "with": refs[url]["with"],
                          "without": refs[url]["without"]})
    return pages


# ---------------------------------------------------------------- metrics

_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int) -> Counter:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i:i + n])


def tp_fp_fn(reference: str, prediction: str, n: int) -> tuple[float, float, float]:
    """The benchmark's string_shingle_matching: counts normalised to sum 1 per page."""
    true, pred = shingles(reference, n), shingles(prediction, n)
    tp = sum((true & pred).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(tp, fp, fn):
    return 1.0 if fp == fn == 0 else 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp, fp, fn):
    return 1.0 if fp == fn == 0 else 0.0 if tp == fn == 0 else tp / (tp + fn)


def words_scores(pages: list[dict], texts: list[str], n: int = 1) -> dict:
    """Mean precision and recall over pages (the benchmark's metrics_from_tp_fp_fns), F1 from them."""
    counts = [tp_fp_fn(page["reference"], text, n) for page, text in zip(pages, texts)]
    precision = statistics.mean([_precision(*c) for c in counts if c[0] + c[1] > 0] or [0.0])
    recall = statistics.mean([_recall(*c) for c in counts if c[0] + c[2] > 0] or [0.0])
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def snippet_scores(pages: list[dict], texts: list[str]) -> dict:
    """trafilatura's evaluation: a `with` snippet found is a tp, missed a fn; a `without` found a fp."""
    tp = fp = fn = 0
    for page, text in zip(pages, texts):
        found = _norm(text)
        hits = sum(_norm(s) in found for s in page["with"])
        tp, fn = tp + hits, fn + len(page["with"]) - hits
        fp += sum(_norm(s) in found for s in page["without"])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": precision, "recall": recall, "f1": 2 * tp / (2 * tp + fp + fn)}


# ---------------------------------------------------------------- extractors

def _others() -> dict:
    """Extractors that are no --extraction mode, each `html -> text`, for comparison only."""
    import justext
    import trafilatura

    def baseline(html):
        return trafilatura.baseline(html)[1]

    def jt(html):
        paragraphs = justext.justext(html, justext.get_stoplist("English"))
        return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)

    found = {"trafilatura-baseline": baseline, "justext": jt}
    try:
        from lxml.html import fromstring
        from readability import Document as Readability

        def readability(html):
            summary = Readability(html).summary(html_partial=True)
            return fromstring(summary).text_content() if summary.strip() else ""
        found["readability-lxml"] = readability
    except ImportError:
        pass
    return found


def run(extract, pages: list[dict], repeat: int) -> tuple[list[str], float, int]:
    """(texts, best CPU seconds over `repeat` passes, pages given up on)."""
    best = float("inf")
    for _ in range(repeat):
        texts, failed = [], 0
        start = time.process_time()
        for page in pages:
            try:
                text = extract(page["html"], page["url"])
            except Exception:
                text = None
            failed += text is None
            texts.append(text or "")
        best = min(best, time.process_time() - start)
    return texts, best, failed


def bench(pages: list[dict], extractors: dict, scorer, repeat: int) -> dict:
    results = {}
    for name, extract in extractors.items():
        extract(pages[0]["html"], pages[0]["url"])  # imports and first-call set-up are not timed
        texts, seconds, failed = run(extract, pages, repeat)
        results[name] = {"pages_per_cpu_s": len(pages) / seconds, "cpu_s": seconds, "failed": failed,
                         **scorer(pages, texts)}
        if scorer is words_scores:
            results[name]["f1_4grams"] = words_scores(pages, texts, n=4)["f1"]
        print(f"  {name:<22} {results[name]['pages_per_cpu_s']:8.1f} pages/CPU-s  F1 {results[name]['f1']:.3f}",
              file=sys.stderr, flush=True)
    return results


def decode_rate(raw: list[tuple[bytes, str]]) -> float:
    start = time.process_time()
    for payload, content_type in raw:
        decode_html(payload, content_type)
    return len(raw) / max(time.process_time() - start, 1e-9)


def print_table(title: str, pages: list[dict], results: dict, extra: str = "") -> None:
    mb = sum(len(p["raw"][0]) for p in pages) / 1e6
    print(f"\n{title}: {len(pages)} pages, {mb:.1f} MB of HTML")
    header = f"{'mode':<22} {'pages/CPU-s':>11} {'vs ' + DEFAULT:>8} {'F1':>6} {'precision':>9} {'recall':>6}"
    print(header + (f" {'F1 (4-grams)':>12}" if extra else "") + f" {'failed':>6}")
    base = results[DEFAULT]["pages_per_cpu_s"]
    for name, r in results.items():
        line = (f"{name:<22} {r['pages_per_cpu_s']:11.1f} {r['pages_per_cpu_s'] / base:7.1f}x {r['f1']:6.3f} "
                f"{r['precision']:9.3f} {r['recall']:6.3f}")
        print(line + (f" {r[extra]:12.3f}" if extra else "") + f" {r['failed']:6d}")
    if FAST in results:
        fast, default = results[FAST], results[DEFAULT]
        print(f"{FAST} / {DEFAULT}: {fast['pages_per_cpu_s'] / base:.1f}x pages per CPU-second, "
              f"F1 {fast['f1'] - default['f1']:+.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--aeb", default=AEB_DIR, help="article-extraction-benchmark folder (default: the 46 "
                        "pages in tests/data/extraction; a clone of the benchmark gives all 181)")
    parser.add_argument("--warc", default=PAGES_WARC, help="WARC of trafilatura evaluation pages (default: "
                        "tests/data/pages-40.warc.gz)")
    parser.add_argument("--repeat", type=int, default=1, help="passes per mode; the fastest counts (default 1)")
    parser.add_argument("--modes", default=",".join(EXTRACTION_MODES), help="comma-separated --extraction modes")
    parser.add_argument("--others", action="store_true", help="also extractors that are no --extraction mode")
    args = parser.parse_args(argv)

    extractors = {mode: HtmlExtractor(mode).extract for mode in args.modes.split(",")}
    if args.others:
        extractors.update({name: (lambda f: lambda html, url: f(html))(f) for name, f in _others().items()})
    report = {}

    aeb = load_aeb(args.aeb)
    print(f"words ({args.aeb}):", file=sys.stderr)
    report["words"] = bench(aeb, extractors, words_scores, args.repeat)
    snippet_pages = load_snippet_pages(args.warc, SNIPPETS)
    print(f"snippets ({args.warc}):", file=sys.stderr)
    report["snippets"] = bench(snippet_pages, extractors, snippet_scores, args.repeat)

    print_table("article-extraction-benchmark, bag-of-words F1 against the article body", aeb,
                report["words"], extra="f1_4grams")
    print_table("trafilatura evaluation pages, snippet F1 (text that must / must not be kept)", snippet_pages,
                report["snippets"])
    rate = decode_rate([p["raw"] for p in aeb + snippet_pages])
    report["decode_html_pages_per_cpu_s"] = rate
    print(f"\ndecode_html, the same for every mode and not in the figures above: {rate:.0f} pages/CPU-s")
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "bench_extract.json"), "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
