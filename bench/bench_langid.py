"""Language ID speed: langdetect (as C4 calls it) vs corpus.langid's two engines, side by side.

    .venv/bin/python bench/bench_langid.py [--rounds 3]

All run in this one process, one after the other in each round, on the same pages C4's clean
stage keeps from the bundled WET sample (316 of 323 pages); the best round of each counts.
Pages/s per core is pages over *process CPU time*, so other load on a shared machine does not
distort it (all are single-threaded). corpus.langid has two engines:
  today      the reference path (numpy + Python, `LanguageIdentifier(compiled=False)`)
  compiled   the numba kernels (`LanguageIdentifier()` when numba is installed)
The reference path keeps a per-word n-gram cache, so each engine is timed three ways:
  cold       a fresh identifier, every word new to it (the first pages a worker sees)
  held-out   warmed on the raw text of the other half of the sample, timed on this half
             (a worker some pages into a shard: common words cached, page-specific ones not)
  warm       pages already seen (an upper bound)
The compiled engine has no caches; it is timed the same ways all the same. Every result is
compared with langdetect's, and the mismatch count printed. Set-up (imports, profiles, and for
the compiled engine numba's compile or its on-disk cache) is timed in fresh interpreters, in CPU
seconds too.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from common import ROOT, sample_records

from cleancrawl.corpus import _langdetect_kernel as kernel
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.langid import LanguageIdentifier, reference_detect

MODES = ("cold", "held-out", "warm")
SETUP_SCRIPT = """
import time
from cleancrawl.corpus.langid import LanguageIdentifier
identifier = LanguageIdentifier(compiled={compiled})
print(time.process_time(), identifier.compiled)
"""


def c4_cleaned_pages(raw: list[str]) -> tuple[list[int], list[str]]:
    """The pages C4's clean stage keeps (what language ID sees in the build), with their indices."""
    cleaner = C4Cleaner()
    kept = [(i, cleaner.clean_text(text)[0]) for i, text in enumerate(raw)]
    return [i for i, text in kept if text is not None], [text for _, text in kept if text is not None]


def timed(detect, texts: list[str]) -> tuple[float, list]:
    """(CPU seconds, results) of detect over texts."""
    start = time.process_time()
    results = [detect(text) for text in texts]
    return time.process_time() - start, results


def count_mismatches(expected: list, actual: list) -> int:
    return sum(
        e.language != a.language or e.error != a.error or e.probability.hex() != a.probability.hex()
        for e, a in zip(expected, actual)
    )


def setup_seconds(compiled: bool, numba_cache: str | None = None) -> float:
    """CPU seconds of a fresh interpreter up to a ready LanguageIdentifier (start-up and imports included)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = numba_cache
    script = SETUP_SCRIPT.format(compiled=compiled)
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
    seconds, engine = out.stdout.split()
    assert engine == str(compiled)
    return float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    raw = [payload.decode("utf-8") for _, _, payload in sample_records()]
    source, cleaned = c4_cleaned_pages(raw)  # cleaned[j] comes from raw[source[j]]
    half_a, half_b = list(range(0, len(cleaned), 2)), list(range(1, len(cleaned), 2))
    chars = sum(map(len, cleaned)) / len(cleaned)
    engines = {"today": False}
    if kernel.AVAILABLE:
        engines["compiled"] = True
    else:
        print("numba is not installed: only today's engine is timed")
    print(f"{len(cleaned)} C4-cleaned sample pages, {chars:,.0f} characters on average; "
          f"best of {args.rounds} rounds; pages/s per core = pages / process CPU time")

    print("\nset-up, once per process or worker: CPU seconds of a fresh interpreter up to a ready identifier")
    print(f"  today (reference path)            {setup_seconds(False):5.2f} s")
    if kernel.AVAILABLE:
        with tempfile.TemporaryDirectory() as cache:
            print(f"  compiled, numba cache empty       {setup_seconds(True, cache):5.2f} s  (compiles the kernels)")
            print(f"  compiled, numba cache filled      {setup_seconds(True, cache):5.2f} s")

    best = {(engine, mode): float("inf") for engine in engines for mode in MODES}
    best["langdetect"] = float("inf")
    mismatched = dict.fromkeys(engines, 0)
    for _ in range(args.rounds):
        seconds, expected = timed(reference_detect, cleaned)
        best["langdetect"] = min(best["langdetect"], seconds)
        for engine, compiled in engines.items():
            cold = LanguageIdentifier(compiled=compiled)
            seconds, actual = timed(cold.detect, cleaned)
            best[engine, "cold"] = min(best[engine, "cold"], seconds)
            mismatched[engine] += count_mismatches(expected, actual)

            held_out_seconds = 0.0
            for warm_on, time_on in ((half_a, half_b), (half_b, half_a)):
                identifier = LanguageIdentifier(compiled=compiled)
                for j in warm_on:
                    identifier.detect(raw[source[j]])
                seconds, actual = timed(identifier.detect, [cleaned[i] for i in time_on])
                held_out_seconds += seconds
                mismatched[engine] += count_mismatches([expected[i] for i in time_on], actual)
            best[engine, "held-out"] = min(best[engine, "held-out"], held_out_seconds)

            seconds, actual = timed(cold.detect, cleaned)  # second pass: every word cached
            best[engine, "warm"] = min(best[engine, "warm"], seconds)
            mismatched[engine] += count_mismatches(expected, actual)

    def rate(key) -> float:
        return len(cleaned) / best[key]

    print(f"\nlangdetect 1.0.9 (as C4 calls it): {rate('langdetect'):.0f} pages/s/core, "
          f"{1000 / rate('langdetect'):.2f} ms/page\n")
    header = f"{'':10s}"
    for engine in engines:
        header += f"{engine + ': pages/s/core':>24s}{'ms/page':>9s}{'vs langdetect':>15s}"
    print(header + (f"{'compiled / today':>18s}" if "compiled" in engines else ""))
    for mode in MODES:
        line = f"{mode:10s}"
        for engine in engines:
            line += f"{rate((engine, mode)):24.0f}{1000 / rate((engine, mode)):9.3f}"
            line += f"{rate((engine, mode)) / rate('langdetect'):14.1f}x"
        if "compiled" in engines:
            line += f"{rate(('compiled', mode)) / rate(('today', mode)):17.2f}x"
        print(line)
    compared = args.rounds * 3 * len(cleaned)
    for engine in engines:
        print(f"\n{engine}: results compared with langdetect: {compared}, not bit-identical: {mismatched[engine]}",
              end="")
    print()
    return 1 if any(mismatched.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
