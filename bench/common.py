"""Shared helpers for the benchmarks: real pages, replicated into bench-sized crawls."""
from __future__ import annotations

import io
import os
import sys
import time

from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SAMPLE_WET = os.path.join(ROOT, "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
OUT_DIR = os.path.join(ROOT, "bench", "out")


def sample_records(path: str = SAMPLE_WET) -> list[tuple[str, str, bytes]]:
    """(url, date, payload) of every conversion record of the bundled sample crawl."""
    records = []
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "conversion":
                records.append((record.rec_headers.get_header("WARC-Target-URI"),
                                record.rec_headers.get_header("WARC-Date"),
                                record.content_stream().read()))
    return records


def write_replicated_wet(directory: str, copies: int = 3, files: int = 4) -> list[str]:
    """The 323 real sample pages × `copies` (distinct URLs), spread over `files` WET files."""
    os.makedirs(directory, exist_ok=True)
    records = sample_records()
    paths = [os.path.join(directory, f"crawl-{i:02d}.warc.wet.gz") for i in range(files)]
    writers = []
    handles = [open(p, "wb") for p in paths]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    n = 0
    for copy in range(copies):
        for url, date, payload in records:
            headers = {"WARC-Date": date, "Content-Type": "text/plain"}
            record = writers[n % files].create_warc_record(
                f"{url}#copy{copy}" if copy else url, "conversion",
                payload=io.BytesIO(payload), warc_headers_dict=headers)
            writers[n % files].write_record(record)
            n += 1
    for h in handles:
        h.close()
    return paths


def cpu_best(fn, rounds: int = 3) -> float:
    """The least process CPU time `fn()` takes over `rounds` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


class Timer:
    def __init__(self):
        self.seconds = 0.0

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds += time.perf_counter() - self._start
