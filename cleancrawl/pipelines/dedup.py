"""Deduplication as Beam composites: C4 lines, C4 sentence spans, MinHash near-duplicates.

    docs ─ C4LineDedup ─ C4SpanDedup ─ MinHashDedup ─ kept docs
                 └────────────┴─────────────┴── Drops, tallies; MinHash also audit records

`DedupDocuments(config, output)` chains the methods the config names (always in that order)
and returns {KEPT, DROPPED, TALLY, "duplicates"}; `WriteDuplicates` writes the audit records.
The decisions are pure functions in `corpus.dedup`; this module only routes keys, so it runs
unchanged on DirectRunner, Dataflow, Flink or Spark. Every method is a keys-only stage
(`pipelines.spill`): the documents wait in spill files, no text is shuffled, and nothing ever
collects a whole corpus's lines, signatures or edges in one place. A node is a document's order
key + its 12-byte spill ref (`node_key`), so it sorts as the document key and says where the
document waits. Records are packed per bundle and partition, one spill file a bundle: the spill id
(8 bytes) heads each packed value once, and each record holds only the position (4 bytes). How
many partitions: `DedupConfig.partition_bytes`, chosen from the number of input files (`for_inputs`):

  C4 lines/spans   claims (item, the order key's first 4 bytes, position), 16-17 bytes
                   --GroupByKey(1-2 bytes of item)--> sorted partition: the claim of an item with the
                   smallest prefix keeps it; claims sharing the smallest prefix (rare) --GroupByKey
                   (spill file)--> whole order keys read back --GroupByKey(item)--> the smallest keeps
                   --> the losing claims, packed per spill file --> each page rewritten without the
                   items it lost
  MinHash          band entries (bucket, position), 12 bytes --GroupByKey(band, 8-12 bits)--> the
                   entries of buckets holding two or more --GroupByKey(spill file)--> documents read
                   back: whole entries (bucket, shingle digest, order key, position), 36 bytes
                   --GroupByKey(band, 8-12 bits)--> sorted partitions --> buckets --> documents with
                   one shingle set joined to its smallest copy (band 0 only; no verification),
                   candidate pairs among those representatives (all pairs in small buckets, a star
                   in large ones); documents in pairs read back from the spill --> shingles, names
                   pairs --2 x CoGroupByKey with shingles--> verified pairs
                   verified pairs --cc_rounds x (large-star, small-star)--> representative -> survivor;
                   each copy --CoGroupByKey(representative)--> its representative's survivor
                   survivor names --CoGroupByKey(survivor)--> members --> (spill file, position): drop

Page order is `corpus.dedup.document_key`'s (C4's MD5(url) order, then a per-record tie-break),
shuffled as the 16-byte `order_key`. An item is 10 bytes of its MD5 (the partition's 1 or 2, the
claim's 9 or 8): two different lines (or spans) of a corpus share them with probability about L^2 / 2^81
for L distinct lines (3e-4 at 3e10 lines, a whole C4 snapshot's).
"""
from __future__ import annotations

import functools
import math
import typing

import apache_beam as beam

from cleancrawl import layout, storage
from cleancrawl.corpus.dedup import (
    METHODS,
    NEAR_DUPLICATE,
    ORDER_KEY_BYTES,
    STAGE,
    DedupConfig,
    audit,
    components,
    document_id,
    lines,
    method,
    minhash,
    order_key,
    spans,
)
from cleancrawl.corpus.record import Document
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, CountingFn
from cleancrawl.pipelines.dropped import split_drop
from cleancrawl.pipelines.spill import (
    KEYS,
    KEYS_FLUSH_BYTES,
    REF_BYTES,
    SPILL_ID_BYTES,
    KeyedStage,
    KeysOnly,
    make_ref,
    read_spill,
    spill_folder,
    spill_path,
    split_ref,
)
from cleancrawl.pipelines.write import shard_of
from cleancrawl.storage import write_atomically

DUPLICATES = "duplicates"
# Main outputs that feed a GroupByKey: declared, since Beam cannot tell them from tagged ones.
_KV = typing.Tuple[typing.Any, typing.Any]

# ---------------------------------------------------------------------------- the methods' composites

# name -> (Beam label, PTransform class taking a DedupConfig); filled by @dedup_method below.
TRANSFORMS: dict[str, tuple[str, type]] = {}


def dedup_method(name: str, label: str):
    """Register the Beam composite of the dedup method `name` (declared in
    `corpus.dedup.METHOD_REGISTRY`). It takes a DedupConfig and `folder=` (where documents may
    wait, `pipelines.spill`) and returns KEPT, DROPPED, TALLY, and DUPLICATES when the method's
    `audit` is set."""
    registered = method(name)  # the pure side must know it: an unknown name fails at import

    def register(cls):
        if registered.name in TRANSFORMS:
            raise ValueError(f"dedup method {name!r} registered twice")
        TRANSFORMS[registered.name] = (label, cls)
        return cls
    return register



