"""Language ID speed: langdetect (as C4 calls it) vs corpus.langid, side by side.

    .venv/bin/python bench/bench_langid.py [--rounds 3]

Both run in this one process, one after the other in each round, on the same pages C4's clean
stage keeps from the bundled WET sample (315 of 323 pages); the best round of each counts.
Pages/s per core is pages over *process CPU time*, so other load on a shared machine does not
distort it (both are single-threaded). corpus.langid keeps a per-word n-gram cache, so it is
timed three ways:
  cold       a fresh identifier, every word new to it (the first pages a worker sees)
  held-out   warmed on the raw text of the other half of the sample, timed on this half
             (a worker some pages into a shard: common words cached, page-specific ones not)
  warm       pages already seen (an upper bound)
Every result is also compared with langdetect's, and the mismatch count printed.
"""
from __future__ import annotations

import argparse
import sys
import time

from common import sample_records

from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.langid import LanguageIdentifier, reference_detect


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    raw = [payload.decode("utf-8") for _, _, payload in sample_records()]
    source, cleaned = c4_cleaned_pages(raw)  # cleaned[j] comes from raw[source[j]]
    half_a, half_b = list(range(0, len(cleaned), 2)), list(range(1, len(cleaned), 2))
    chars = sum(map(len, cleaned)) / len(cleaned)
    print(f"{len(cleaned)} C4-cleaned sample pages, {chars:,.0f} characters on average; "
          f"best of {args.rounds} rounds; pages/s per core = pages / process CPU time")

    start = time.perf_counter()
    LanguageIdentifier()
    print(f"LanguageIdentifier() set-up: {time.perf_counter() - start:.2f} s (once per process)\n")

    best = {"langdetect": float("inf"), "cold": float("inf"), "held-out": float("inf"), "warm": float("inf")}
    mismatched = 0
    for _ in range(args.rounds):
        seconds, expected = timed(reference_detect, cleaned)
        best["langdetect"] = min(best["langdetect"], seconds)

        cold = LanguageIdentifier()
        seconds, actual = timed(cold.detect, cleaned)
        best["cold"] = min(best["cold"], seconds)
        mismatched += count_mismatches(expected, actual)

        held_out_seconds = 0.0
        for warm_on, time_on in ((half_a, half_b), (half_b, half_a)):
            identifier = LanguageIdentifier()
            for j in warm_on:
                identifier.detect(raw[source[j]])
            seconds, actual = timed(identifier.detect, [cleaned[i] for i in time_on])
            held_out_seconds += seconds
            mismatched += count_mismatches([expected[i] for i in time_on], actual)
        best["held-out"] = min(best["held-out"], held_out_seconds)

        seconds, actual = timed(cold.detect, cleaned)  # second pass: every word cached
        best["warm"] = min(best["warm"], seconds)
        mismatched += count_mismatches(expected, actual)

    reference_rate = len(cleaned) / best["langdetect"]
    print(f"{'':28s}{'pages/s/core':>14s}{'ms/page':>10s}{'vs langdetect':>15s}")
    print(f"{'langdetect 1.0.9':28s}{reference_rate:14.0f}{1000 / reference_rate:10.2f}{'1.00x':>15s}")
    for mode in ("cold", "held-out", "warm"):
        rate = len(cleaned) / best[mode]
        print(f"{'corpus.langid, ' + mode:28s}{rate:14.0f}{1000 / rate:10.2f}{rate / reference_rate:14.2f}x")
    compared = args.rounds * 3 * len(cleaned)
    print(f"\nresults compared with langdetect: {compared}, not bit-identical: {mismatched}")
    return 1 if mismatched else 0


if __name__ == "__main__":
    sys.exit(main())
