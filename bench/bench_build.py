"""Benchmark of the build's WET path, side by side with the reference C4 code and datatrove.

    .venv/bin/python bench/bench_build.py [--copies 3] [--skip-peers] [--skip-beam]

On the same documents (the 323 real sample pages, replicated with distinct URLs), in one run:
  1. fidelity: cleancrawl's clean / language ID / badwords decisions against the reference
     TFDS `c4_utils` functions themselves (see bench/reference_c4.py): pages kept, text kept;
  2. the line/page filter stage: cleancrawl vs reference `clean_page` vs datatrove
     `C4QualityFilter` (in bench/.venv-peers, C4 thresholds), pages/s on one core and ratios;
  3. language ID: cleancrawl vs langdetect as C4 calls it;
  4. the whole WET path (read → clean → language ID → badwords → write) per stage, one core,
     pure functions — the share of time in each stage; and the WARC path (read → extract → …)
     on 40 real HTML pages;
  5. the whole path through Beam's DirectRunner with 1 and 2 workers (wall time, startup
     included, and the marginal rate that excludes fixed start-up costs).
Figures go to stdout and bench/out/bench_build.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from common import OUT_DIR, ROOT, Timer, write_replicated_wet

from cleancrawl.corpus.badwords import BadwordsFilter, load_badwords, reference_pattern
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.langid import reference_detect
from cleancrawl.corpus.language_filter import LanguageFilter
from cleancrawl.corpus.readers import ReaderConfig, read_local_file
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.sentences import NLTK_DATA_DIR, punkt_tokenizer
from cleancrawl.pipelines.write import encode_table

PEERS_PYTHON = os.path.join(ROOT, "bench", ".venv-peers", "bin", "python")


def read_documents(paths):
    docs = []
    with Timer() as t:
        for path in paths:
            docs += [d for d in read_local_file(path) if isinstance(d, Document)]
    return docs, t.seconds


def fidelity_and_clean_speed(docs, ref, results):
    print("\n== 1-2. C4 line/page filters: fidelity and speed (one core) ==")
    cleaner = C4Cleaner()
    with Timer() as ours_t:
        ours = {d.url: cleaner.clean_text(d.text)[0] for d in docs}
    ours_kept = {u: t for u, t in ours.items() if t is not None}
    row = {"pages": len(docs), "cleancrawl_pages_per_s": len(docs) / ours_t.seconds, "kept": len(ours_kept)}
    if ref is not None:
        citation = ref.get_clean_page_fn().keywords["citation_regex"]
        quiet = lambda *a, **k: None  # noqa: E731
        with Timer() as ref_t:
            reference = {}
            for d in docs:
                out = list(ref.clean_page(ref.PageFeatures(url=d.url, text=d.text), citation_regex=citation,
                                          counter_inc_fn=quiet))
                reference[d.url] = out[0].text if out else None
        mismatches = [u for u in ours if ours[u] != reference[u]]
        row.update(reference_pages_per_s=len(docs) / ref_t.seconds, mismatches_vs_reference=len(mismatches),
                   speedup_vs_reference=ref_t.seconds / ours_t.seconds)
        print(f"reference clean_page : {len(docs) / ref_t.seconds:8.0f} pages/s")
        print(f"same decision and text as the reference on {len(docs) - len(mismatches)}/{len(docs)} pages")
    print(f"cleancrawl C4Cleaner : {len(docs) / ours_t.seconds:8.0f} pages/s   kept {len(ours_kept)}")
    results["clean"] = row
    return ours_kept


def datatrove_clean(paths, ours_kept, results):
    if not os.path.exists(PEERS_PYTHON):
        print("datatrove: bench/.venv-peers missing (python3 -m venv bench/.venv-peers && "
              "bench/.venv-peers/bin/pip install datatrove nltk warcio): skipped")
        return
    kept_json = os.path.join(tempfile.mkdtemp(), "datatrove_kept.json")
    out = subprocess.run([PEERS_PYTHON, os.path.join(ROOT, "bench", "peers", "datatrove_c4.py"), NLTK_DATA_DIR,
                          kept_json, *paths], capture_output=True, text=True)
    if out.returncode != 0:
        print("datatrove failed:", out.stderr.strip().splitlines()[-1:])
        return
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    ratio = results["clean"]["cleancrawl_pages_per_s"] / peer["pages_per_s"]
    with open(kept_json) as f:
        theirs = json.load(f)
    differ = sum(theirs.get(url) != text for url, text in ours_kept.items()) + len(set(theirs) - set(ours_kept))
    print(f"datatrove C4Quality  : {peer['pages_per_s']:8.0f} pages/s   kept {peer['kept']}; "
          f"differs from C4 on {differ} pages (it also accepts lines ending in a single quote)")
    print(f"ratio cleancrawl / datatrove: {ratio:.1f}x")
    results["clean"].update(datatrove_pages_per_s=peer["pages_per_s"], ratio_vs_datatrove=ratio,
                            datatrove_pages_differing=differ)


def language_and_badwords(cleaned: dict, ref, results):
    print("\n== 3. language ID and badwords on the cleaned pages (one core) ==")
    texts = list(cleaned.items())
    identifier = LanguageFilter().identifier
    with Timer() as ours_t:
        ours = {u: identifier.detect(t) for u, t in texts}
    with Timer() as ref_t:
        reference = {u: reference_detect(t) for u, t in texts}
    same = sum(ours[u] == reference[u] for u, _ in texts)
    print(f"langdetect (as C4)   : {len(texts) / ref_t.seconds:8.0f} pages/s")
    print(f"cleancrawl langid    : {len(texts) / ours_t.seconds:8.0f} pages/s   "
          f"({ref_t.seconds / ours_t.seconds:.1f}x), identical result on {same}/{len(texts)}")
    results["langid"] = {"pages": len(texts), "cleancrawl_pages_per_s": len(texts) / ours_t.seconds,
                         "langdetect_pages_per_s": len(texts) / ref_t.seconds, "identical": same,
                         "speedup": ref_t.seconds / ours_t.seconds}
    if ref is not None:
        # The reference's own detect_english, for the keep/drop decision.
        decisions = sum(bool(list(ref.detect_english(ref.PageFeatures(url=u, text=t)))) ==
                        (ours[u].language == "en" and ours[u].probability >= 0.99 and not ours[u].error)
                        for u, t in texts)
        print(f"keep/drop as the reference detect_english on {decisions}/{len(texts)}")
        results["langid"]["same_decision_as_reference"] = decisions
    english = [(u, t) for u, t in texts if ours[u].language == "en" and ours[u].probability >= 0.99]
    badwords = BadwordsFilter()
    pattern = reference_pattern(sorted(load_badwords("en")), "en")
    with Timer() as ours_b:
        flagged = [badwords.has_badword(t, "en") for _, t in english]
    with Timer() as ref_b:
        flagged_ref = [bool(pattern.search(t.lower())) for _, t in english]
    print(f"badwords reference regex {len(english) / ref_b.seconds:8.0f} pages/s, "
          f"cleancrawl {len(english) / ours_b.seconds:8.0f} pages/s, same decisions: {flagged == flagged_ref}")
    results["badwords"] = {"pages": len(english), "same_decisions": flagged == flagged_ref,
                           "cleancrawl_pages_per_s": len(english) / ours_b.seconds,
                           "reference_pages_per_s": len(english) / ref_b.seconds}


def run_stages_timed(docs, timings: dict):
    """clean → langid → badwords → Parquet encoding, timed into `timings`; prints the shares."""
    current = docs
    for name, stage in [("clean", C4Cleaner()), ("langid", LanguageFilter()), ("badwords", BadwordsFilter())]:
        with Timer() as t:
            out = [stage(d) for d in current]
        timings[name] = t.seconds
        current = [d for d in out if isinstance(d, Document)]
    with Timer() as t:
        encode_table(current)
    timings["write"] = t.seconds
    total = sum(timings.values())
    for name, seconds in timings.items():
        print(f"{name:<9} {seconds:6.3f} s  {100 * seconds / total:5.1f}%")
    return current, total


def stage_shares(paths, results):
    print("\n== 4. the WET path per stage, pure functions, one core ==")
    docs, read_s = read_documents(paths)
    timings = {"read": read_s}
    current, total = run_stages_timed(docs, timings)
    print(f"whole path: {len(docs) / total:.0f} pages/s on one core ({len(docs)} pages, {len(current)} kept)")
    results["stages"] = {"pages": len(docs), "seconds": timings, "pages_per_s": len(docs) / total}


def warc_path(results):
    """The WARC path: HTML extraction (trafilatura) in place of WET text, on 40 real pages."""
    print("\n== 4b. the WARC path per stage (40 real HTML pages, one core) ==")
    from cleancrawl.corpus.extract import HtmlExtractor

    class TimedExtractor(HtmlExtractor):
        seconds = 0.0
        html_chars = 0

        def extract(self, html, url=""):
            TimedExtractor.html_chars += len(html)
            start = time.perf_counter()
            try:
                return super().extract(html, url)
            finally:
                TimedExtractor.seconds += time.perf_counter() - start

    path = os.path.join(ROOT, "tests", "data", "pages-40.warc.gz")
    with Timer() as reader_t:  # WARC + HTTP parsing, charset decoding, extraction
        docs = [d for d in read_local_file(path, extractor=TimedExtractor()) if isinstance(d, Document)]
    extract_t = Timer()
    extract_t.seconds = TimedExtractor.seconds
    read_t = Timer()
    read_t.seconds = reader_t.seconds - extract_t.seconds
    pages = docs
    timings = {"read": read_t.seconds, "extract": extract_t.seconds}
    _, total = run_stages_timed(docs, timings)
    html_kb = TimedExtractor.html_chars / len(pages) / 1000
    print(f"whole WARC path: {len(pages) / total:.0f} pages/s on one core ({html_kb:.0f} K characters of HTML a page); "
          f"trafilatura alone {len(pages) / extract_t.seconds:.0f} pages/s")
    results["warc_stages"] = {"pages": len(pages), "seconds": timings, "pages_per_s": len(pages) / total}

    # The extraction modes side by side on the same pages (--extraction).
    modes = {}
    for mode in ("full", "fast", "precision"):
        with Timer() as t:
            texts = {d.url: d.text for d in read_local_file(path, ReaderConfig(extraction=mode))
                     if isinstance(d, Document)}
        modes[mode] = {"pages_per_s": len(texts) / t.seconds, "text_chars": sum(map(len, texts.values())),
                       "texts": texts}
    for mode, row in modes.items():
        same = sum(row["texts"].get(url) == text for url, text in modes["full"]["texts"].items())
        print(f"  --extraction {mode:<9}: {row['pages_per_s']:5.1f} pages/s read+extract "
              f"({row['pages_per_s'] / modes['full']['pages_per_s']:.2f}x full), "
              f"{row['text_chars'] / modes['full']['text_chars']:.3f} of full's text, "
              f"same text on {same}/{len(modes['full']['texts'])}")
        results.setdefault("extraction_modes", {})[mode] = ({k: v for k, v in row.items() if k != "texts"}
                                                            | {"same_as_full": same})


def beam_runs(small_paths, large_paths, n_small, n_large, results):
    print("\n== 5. the whole build on Beam's DirectRunner (wall time, process start included) ==")
    variants = [("WET path (read, URL dedup, clean, langid, badwords, write)", ["--dedup", "none"]),
                # The replicas share every line with the original, so C4 line dedup empties them
                # before language ID: faster than on a real crawl, where few pages are copies.
                ("default build (+ dedup c4-lines,minhash; replicas are removed as duplicates)", [])]
    modes = [(1, []), (2, ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])]
    results["beam"] = {}
    for name, variant in variants:
        print(name)
        rows = {}
        for workers, extra in modes:
            walls = {}
            for label, paths in [("small", small_paths), ("large", large_paths)]:
                with tempfile.TemporaryDirectory() as out:
                    cmd = [sys.executable, "-m", "cleancrawl", "build", "--output", out, "--overwrite", *variant]
                    for p in paths:
                        cmd += ["--input", p]
                    start = time.perf_counter()
                    subprocess.run(cmd + extra, check=True, capture_output=True, cwd=ROOT)
                    walls[label] = time.perf_counter() - start
            # Fixed costs (imports, Punkt, language profiles, worker start-up) cancel out here.
            marginal = (n_large - n_small) / max(1e-9, walls["large"] - walls["small"])
            rows[workers] = {"wall_s": walls["large"], "pages": n_large, "pages_per_s": n_large / walls["large"],
                             "marginal_pages_per_s": marginal}
            print(f"  {workers} worker(s): {n_large} pages in {walls['large']:.1f} s = "
                  f"{n_large / walls['large']:.0f} pages/s "
                  f"({n_large / walls['large'] / workers:.0f} per core); without fixed start-up costs "
                  f"{marginal:.0f} pages/s ({marginal / workers:.0f} per core)")
        print(f"  1 → 2 workers: {rows[2]['pages_per_s'] / rows[1]['pages_per_s']:.2f}x wall, "
              f"{rows[2]['marginal_pages_per_s'] / rows[1]['marginal_pages_per_s']:.2f}x without start-up")
        results["beam"][name] = rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3, help="replicas of the 323 sample pages (default 3 → 969)")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--skip-beam", action="store_true")
    args = parser.parse_args()

    punkt_tokenizer()  # load once, outside the timings
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_replicated_wet(os.path.join(tmp, "crawl"), copies=args.copies, files=4)
        docs, _ = read_documents(paths)
        print(f"{len(docs)} real pages ({sum(len(d.text) for d in docs) / len(docs) / 1000:.1f} K chars of WET text "
              f"on average)")
        ref = None
        if not args.skip_peers:
            from reference_c4 import load_reference_c4_utils

            ref = load_reference_c4_utils()
            if ref is None:
                print("reference c4_utils unavailable (pip download tensorflow-datasets failed): skipped")
        cleaned = fidelity_and_clean_speed(docs, ref, results)
        if not args.skip_peers:
            datatrove_clean(paths, cleaned, results)
        language_and_badwords(cleaned, ref, results)
        stage_shares(paths, results)
        warc_path(results)
        if not args.skip_beam:
            large = write_replicated_wet(os.path.join(tmp, "large"), copies=args.copies * 6, files=8)
            beam_runs(paths, large, len(docs), len(docs) * 6, results)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "bench_build.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {os.path.join(OUT_DIR, 'bench_build.json')}")


if __name__ == "__main__":
    main()