# ---------------------------------------------------------------------------- counting

class _DedupFn(CountingFn):
    """A DoFn of the dedup stage: counts through `CountingFn` (`count_event`, …) under its name."""

    stage = STAGE


def node_key(doc: Document, ref: bytes) -> bytes:
    """`order_key` + the document's spill ref: sorts as the document key (C4's order, which
    is unique per record) and says where the document waits (`pipelines.spill`)."""
    return order_key(doc) + ref


def ref_of(node: bytes) -> tuple[int, int]:
    return split_ref(node[-REF_BYTES:])


def _flatten(pcolls: list, pipeline, label: str):
    if not pcolls:
        return pipeline | label >> beam.Create([])
    return pcolls | label >> beam.Flatten()


def _by_position(blobs, record_bytes: int) -> dict[int, list[bytes]]:
    """What `_pack_by_spill` packed for one spill file → {position: [item bytes]}."""
    found: dict[int, list[bytes]] = {}
    for blob in blobs:
        for i in range(0, len(blob), record_bytes):
            found.setdefault(int.from_bytes(blob[i:i + 4], "big"), []).append(blob[i + 4:i + record_bytes])
    return found


def _pack_by_spill(refs_and_items) -> list[tuple[int, bytes]]:
    """[(node, item bytes)] → [(spill id, position (4 bytes) + item, concatenated)], one value
    per spill file: what `KeysOnly` routes back to the files."""
    packed: dict[int, bytearray] = {}
    for node, item in refs_and_items:
        spill_id, position = ref_of(node)
        packed.setdefault(spill_id, bytearray()).extend(position.to_bytes(4, "big") + item)
    return [(spill_id, bytes(blob)) for spill_id, blob in sorted(packed.items())]


# ---------------------------------------------------------------------------- C4 lines and spans

_KEY_BYTES = 10                       # an item's MD5 bytes: the partition's 1 or 2, then the claim's
_POSITION_BYTES = REF_BYTES - SPILL_ID_BYTES  # a ref is the spill id (once a packed value) + position
_LOST_BYTES = _POSITION_BYTES + _KEY_BYTES
# Bytes of the order key a claim carries. The keeper of an item is the claim of smallest order key:
# when one claim's prefix is smaller than every other's, that decides it; claims that share the
# smallest prefix (about n / 2^32 of the items with n claims, or one URL read twice) are settled on
# their whole order keys, read back from the spill. 12 bytes less a claim than the whole key.
PREFIX_BYTES = 4
TIES = "ties"


def claim_bytes(partition_bytes: int, prefix_bytes: int = PREFIX_BYTES) -> int:
    """A packed claim: the item's key after the partition's bytes, the order key's prefix, the position."""
    return _KEY_BYTES - partition_bytes + prefix_bytes + _POSITION_BYTES


class _KeeperKeys(KeyedStage):
    """C4 lines and spans on keys: each page claims its items (line or span hashes); the page with
    the smallest key keeps an item, every other claimant loses it. A claim is 16 or 17 packed
    bytes (item, order key prefix, position) after its value's spill id, collected per bundle and
    partition (the item key's first `partition_bytes`), so the shuffle carries a few large values
    instead of one Python object per line."""

    stage = STAGE

    def __init__(self, method: str, claims, rewrite, event_names: tuple[str, ...] = (), partition_bytes: int = 2,
                 prefix_bytes: int = PREFIX_BYTES):
        self._method = method
        self._partition = partition_bytes
        self._prefix = prefix_bytes
        self._claims = claims              # text -> set of item keys
        self._rewrite = rewrite            # (text, items it lost) -> PageOutcome
        self._events = set(event_names)    # outcome counts reported as events, not lines

    def start_bundle(self):
        self._packed: dict[tuple[bytes, bytes], bytearray] = {}
        self._size = 0

    def keys(self, batch, fn):
        packed, partition, size = self._packed, self._partition, claim_bytes(self._partition, self._prefix)
        for ref, doc in batch:
            spill_id, claimant = ref[:SPILL_ID_BYTES], order_key(doc)[:self._prefix] + ref[SPILL_ID_BYTES:]
            for item in self._claims(doc.text):
                where = (item[:partition], spill_id)
                blob = packed.get(where)
                if blob is None:
                    blob = packed[where] = bytearray(spill_id)
                blob += item[partition:_KEY_BYTES]
                blob += claimant
                self._size += size
        if self._size >= KEYS_FLUSH_BYTES:  # a worker holds at most this much of a bundle's claims
            return self.finish(fn)
        return ()

    def finish(self, fn):
        packed, self._packed, self._size = self._packed, {}, 0
        return [(partition, bytes(blob)) for (partition, _), blob in sorted(packed.items())]

    def collect(self, values):
        return {position: set(items) for position, items in _by_position(values, _LOST_BYTES).items()}

    def apply(self, doc, lost, fn):
        outcome = self._rewrite(doc.text, lost or frozenset())
        for rule, n in outcome.counts.items():
            fn.tally(("event" if rule in self._events else "lines", STAGE, f"{self._method}:{rule}"), n)
        if outcome.text is None:
            yield fn.dropped(doc.drop(outcome.reason, detail=f"{self._method}: {outcome.detail}"))
        elif outcome.changed:
            fn.tally(("event", STAGE, f"{self._method}:removed_bytes"), lines.removed_bytes(doc.text, outcome.text))
            yield doc.replace(text=outcome.text)
        else:
            yield doc


