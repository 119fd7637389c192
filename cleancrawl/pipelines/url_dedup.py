"""URL dedup in Beam: among pages with the same normalised URL keep the newest (the decision is
`corpus.url_dedup.newest`), shuffling keys only (`pipelines.spill`).

    docs ─ spill ─ (MD5 of the normalised URL, its page's date, file, offset, record id, ref)
                       └─ GroupByKey(URL) ─ the losers' refs ─ apply: Drop "duplicate_url"

A page's key is ~200 bytes instead of its text; only the pages that lose come back as decisions.
"""
from __future__ import annotations

import hashlib
import pickle
from typing import NamedTuple

import apache_beam as beam

from cleancrawl.corpus.url_dedup import DUPLICATE_URL, STAGE, duplicate_of, newest
from cleancrawl.pipelines.accounting import text_bytes
from cleancrawl.pipelines.spill import KEYS, KeyedStage, KeysOnly, spill_folder, split_ref


class UrlClaim(NamedTuple):
    """What URL dedup needs of a page (the fields `corpus.url_dedup.is_preferred` compares)."""

    timestamp: str
    source_file: str
    source_offset: int
    record_id: str
    url: str
    ref: bytes


def url_key(normalized_url: str) -> bytes:
    return hashlib.md5(normalized_url.encode("utf-8", "surrogatepass")).digest()


class _UrlKeys(KeyedStage):
    stage = STAGE

    def keys(self, batch, fn):
        for ref, doc in batch:
            claim = UrlClaim(doc.timestamp, doc.source_file, doc.source_offset, doc.record_id, doc.url, ref)
            # One bytes value a page: Beam's DirectRunner holds a grouped value as a Python
            # object, and a tuple of six costs ~3x its pickled bytes.
            yield url_key(doc.normalized_url), pickle.dumps(tuple(claim), protocol=5)

    def collect(self, values):
        return dict(values)

    def apply(self, doc, duplicate_of_page, fn):
        size = text_bytes(doc)
        fn.count_flow("in", 1, size)
        if duplicate_of_page is None:
            fn.count_flow("out", 1, size)
            yield doc
        else:
            fn.count_flow("out", 0, 0)
            yield fn.dropped(doc.drop(DUPLICATE_URL, detail=duplicate_of_page))


def _losers(element):
    """(URL key, [claims]) → (spill id, (position, the kept page's name)) for each other page."""
    _, values = element
    values = list(values)
    if len(values) < 2:
        return
    claims = [UrlClaim(*pickle.loads(v)) for v in values]
    best = newest(claims)
    for claim in claims:
        if claim is not best:
            spill_id, position = split_ref(claim.ref)
            yield spill_id, (position, duplicate_of(best))


class _DecideUrls(beam.PTransform):
    def expand(self, keys):
        return keys[KEYS] | "GroupByUrl" >> beam.GroupByKey() | "Losers" >> beam.FlatMap(_losers)


class DedupUrls(beam.PTransform):
    """Among pages with the same normalised URL keep the newest (C4's select_newest_page).
    `output`: the build's output folder, where the pages wait (`OUT/_spill/`)."""

    def __init__(self, output: str | None = None):
        super().__init__()
        self._folder = spill_folder(output)

    def expand(self, docs):
        return docs | KeysOnly(_UrlKeys(), _DecideUrls(), self._folder, STAGE)
