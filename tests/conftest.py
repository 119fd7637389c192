"""Shared fixtures: real crawl data, copied from the project's shared data into tests/data and the package."""
from __future__ import annotations

import functools
import os

import pytest

# A build that runs past a minute under load would print a progress line into a test's stderr
# (a line a minute where stderr is no terminal); test_progress sets its own interval.
os.environ.setdefault("CLEANCRAWL_PROGRESS_LOG_SECONDS", "0")

from datapaths import COMMONCRAWL, DATA_DIR, EDGE_CASES, PAGES_WARC, SAMPLE_WET, TESTS_DIR  # noqa: F401


@functools.lru_cache(maxsize=None)
def _sample_documents():
    from cleancrawl.corpus.readers import read_local_file
    from cleancrawl.corpus.record import Document

    return tuple(d for d in read_local_file(SAMPLE_WET) if isinstance(d, Document))


@pytest.fixture(scope="session")
def sample_documents():
    """The 323 real pages of the bundled sample crawl (WET), as Documents (one is too long)."""
    return list(_sample_documents())