def _lost_claims(element, prefix_bytes: int = PREFIX_BYTES):
    """(partition, [packed claims]) → (spill id, packed (position, item key)) of every claim whose
    order key prefix is larger than its item's smallest: it loses the item. Claims that share an
    item's smallest prefix go out tagged `TIES`, packed the same way, for `_TiedClaimsFn`."""
    partition, blobs = element
    item_bytes = _KEY_BYTES - len(partition)
    head = item_bytes + prefix_bytes
    size = claim_bytes(len(partition), prefix_bytes)
    claims = []
    for blob in blobs:
        spill_id = blob[:SPILL_ID_BYTES]
        claims += [blob[i:i + size] + spill_id for i in range(SPILL_ID_BYTES, len(blob), size)]
    claims.sort()
    losers, tied_claims = [], []
    start, end = 0, len(claims)
    while start < end:  # sorted: an item's claims are together, its smallest prefix first
        item = claims[start][:item_bytes]
        stop = start + 1
        while stop < end and claims[stop][:item_bytes] == item:
            stop += 1
        if stop - start > 1:
            smallest, tied = claims[start][:head], start + 1
            while tied < stop and claims[tied][:head] == smallest:
                tied += 1
            if tied - start > 1:
                tied_claims += [(claim[size:] + claim[head:size], partition + item) for claim in claims[start:tied]]
            losers += [(claim[size:] + claim[head:size], partition + item) for claim in claims[tied:stop]]
        start = stop
    for packed in _pack_by_spill(tied_claims):
        yield beam.pvalue.TaggedOutput(TIES, packed)
    yield from _pack_by_spill(losers)


@beam.typehints.with_output_types(_KV)
class _TiedClaimsFn(beam.DoFn):
    """(spill id, [packed (position, item key)]) → (item key, node) of each tied claim of that
    spill file, its whole order key read back from the document that waits there."""

    def __init__(self, folder: str, label: str):
        self._folder, self._label = folder, label

    def process(self, element):
        spill_id, blobs = element
        wanted = _by_position(blobs, _LOST_BYTES)
        for position, doc in read_spill(spill_path(self._folder, self._label, spill_id)):
            for item in wanted.get(position, ()):
                yield item, node_key(doc, make_ref(spill_id, position))


def _tie_losers(element):
    """(item key, tied nodes) → (spill id, packed (position, item key)) of all but the smallest: by
    order key, then position and spill id, as the claims' bytes sort."""
    item, nodes = element
    nodes = sorted(nodes, key=lambda node: (node[:ORDER_KEY_BYTES], node[-_POSITION_BYTES:], node))
    return _pack_by_spill([(node, item) for node in nodes[1:]])


class _DecideKeepers(beam.PTransform):
    def __init__(self, folder: str, label: str, prefix_bytes: int = PREFIX_BYTES):
        super().__init__()
        self._folder, self._label, self._prefix = folder, label, prefix_bytes

    def expand(self, keys):
        decided = (
            keys[KEYS]
            | "GroupPartitions" >> beam.GroupByKey()
            | "LostClaims" >> beam.FlatMap(_lost_claims, self._prefix).with_outputs(TIES, main="lost")
        )
        settled = (
            decided[TIES]
            | "TiesBySpillFile" >> beam.GroupByKey()
            | "TiedOrderKeys" >> beam.ParDo(_TiedClaimsFn(self._folder, self._label))
            | "GroupTies" >> beam.GroupByKey()
            | "TieLosers" >> beam.FlatMap(_tie_losers)
        )
        return (decided["lost"], settled) | "AllLost" >> beam.Flatten()


class _KeeperDedup(beam.PTransform):
    """The shape C4's line and span methods share: claim keys, pick keepers, rewrite pages."""

    def __init__(self, method: str, claims, rewrite, event_names=(), folder: str | None = None,
                 partition_bytes: int = 2, prefix_bytes: int = PREFIX_BYTES):
        super().__init__()
        self._keyed = _KeeperKeys(method, claims, rewrite, event_names, partition_bytes, prefix_bytes)
        self._method, self._folder, self._prefix = method, folder or spill_folder(None), prefix_bytes

    def expand(self, docs):
        decide = _DecideKeepers(self._folder, self._method, self._prefix)
        return docs | KeysOnly(self._keyed, decide, self._folder, self._method)


