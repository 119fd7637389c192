"""Where the tests' real data lies. Test modules import these from here, not from `conftest`:
several test folders have a conftest.py, and `import conftest` gets whichever loaded first."""
from __future__ import annotations

import os

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(TESTS_DIR, "data")
SAMPLE_WET = os.path.join(os.path.dirname(TESTS_DIR), "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
PAGES_WARC = os.path.join(DATA_DIR, "pages-40.warc.gz")
EDGE_CASES = os.path.join(DATA_DIR, "warc-edge-cases")
COMMONCRAWL = os.path.join(DATA_DIR, "commoncrawl")


def gzip_members(data: bytes) -> list[bytes]:
    """The gzip members of `data` (one WARC record each in Common Crawl's files), each as its own bytes."""
    import zlib

    members = []
    while data:
        member = zlib.decompressobj(31)
        member.decompress(data)
        used = len(data) - len(member.unused_data)
        members.append(data[:used])
        data = member.unused_data
    return members

