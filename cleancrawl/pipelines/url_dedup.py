"""URL dedup in Beam: among pages with the same normalised URL keep the newest (the decision is
`corpus.url_dedup.newest`), shuffling keys only (`pipelines.spill`).

    docs ─ spill ─ claims (MD5 of the normalised URL, date, offset, record id, position), packed
                   per bundle, partition and source file
                       └─ GroupByKey(partition) ─ sorted: pages of one URL ─ the losers' refs
                                                  ─ apply: Drop "duplicate_url"

A claim is ~90 bytes instead of the page's text: the source file and the spill id head each
packed value once; the page's URL travels only where it has no record id (a Drop names the kept
page by its record id, else its URL). How many partitions: `DedupConfig.partition_bytes`, as for
the dedup's claims. Only the pages that lose come back as decisions.
"""
from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple

import apache_beam as beam

from cleancrawl.corpus.url_dedup import DUPLICATE_URL, STAGE, duplicate_of, newest
from cleancrawl.pipelines.accounting import text_bytes
from cleancrawl.pipelines.spill import KEYS, KEYS_FLUSH_BYTES, SPILL_ID_BYTES, KeyedStage, KeysOnly, spill_folder

_URL_KEY_BYTES = 16
_FIXED = struct.Struct(">QI")     # a claim's source offset and position in its spill file
_LENGTH = struct.Struct(">H")     # a claim's strings: date, record id, URL (empty where a record id is)
_LONG_LENGTH = struct.Struct(">Q")  # after a length of 0xFFFF: the real one


class UrlClaim(NamedTuple):
    """What URL dedup needs of a page (the fields `corpus.url_dedup.is_preferred` compares)."""

    timestamp: str
    source_file: str
    source_offset: int
    record_id: str
    url: str
    position: int


def url_key(normalized_url: str) -> bytes:
    return hashlib.md5(normalized_url.encode("utf-8", "surrogatepass")).digest()


def _text(value: str) -> bytes:
    data = value.encode("utf-8", "surrogatepass")
    if len(data) < 0xFFFF:
        return _LENGTH.pack(len(data)) + data
    return _LENGTH.pack(0xFFFF) + _LONG_LENGTH.pack(len(data)) + data  # a hostile URL may be any length


def _read_text(blob: bytes, i: int) -> tuple[str, int]:
    (size,) = _LENGTH.unpack_from(blob, i)
    i += _LENGTH.size
    if size == 0xFFFF:
        (size,) = _LONG_LENGTH.unpack_from(blob, i)
        i += _LONG_LENGTH.size
    return blob[i:i + size].decode("utf-8", "surrogatepass"), i + size


def pack_claim(key_rest: bytes, doc, position: int) -> bytes:
    """One page's claim, after its value's header (spill id, source file)."""
    return (key_rest + _FIXED.pack(doc.source_offset, position) + _text(doc.timestamp) + _text(doc.record_id)
            + _text("" if doc.record_id else doc.url))


def unpack_claims(blob: bytes, partition_bytes: int):
    """(url key, spill id, UrlClaim) of every claim of one packed value."""
    spill_id = blob[:SPILL_ID_BYTES]
    source_file, i = _read_text(blob, SPILL_ID_BYTES)
    rest = _URL_KEY_BYTES - partition_bytes
    while i < len(blob):
        key = blob[i:i + rest]
        offset, position = _FIXED.unpack_from(blob, i + rest)
        timestamp, i = _read_text(blob, i + rest + _FIXED.size)
        record_id, i = _read_text(blob, i)
        url, i = _read_text(blob, i)
        yield key, spill_id, UrlClaim(timestamp, source_file, offset, record_id, url, position)


class _UrlKeys(KeyedStage):
    stage = STAGE

    def __init__(self, partition_bytes: int = 2):
        self._partition = partition_bytes

    def start_bundle(self):
        self._packed: dict[tuple[bytes, bytes, str], bytearray] = {}
        self._size = 0

    def keys(self, batch, fn):
        # Packed per bundle, partition and file: Beam moves a few large values, not an object a page.
        packed, partition = self._packed, self._partition
        for ref, doc in batch:
            key = url_key(doc.normalized_url)
            where = (key[:partition], ref[:SPILL_ID_BYTES], doc.source_file)
            blob = packed.get(where)
            if blob is None:
                blob = packed[where] = bytearray(ref[:SPILL_ID_BYTES] + _text(doc.source_file))
            claim = pack_claim(key[partition:], doc, int.from_bytes(ref[SPILL_ID_BYTES:], "big"))
            blob += claim
            self._size += len(claim)
        if self._size >= KEYS_FLUSH_BYTES:  # a worker holds at most this much of a bundle's claims
            return self.finish(fn)
        return ()

    def finish(self, fn):
        packed, self._packed, self._size = self._packed, {}, 0
        return [(where[0], bytes(blob)) for where, blob in sorted(packed.items())]

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
    """(partition, [packed claims]) → (spill id, (position, the kept page's name)) for each page
    that another page of its URL wins over."""
    partition, blobs = element
    claims = sorted((c for blob in blobs for c in unpack_claims(blob, len(partition))), key=lambda c: c[0])
    start = 0
    while start < len(claims):
        end = start + 1
        while end < len(claims) and claims[end][0] == claims[start][0]:
            end += 1
        if end - start > 1:
            pages = claims[start:end]
            best = newest([claim for _, _, claim in pages])
            for _, spill_id, claim in pages:
                if claim is not best:
                    yield int.from_bytes(spill_id, "big"), (claim.position, duplicate_of(best))
        start = end


class _DecideUrls(beam.PTransform):
    def expand(self, keys):
        return keys[KEYS] | "GroupPartitions" >> beam.GroupByKey() | "Losers" >> beam.FlatMap(_losers)


class DedupUrls(beam.PTransform):
    """Among pages with the same normalised URL keep the newest (C4's select_newest_page).
    `output`: the build's output folder, where the pages wait (`OUT/_spill/`)."""

    def __init__(self, output: str | None = None, partition_bytes: int = 2):
        super().__init__()
        self._folder = spill_folder(output)
        self._partition_bytes = partition_bytes

    def expand(self, docs):
        return docs | KeysOnly(_UrlKeys(self._partition_bytes), _DecideUrls(), self._folder, STAGE)