@dedup_method(lines.METHOD, "C4Lines")
class C4LineDedup(_KeeperDedup):
    """C4 v2.2+/v3.1 repeated-line removal (`corpus.dedup.lines`). `prefix_bytes`: of the order
    key, in a claim (`PREFIX_BYTES`; 0 settles every contested line on whole keys, as ties are)."""

    def __init__(self, config: DedupConfig = DedupConfig(), folder: str | None = None,
                 prefix_bytes: int = PREFIX_BYTES):
        super().__init__(
            lines.METHOD,
            lines.page_line_keys,
            functools.partial(_remove_lines, min_sentences=config.min_sentences),
            folder=folder,
            partition_bytes=config.shuffle_partition_bytes,
            prefix_bytes=prefix_bytes,
        )


@dedup_method(spans.METHOD, "C4Spans")
class C4SpanDedup(_KeeperDedup):
    """C4 v1.0.0 three-sentence-span removal (`corpus.dedup.spans`); `prefix_bytes` as C4LineDedup's."""

    def __init__(self, config: DedupConfig = DedupConfig(), folder: str | None = None,
                 prefix_bytes: int = PREFIX_BYTES):
        size, min_sentences = config.span_sentences, config.min_sentences
        super().__init__(
            spans.METHOD,
            functools.partial(spans.page_window_keys, size=size),
            functools.partial(_remove_spans, size=size, min_sentences=min_sentences),
            event_names=(spans.SENTENCES_REMOVED,),
            folder=folder,
            partition_bytes=config.shuffle_partition_bytes,
            prefix_bytes=prefix_bytes,
        )


def _remove_lines(text, lost, min_sentences):
    return lines.remove_lines(text, lost, min_sentences, key_bytes=_KEY_BYTES)


def _remove_spans(text, lost, size, min_sentences):
    return spans.remove_spans(text, lost, size, min_sentences, key_bytes=_KEY_BYTES)


# ---------------------------------------------------------------------------- MinHash

BANDS, PAYLOADS, NAMES = "bands", "payloads", "names"


def lsh_params(config: DedupConfig) -> minhash.LshParams:
    return minhash.LshParams(num_perm=config.num_perm, bands=config.bands, rows=config.rows,
                             seed=config.seed, ngram=config.ngram)


_ENTRY_BYTES = 8 + _POSITION_BYTES    # a band entry as first shuffled: bucket, position
_REQUEST_BYTES = _POSITION_BYTES + 4 + 8  # an entry of a shared bucket: position, partition, bucket
_BAND_ENTRY_BYTES = 8 + minhash.DIGEST_BYTES + ORDER_KEY_BYTES + _POSITION_BYTES  # and then whole


class _MinHashKeys(KeyedStage):
    """MinHash on keys: each document's band entries (bucket, position: 12 bytes), packed per
    bundle, spill file and partition after the spill id; applying a decision drops a
    near-duplicate and writes its audit row. Only the entries of buckets shared by two or more
    are made whole (`_WholeEntriesFn`): most buckets hold one document and make no edge."""

    stage = STAGE
    apply_tags = (DUPLICATES,)

    def __init__(self, config: DedupConfig):
        self._params = lsh_params(config)
        self._bits = minhash.partition_bits(config.shuffle_partition_bytes)

    def setup(self):
        self._hasher = minhash.MinHasher(self._params)

    def start_bundle(self):
        self._packed: dict[tuple[bytes, bytes], bytearray] = {}
        self._size = 0

    def keys(self, batch, fn):
        if not batch:
            return ()
        shingle_sets = minhash.batch_shingles([doc.text for _, doc in batch], self._params.ngram)
        signatures = self._hasher.batch_signatures(shingle_sets)
        band_keys = self._hasher.batch_band_keys(signatures)
        for (ref, doc), shingles, bands in zip(batch, shingle_sets, band_keys):
            if len(shingles) == 0:
                fn.tally(("event", STAGE, "minhash:no_shingles"))
                continue
            fn.tally(("event", STAGE, "minhash:documents_hashed"))
            spill_id, position = ref[:SPILL_ID_BYTES], ref[SPILL_ID_BYTES:]
            for band in bands:
                partition, entry = minhash.band_entry(band, position, bits=self._bits)
                blob = self._packed.get((partition, spill_id))
                if blob is None:
                    blob = self._packed[(partition, spill_id)] = bytearray(spill_id)
                blob += entry
                self._size += len(entry)
        if self._size >= KEYS_FLUSH_BYTES:
            return self.finish(fn)
        return ()

    def finish(self, fn):
        packed, self._packed, self._size = self._packed, {}, 0
        return [(partition, bytes(blob)) for (partition, _), blob in sorted(packed.items())]

    def collect(self, values):
        return dict(values)

    def apply(self, doc, kept, fn):
        if kept is None:
            yield doc
            return
        kept_url, kept_id, size = kept
        yield fn.dropped(doc.drop(NEAR_DUPLICATE, detail=kept_id))
        yield beam.pvalue.TaggedOutput(DUPLICATES, audit.duplicate_record(
            doc.url, document_id(doc), doc.source_file, kept_url, kept_id, size))


