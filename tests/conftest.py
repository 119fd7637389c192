"""Shared fixtures: real crawl data, copied from the project's shared data into tests/data and the package."""
from __future__ import annotations

import functools
import os

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(TESTS_DIR, "data")
SAMPLE_WET = os.path.join(os.path.dirname(TESTS_DIR), "corpus", "data", "sample", "pages.warc.wet.gz")
PAGES_WARC = os.path.join(DATA_DIR, "pages-40.warc.gz")
EDGE_CASES = os.path.join(DATA_DIR, "warc-edge-cases")
COMMONCRAWL = os.path.join(DATA_DIR, "commoncrawl")


@functools.lru_cache(maxsize=None)
def _sample_documents():
    from corpus.readers import read_local_file
    from corpus.record import Document

    return tuple(d for d in read_local_file(SAMPLE_WET) if isinstance(d, Document))


@pytest.fixture(scope="session")
def sample_documents():
    """The 323 real pages of the bundled sample crawl (WET), as Documents (one is too long)."""
    return list(_sample_documents())
