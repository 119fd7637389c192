"""A Common Crawl snapshot by name: where its listing is, a slice or a seeded sample of its files,
and the files known to be corrupt.

    --crawl CC-MAIN-2019-18          crawl-data/CC-MAIN-2019-18/wet.paths.gz (warc.paths.gz with
                                     --source warc) under --cc-base, https://data.commoncrawl.org/
                                     by default (s3://commoncrawl/ the same, inside AWS)
    --files 0:1000                   a slice of the listing, in its own order (Python's slice rules)
    --sample 20 --sample-seed S      a seeded sample of that many files (after --files), in listing order

TFDS's C4 builder skips the WET files it knows to be unreadable (`_KNOWN_CORRUPT_WET_FILES` in
tensorflow_datasets/text/c4.py); so does a build here, each counted as the file error
`known_corrupt`. To add one, append its listing path to KNOWN_CORRUPT below.
"""
from __future__ import annotations

import random
import re

from cleancrawl.corpus.errors import UserError

CC_BASE = "https://data.commoncrawl.org/"
DEFAULT_CRAWL = "CC-MAIN-2019-18"  # TFDS c4/en's DEFAULT_CC_VERSION
KNOWN_CORRUPT = frozenset({  # TFDS 4.9: files that raise UnicodeDecodeError (as of August 12, 2022)
    "crawl-data/CC-MAIN-2017-13/segments/1490218203536.73/wet/"
    "CC-MAIN-20170322213003-00052-ip-10-233-31-227.ec2.internal.warc.wet.gz",
})
KNOWN_CORRUPT_REASON = "known_corrupt"
_CRAWL = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
_LISTINGS = {"wet": "wet.paths.gz", "warc": "warc.paths.gz", "auto": "wet.paths.gz"}


def listing_path(crawl: str, source: str = "wet", cc_base: str = CC_BASE) -> str:
    """The paths listing of snapshot `crawl` (`CC-MAIN-YYYY-WW`) under `cc_base`."""
    if not _CRAWL.match(crawl):
        raise UserError(f"--crawl {crawl}: a Common Crawl snapshot is named CC-MAIN-YYYY-WW (e.g. {DEFAULT_CRAWL})")
    if source not in _LISTINGS:
        raise UserError(f"--source {source}: a snapshot's listing is wet or warc")
    return f"{cc_base.rstrip('/')}/crawl-data/{crawl}/{_LISTINGS[source]}"


def parse_slice(text: str) -> slice:
    """`START:END` (either may be left out, negative counts from the end) → a slice."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise UserError(f"--files {text}: give START:END, e.g. 0:1000 "
                        "(the first thousand files of the listing)") from None
    return slice(start, end)


def choose(paths: list[str], files: str | None = None, sample: int = 0, seed: int = 0) -> list[str]:
    """The listing's files to build: `files` (a slice) first, then a seeded sample of `sample`
    of them, kept in listing order so that a piece's files are a plain list to look at."""
    chosen = paths[parse_slice(files)] if files else list(paths)
    if files and not chosen:
        raise UserError(f"--files {files}: selects none of the listing's {len(paths):,} files")
    if sample < 0:
        raise UserError(f"--sample {sample}: give a number of files")
    if sample and sample < len(chosen):
        picked = sorted(random.Random(seed).sample(range(len(chosen)), sample))
        chosen = [chosen[i] for i in picked]
    return chosen


def known_corrupt(path: str) -> bool:
    """Is `path` (full or relative to a --cc-base/--input-prefix) one of KNOWN_CORRUPT?"""
    return any(path == p or path.endswith("/" + p) for p in KNOWN_CORRUPT)