def _shared_buckets(element):
    """(partition, packed (bucket, position) entries) → (spill id, packed (position, partition,
    bucket)) of the entries of each bucket that holds two or more: only those can make an edge."""
    partition, blobs = element
    entries = []
    for blob in blobs:
        spill_id = blob[:SPILL_ID_BYTES]
        entries += [blob[i:i + _ENTRY_BYTES] + spill_id for i in range(SPILL_ID_BYTES, len(blob), _ENTRY_BYTES)]
    entries.sort()
    shared = []
    for i, entry in enumerate(entries):
        bucket = entry[:8]
        if (i and entries[i - 1][:8] == bucket) or (i + 1 < len(entries) and entries[i + 1][:8] == bucket):
            shared.append((entry[_ENTRY_BYTES:] + entry[8:_ENTRY_BYTES], partition + bucket))
    return _pack_by_spill(shared)


@beam.typehints.with_output_types(_KV)
class _WholeEntriesFn(beam.DoFn):
    """(spill id, [packed (position, partition, bucket)]) → (partition, packed whole entries:
    bucket, shingle digest, order key, position), after the spill id: the documents that wait in
    that spill file are read back, and the digests of those in shared buckets computed again."""

    def __init__(self, config: DedupConfig, folder: str, label: str):
        self._ngram = config.ngram
        self._folder, self._label = folder, label

    def process(self, element):
        spill_id, blobs = element
        wanted = _by_position(blobs, _REQUEST_BYTES)
        packed: dict[bytes, bytearray] = {}
        batch = []
        for position, doc in read_spill(spill_path(self._folder, self._label, spill_id)):
            if position in wanted:
                batch.append((position, doc))
                if len(batch) >= 256:
                    self._add(batch, wanted, packed)
                    batch = []
        self._add(batch, wanted, packed)
        head = spill_id.to_bytes(SPILL_ID_BYTES, "big")
        for partition, blob in sorted(packed.items()):
            yield partition, head + bytes(blob)

    def _add(self, batch, wanted, packed):
        if not batch:
            return
        shingle_sets = minhash.batch_shingles([doc.text for _, doc in batch], self._ngram)
        for (position, doc), shingles in zip(batch, shingle_sets):
            node = minhash.shingle_digest(shingles) + order_key(doc) + position.to_bytes(_POSITION_BYTES, "big")
            for where in wanted[position]:
                blob = packed.get(where[:4])
                if blob is None:
                    blob = packed[where[:4]] = bytearray()
                blob += where[4:]
                blob += node


def _band_entries(packed):
    """Packed values → entries (bucket, digest, node): each position becomes a node again, order
    key + the value's spill id + position."""
    head = 8 + minhash.DIGEST_BYTES + ORDER_KEY_BYTES
    for blob in packed:
        spill_id = blob[:SPILL_ID_BYTES]
        for i in range(SPILL_ID_BYTES, len(blob), _BAND_ENTRY_BYTES):
            yield blob[i:i + head] + spill_id + blob[i + head:i + _BAND_ENTRY_BYTES]


IDENTICAL = "identical"


def _bucket_edges(element, limit):
    """(partition, packed entries) → candidate pairs (main) and, from band 0, edges between copies
    of one shingle set (`IDENTICAL`), as `minhash.bucket_edges`."""
    partition, packed = element
    first_band = partition[:2] == b"\x00\x00"
    for a, b, same in minhash.bucket_edges(_band_entries(packed), limit, minhash.DIGEST_BYTES, first_band):
        yield beam.pvalue.TaggedOutput(IDENTICAL, (a, b)) if same else (a, b)


@beam.typehints.with_output_types(_KV)
class _CandidatePayloadsFn(_DedupFn):
    """(spill id, [(position, verified?)]) → (node, verification payload) of the documents of that
    spill file in candidate pairs (verified? true), and (node, (url, id)) of every one listed
    (those in pairs, and the representatives of copies, which may survive): only they are read."""

    def __init__(self, config: DedupConfig, folder: str, label: str):
        self._params = lsh_params(config)
        self._verify = config.verify
        self._folder, self._label = folder, label

    def setup(self):
        self._hasher = minhash.MinHasher(self._params)

    def process(self, element):
        spill_id, positions = element
        wanted: dict[int, bool] = {}
        for position, verified in positions:
            wanted[position] = wanted.get(position, False) or verified
        batch = []
        for position, doc in read_spill(spill_path(self._folder, self._label, spill_id)):
            if position not in wanted:
                continue
            node = node_key(doc, make_ref(spill_id, position))
            yield beam.pvalue.TaggedOutput(NAMES, (node, (doc.url, document_id(doc))))
            if wanted[position]:
                batch.append((node, doc))
                if len(batch) >= 256:
                    yield from self._payloads(batch)
                    batch = []
        yield from self._payloads(batch)

    def _payloads(self, batch):
        if not batch or self._verify == "none":
            return
        shingle_sets = minhash.batch_shingles([doc.text for _, doc in batch], self._params.ngram)
        signatures = self._hasher.batch_signatures(shingle_sets) if self._verify == "signature" else None
        for i, (node, _) in enumerate(batch):
            if self._verify == "exact":
                yield node, shingle_sets[i].tobytes()
            else:
                yield node, signatures[i].tobytes()


