"""Bench-sized crawls for bench_scale.py: the 323 real sample pages replicated to N pages.

Each replica r (0, 1, 2, ...) of the sample is a copy of its 323 real pages with two changes,
so that the build treats replicas as different pages, as it would treat different pages of a
real crawl:

  * the URL's host gets the prefix `r<r>.` (`https://www.example.com/a` becomes
    `https://r17.www.example.com/a`), so URL dedup does not merge the replicas;
  * every line of the text gets one replica word inserted after its 4th word, and another
    after every further 8 words (never after the last word, so a line's terminal punctuation and
    a short line's word count stay as they were). The replica word is an English-looking token
    built from 6-letter English words (`garden`, `silver`, ...; replica 61 is `silvergarden`),
    the same for every line of a replica and different between replicas. Every line that the C4
    line filter keeps (5 words or more) thus differs between replicas, so C4's repeated-line
    dedup does not empty the copies; and two replicas of a page share fewer than half of their
    5-word shingles (Jaccard below 0.4, far under MinHash's 0.8), so MinHash does not merge them
    either. English words (not random letters) keep language ID's decisions close to the
    original page's. The text grows by about 1/8 of its words.

The duplicate-heavy crawl (`kind="duplicates"`) is the other extreme, where pages recur as in real
snapshots (templates, mirrors, syndicated news): `DUPLICATE_BASES` (667) distinct real pages (the
sample's pages, then its replicas 1 and 2 as above, as many as needed), each copied onto
ceil(N / 667) distinct hosts (`d<copy>.r<replica>.www.example.com`) with the text otherwise
unchanged: 63 copies a page at 42,000 pages, 128 at 85,000 (the last copy round cut at N). Copies
come round by round (every base page, then every base page again, ...), so each cluster is spread
over every file.

Files hold `pages_per_file` pages each (the last one fewer), as gzipped WET files (warcio
`conversion` records, like bench/common.py), so that 2 workers have files to share.
"""
from __future__ import annotations

import glob
import io
import itertools
import json
import os
import re
from urllib.parse import urlsplit, urlunsplit

from warcio.warcwriter import WARCWriter

from common import sample_records

GENERATOR_VERSION = 1
KINDS = ("replicas", "duplicates")
DUPLICATE_BASES = 667
WORDS = ["garden", "silver", "window", "button", "forest", "pencil", "candle", "bridge", "market", "rocket", "saddle",
         "meadow", "harbor", "island", "anchor", "basket", "circle", "copper", "desert", "engine", "falcon", "ginger",
         "hammer", "jacket", "kettle", "ladder", "magnet", "napkin", "orange", "parrot", "pepper", "rabbit", "shovel",
         "tablet", "tunnel", "velvet", "walnut", "yellow", "zipper", "barrel", "castle", "cotton", "dinner", "fabric",
         "goblet", "helmet", "insect", "jungle", "lizard", "mirror", "needle", "oyster", "pillow", "quartz", "ribbon",
         "salmon", "teapot", "violin", "wallet"]
assert all(len(w) == 6 for w in WORDS) and len(set(WORDS)) == len(WORDS)  # equal lengths: tokens are unambiguous
_TOKEN = re.compile(r"\S+")


def replica_word(replica: int) -> str:
    """The word of replica `replica`: its number in base len(WORDS), one word a digit."""
    digits = []
    while True:
        replica, digit = divmod(replica, len(WORDS))
        digits.append(WORDS[digit])
        if replica == 0:
            return "".join(digits)


def vary_line(line: str, word: str, first: int = 4, every: int = 8) -> str:
    """`line` with ` word` inserted after its `first`-th token and every `every` tokens further,
    never after the last token; the line's own spacing is kept."""
    tokens = list(_TOKEN.finditer(line))
    ends = [tokens[i].end() for i in range(first - 1, len(tokens) - 1, every)]
    if not ends:
        return line
    parts, start = [], 0
    for end in ends:
        parts += [line[start:end], " ", word]
        start = end
    parts.append(line[start:])
    return "".join(parts)


def vary_text(text: str, word: str) -> str:
    return "\n".join(vary_line(line, word) for line in text.split("\n"))


def replica_url(url: str, replica: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"r{replica}.{parts.netloc}"))


def replicated_pages(n_pages: int, records=None):
    """(url, date, text bytes) of the first `n_pages` pages of replicas 0, 1, 2, ..."""
    records = records if records is not None else sample_records()
    n = 0
    replica = 0
    while n < n_pages:
        word = replica_word(replica)
        for url, date, payload in records:
            if n == n_pages:
                return
            text = payload.decode("utf-8", errors="replace")  # the sample is UTF-8 WET text
            yield replica_url(url, replica), date, vary_text(text, word).encode("utf-8")
            n += 1
        replica += 1


def duplicate_copies(n_pages: int) -> int:
    """How many times each base page recurs in the duplicate-heavy crawl of `n_pages` pages."""
    return max(1, -(-n_pages // DUPLICATE_BASES))


def duplicated_pages(n_pages: int, records=None):
    """(url, date, text bytes) of the duplicate-heavy crawl: `DUPLICATE_BASES` distinct real pages,
    each copied `duplicate_copies(n_pages)` times onto its own host, text unchanged."""
    bases = list(itertools.islice(replicated_pages(DUPLICATE_BASES, records), DUPLICATE_BASES))
    n = 0
    for copy in range(duplicate_copies(n_pages)):
        for url, date, payload in bases:
            if n == n_pages:
                return
            parts = urlsplit(url)
            yield urlunsplit(parts._replace(netloc=f"d{copy}.{parts.netloc}")), date, payload
            n += 1


def write_scaled_crawl(directory: str, n_pages: int, pages_per_file: int = 5000, kind: str = "replicas") -> dict:
    """Write (or reuse, when `directory` already holds this very crawl) `n_pages` pages as WET
    files in `directory`; returns its manifest (pages, files, text bytes). `kind`: "replicas" (every
    page distinct) or "duplicates" (every page recurs on ~64-128 hosts), see the module docstring."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    manifest_path = os.path.join(directory, "manifest.json")
    wanted = {"generator_version": GENERATOR_VERSION, "pages": n_pages, "pages_per_file": pages_per_file}
    if kind != "replicas":  # the replicas' manifests stay as they were (reused)
        wanted["kind"] = kind
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        present = sorted(glob.glob(os.path.join(directory, "crawl", "scale-*.warc.wet.gz")))
        if {k: manifest.get(k) for k in wanted} == wanted and present == sorted(manifest["files"]):
            return manifest
    crawl_dir = os.path.join(directory, "crawl")
    os.makedirs(crawl_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(crawl_dir, "scale-*.warc.wet.gz")):  # another size or layout's files, ours
        os.remove(stale)
    files, text_bytes = [], 0
    pages = replicated_pages(n_pages) if kind == "replicas" else duplicated_pages(n_pages)
    while chunk := list(itertools.islice(pages, pages_per_file)):
        files.append(os.path.join(crawl_dir, f"scale-{len(files):04d}.warc.wet.gz"))
        with open(files[-1], "wb") as handle:
            writer = WARCWriter(handle, gzip=True)
            for url, date, payload in chunk:
                headers = {"WARC-Date": date, "Content-Type": "text/plain"}
                writer.write_record(writer.create_warc_record(url, "conversion", payload=io.BytesIO(payload),
                                                              warc_headers_dict=headers))
                text_bytes += len(payload)
    manifest = {**wanted, "files": files, "text_bytes": text_bytes, "input_dir": crawl_dir}
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    return manifest