@beam.typehints.with_output_types(_KV)
class _CountPairsFn(_DedupFn):
    def __init__(self, *names: str):
        self._names = names

    def process(self, pair):
        for name in self._names:
            self.count_event(name)
        yield pair


@beam.typehints.with_output_types(_KV)
class _VerifyFn(_DedupFn):
    """(b's key, {"payload": [b's], "half": [(a, b, a's payload)]}) → (a, b) if similar enough."""

    def __init__(self, verify: str, threshold: float):
        self._verify = verify
        self._threshold = threshold

    def process(self, element):
        _, grouped = element
        for payload_b in grouped["payload"]:
            for a, b, payload_a in grouped["half"]:
                self.count_event("minhash:candidate_pairs")
                if minhash.similarity(payload_a, payload_b, self._verify) >= self._threshold:
                    self.count_event("minhash:verified_pairs")
                    yield a, b
                else:
                    self.count_event("minhash:rejected_pairs")
            return


def _first_halves(element):
    _, grouped = element
    for payload_a in grouped["payload"]:
        for a, b in grouped["pairs"]:
            yield b, (a, b, payload_a)
        return


class VerifyPairs(beam.PTransform):
    """(candidate pairs, payloads) → the pairs whose similarity reaches the threshold.

    Two joins by document key bring both payloads (shingle sets or signatures) to a pair;
    each document's payload is shipped once per pair it is in, never collected.
    """

    def __init__(self, verify: str, threshold: float):
        super().__init__()
        self._verify = verify
        self._threshold = threshold

    def expand(self, pcolls):
        pairs, payloads = pcolls
        halves = (
            {"payload": payloads, "pairs": pairs | "ByFirst" >> beam.Map(lambda p: (p[0], p))}
            | "JoinFirst" >> beam.CoGroupByKey()
            | "FirstHalves" >> beam.FlatMap(_first_halves)
        )
        return (
            {"payload": payloads, "half": halves}
            | "JoinSecond" >> beam.CoGroupByKey()
            | "Verify" >> beam.ParDo(_VerifyFn(self._verify, self._threshold)).with_outputs(TALLY, main="pairs")
        )


@beam.typehints.with_output_types(_KV)
class _AssignParentsFn(_DedupFn):
    def process(self, element):
        node, neighbours = element
        parent, converged = components.assign_parents(node, neighbours)
        if not converged:
            self.count_event("minhash:unconverged_nodes")
        if parent is not None:
            yield node, parent


def _copies_to_survivor(element):
    """(representative, {"copies": [copy], "survivor": [its survivor, or none]}) → (copy, survivor):
    a representative in no verified pair survives itself."""
    representative, grouped = element
    survivor = next(iter(grouped["survivor"]), representative)
    for copy in grouped["copies"]:
        yield copy, survivor


def _both_ways(edge):
    a, b = edge
    return [(a, b), (b, a)]


class ConnectedComponents(beam.PTransform):
    """Edges (a, b) → (node, parent) for every node that is not its component's survivor.

    `rounds` pairs of large-star / small-star (`corpus.dedup.components`), unrolled: a
    bounded number of shuffles of the edge list, each grouping by one node.
    """

    def __init__(self, rounds: int):
        super().__init__()
        self._rounds = rounds

    def expand(self, edges):
        for i in range(self._rounds):
            edges = (
                edges
                | f"LargeStarEdges{i}" >> beam.FlatMap(_both_ways)
                | f"LargeStarGroup{i}" >> beam.GroupByKey()
                | f"LargeStar{i}" >> beam.FlatMap(lambda kv: components.large_star(*kv))
                | f"SmallStarEdges{i}" >> beam.Map(lambda e: (max(e), min(e)))
                | f"SmallStarGroup{i}" >> beam.GroupByKey()
                | f"SmallStar{i}" >> beam.FlatMap(lambda kv: components.small_star(*kv))
            )
        return (
            edges
            | "FinalEdges" >> beam.FlatMap(_both_ways)
            | "FinalGroup" >> beam.GroupByKey()
            | "AssignParents" >> beam.ParDo(_AssignParentsFn()).with_outputs(TALLY, main="parents")
        )


def cluster_size_name(size: int) -> str:
    """Exact sizes up to 10, then decades: 11-100, 101-1000, ..."""
    if size <= 10:
        return f"minhash:cluster_size={size}"
    upper = 10 ** math.ceil(math.log10(size))
    return f"minhash:cluster_size={upper // 10 + 1}-{upper}"


@beam.typehints.with_output_types(_KV)
class _ClusterMembersFn(_DedupFn):
    """(survivor key, {"name": [(url, id)], "members": [keys]}) → (member, (url, id, size))."""

    def process(self, element):
        _, grouped = element
        members = grouped["members"]
        size = 1 + sum(1 for _ in members)
        if size == 1:
            return
        self.count_event("minhash:clusters")
        self.count_event(cluster_size_name(size))
        for url, doc_id in grouped["name"]:
            for member in members:
                yield member, (url, doc_id, size)
            return


class _DecideNearDuplicates(beam.PTransform):
    """Band keys → (spill id, (position, (kept url, kept id, cluster size))) of every document that
    is not its cluster's survivor, and the tallies of the steps."""

    def __init__(self, config: DedupConfig, folder: str, label: str):
        super().__init__()
        self._config, self._folder, self._label = config, folder, label

    def expand(self, keys):
        config = self._config
        tallies = []
        bucketed = (
            keys[KEYS]
            | "GroupPartitions" >> beam.GroupByKey()
            | "SharedBuckets" >> beam.FlatMap(_shared_buckets)
            | "SharedBySpillFile" >> beam.GroupByKey()
            | "WholeEntries" >> beam.ParDo(_WholeEntriesFn(config, self._folder, self._label))
            | "GroupSharedBuckets" >> beam.GroupByKey()
            | "BucketEdges" >> beam.FlatMap(_bucket_edges, config.all_pairs_bucket).with_outputs(
                IDENTICAL, main="pairs")
        )
        candidates = bucketed["pairs"] | "DistinctPairs" >> beam.Distinct()
        # Copies of one shingle set: Jaccard 1, a verified pair without shipping either set.
        counted = bucketed[IDENTICAL] | "CountIdentical" >> beam.ParDo(_CountPairsFn(
            "minhash:candidate_pairs", *(() if config.verify == "none" else ("minhash:verified_pairs",)))
        ).with_outputs(TALLY, main="pairs")
        tallies.append(counted[TALLY])
        fetched = (
            (candidates | "PairDocuments" >> beam.FlatMap(lambda pair: [(ref_of(pair[0]), True),
                                                                        (ref_of(pair[1]), True)]),
             counted["pairs"] | "Representatives" >> beam.Map(lambda edge: (ref_of(edge[0]), False)))
            | "Wanted" >> beam.Flatten()
            | "DistinctDocuments" >> beam.Distinct()
            | "BySpill" >> beam.Map(lambda wanted: (wanted[0][0], (wanted[0][1], wanted[1])))
            | "BySpillFile" >> beam.GroupByKey()
            | "ReadCandidates" >> beam.ParDo(_CandidatePayloadsFn(config, self._folder, self._label)).with_outputs(
                NAMES, main=PAYLOADS)
        )
        if config.verify == "none":
            verified = candidates | "CountCandidates" >> beam.ParDo(
                _CountPairsFn("minhash:candidate_pairs")).with_outputs(TALLY, main="pairs")
        else:
            verified = (candidates, fetched[PAYLOADS]) | "VerifyPairs" >> VerifyPairs(config.verify, config.threshold)
        tallies.append(verified[TALLY])
        # Components among the representatives only (verified pairs join nothing else); each copy
        # then takes its representative's survivor. Same clusters as over every edge, since a
        # copy's one edge is to its representative, the smallest of its copies; but the rounds
        # shuffle the pairs, not one edge per copy (a crawl of copies has ~1 a page).
        assigned = verified["pairs"] | "Components" >> ConnectedComponents(config.cc_rounds)
        tallies.append(assigned[TALLY])
        copies = (
            {"copies": counted["pairs"], "survivor": assigned["parents"]}
            | "JoinRepresentatives" >> beam.CoGroupByKey()
            | "CopiesToSurvivors" >> beam.FlatMap(_copies_to_survivor)
        )
        parents = (assigned["parents"], copies) | "AllParents" >> beam.Flatten()
        clusters = (
            {"name": fetched[NAMES], "members": parents | "BySurvivor" >> beam.KvSwap()}
            | "JoinSurvivors" >> beam.CoGroupByKey()
            | "ClusterMembers" >> beam.ParDo(_ClusterMembersFn()).with_outputs(TALLY, main="members")
        )
        tallies.append(clusters[TALLY])
        decisions = clusters["members"] | "ToSpillFiles" >> beam.Map(
            lambda kv: (ref_of(kv[0])[0], (ref_of(kv[0])[1], kv[1])))
        return decisions, tallies


@dedup_method(minhash.METHOD, "MinHash")
class MinHashDedup(beam.PTransform):
    """MinHash LSH near-duplicate removal: one survivor per cluster (the smallest key)."""

    def __init__(self, config: DedupConfig = DedupConfig(), folder: str | None = None):
        super().__init__()
        self._config = config
        self._folder = folder or spill_folder(None)  # where the documents wait (pipelines.spill)

    def expand(self, docs):
        decide = _DecideNearDuplicates(self._config, self._folder, minhash.METHOD)
        return docs | KeysOnly(_MinHashKeys(self._config), decide, self._folder, minhash.METHOD)


# ---------------------------------------------------------------------------- the stage

class DedupDocuments(beam.PTransform):
    """Documents → {KEPT, DROPPED, TALLY, "duplicates"}: the methods of `config`, in order.

    `drop_documents`: whether each Drop keeps its document (what `--keep-dropped` samples). The
    methods' drops are flattened into one PCollection, and a Flatten of steps that run one after
    the other is buffered whole on the DirectRunner: with False the documents are left right where
    each method drops them (`pipelines.dropped.split_drop`), so that buffer holds bare Drops (~25 KB
    less per dropped page; a crawl of copies loses nearly every page here)."""

    def __init__(self, config: DedupConfig = DedupConfig(), output: str | None = None, drop_documents: bool = True):
        super().__init__()
        self._config = config
        self._folder = spill_folder(output)  # where the documents wait while keys are shuffled
        self._drop_documents = drop_documents

    def expand(self, docs):
        pipeline = docs.pipeline
        drops, tallies, duplicates = [], [], []
        for name in self._config.methods:
            label, transform = TRANSFORMS[name]
            out = docs | label >> transform(self._config, folder=self._folder)
            if self._drop_documents:
                drops.append(out[DROPPED])
            else:
                drops.append(out[DROPPED] | f"{label}BareDrops" >> beam.Map(lambda drop: split_drop(drop)[0]))
            tallies.append(out[TALLY])
            if method(name).audit:
                duplicates.append(out[DUPLICATES])
            docs = out[KEPT]
        return {
            KEPT: docs,
            DROPPED: _flatten(drops, pipeline, "DedupDrops"),
            TALLY: _flatten(tallies, pipeline, "DedupTallies"),
            DUPLICATES: _flatten(duplicates, pipeline, "DedupDuplicates"),
        }


# ---------------------------------------------------------------------------- audit output

class _WriteDuplicateShardFn(beam.DoFn):
    def __init__(self, output: str):
        self._output = output

    def process(self, element):
        (index, count), records = element
        records = sorted(records, key=audit.sort_key)
        write_atomically(_duplicates_path(self._output, index, count), _encode(records))
        yield layout.DUPLICATES_DIR, index, count, len(records)


class _FillDuplicateShardsFn(beam.DoFn):
    """Runs once after the shards: writes empty shards for indexes no record fell into."""

    def __init__(self, output: str):
        self._output = output

    def process(self, _, written, count):
        done = {index: rows for _, index, _, rows in written}
        for index in range(count):
            if index not in done:
                write_atomically(_duplicates_path(self._output, index, count), _encode([]))
            yield layout.DUPLICATES_DIR, index, count, done.get(index, 0)


def _duplicates_path(output: str, index: int, count: int) -> str:
    return storage.join(output, layout.DUPLICATES_DIR, layout.shard_name(index, count))


def _encode(records: list[dict]) -> bytes:
    import io

    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(audit.records_to_table(records), buffer, compression="zstd")
    return buffer.getvalue()


class WriteDuplicates(beam.PTransform):
    """Audit records → `OUT/duplicates/part-XXXXX-of-NNNNN.parquet` (deterministic, atomic).

    Shard of a record: a hash of the dropped document's URL and id; rows sorted inside a
    shard; at least one shard, empty ones filled in. Returns one element per shard,
    ("duplicates", index, count, rows), once every shard is in place: flatten it into the
    `written` input of `pipelines.write.Finalize` so that `_SUCCESS` waits for it.
    """

    def __init__(self, output: str, rows_per_shard: int = 2_000_000):
        super().__init__()
        self._output = output
        self._rows = rows_per_shard

    def expand(self, records):
        rows = self._rows
        count = (
            records
            | "CountRecords" >> beam.combiners.Count.Globally()
            | "ShardCount" >> beam.Map(lambda n: max(1, math.ceil(n / rows)))
        )
        written = (
            records
            | "AssignShard" >> beam.Map(
                lambda r, n: ((shard_of(r["dropped_url"] + "\x00" + r["dropped_id"], n), n), r),
                n=beam.pvalue.AsSingleton(count))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteDuplicateShardFn(self._output))
        )
        return (
            records.pipeline
            | "Once" >> beam.Create([None])
            | "FillEmptyShards" >> beam.ParDo(
                _FillDuplicateShardsFn(self._output),
                written=beam.pvalue.AsList(written),
                count=beam.pvalue.AsSingleton(count))
        )


__all__ = [
    "C4LineDedup", "C4SpanDedup", "MinHashDedup", "ConnectedComponents", "VerifyPairs", "DedupDocuments",
    "WriteDuplicates", "METHODS",
]
