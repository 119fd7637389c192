"""Deduplication as Beam composites: C4 lines, C4 sentence spans, MinHash near-duplicates.

    docs ─ C4LineDedup ─ C4SpanDedup ─ MinHashDedup ─ kept docs
                 └────────────┴─────────────┴── Drops, tallies; MinHash also audit records

`DedupDocuments(config)` chains the methods the config names (always in that order) and
returns {KEPT, DROPPED, TALLY, "duplicates"}; `WriteDuplicates` writes the audit records.
The decisions are pure functions in `corpus.dedup`; this module only routes keys, so it runs
unchanged on DirectRunner, Dataflow, Flink or Spark. Nothing ever collects a whole
corpus's lines, signatures or edges in one place:

  C4 lines/spans   (line key, page key) --CombinePerKey(min)--> keeper page per line
                   keeper --CoGroupByKey(page)--> each page gets the lines it keeps
  MinHash          band keys --GroupByKey(band, 12 bits)--> sorted partitions --> buckets -->
                   candidate pairs (all pairs in small buckets, a star in large ones)
                   pairs --2 x CoGroupByKey with shingles--> verified pairs
                   verified pairs --cc_rounds x (large-star, small-star)--> node -> survivor
                   survivor names --CoGroupByKey(survivor)--> members --CoGroupByKey(doc)--> drop

Page keys are `corpus.dedup.document_key` (C4's MD5(url) order, then a per-record tie-break).
"""
from __future__ import annotations

import dataclasses
import math
import typing

import apache_beam as beam

from cleancrawl import layout, storage
from cleancrawl.corpus.dedup import METHODS, NEAR_DUPLICATE, STAGE, DedupConfig, document_id, document_key, method
from cleancrawl.corpus.dedup import audit, components, lines, minhash, spans
from cleancrawl.corpus.record import Document
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, CountingFn
from cleancrawl.pipelines.write import shard_of
from cleancrawl.storage import write_atomically

DUPLICATES = "duplicates"

# ---------------------------------------------------------------------------- the methods' composites

# name -> (Beam label, PTransform class taking a DedupConfig); filled by @dedup_method below.
TRANSFORMS: dict[str, tuple[str, type]] = {}


def dedup_method(name: str, label: str):
    """Register the Beam composite of the dedup method `name` (declared in
    `corpus.dedup.METHOD_REGISTRY`). It takes a DedupConfig and returns KEPT, DROPPED, TALLY,
    and DUPLICATES when the method's `audit` is set."""
    registered = method(name)  # the pure side must know it: an unknown name fails at import

    def register(cls):
        if registered.name in TRANSFORMS:
            raise ValueError(f"dedup method {name!r} registered twice")
        TRANSFORMS[registered.name] = (label, cls)
        return cls
    return register



# ---------------------------------------------------------------------------- counting

class _CountingFn(CountingFn):
    """A DoFn of the dedup stage: tallies and counters through `pipelines.accounting.CountingFn`."""

    stage = STAGE

    def count(self, kind: str, name: str, n: int = 1, size: int = 0) -> None:
        """kind "lines" or "event" (see pipelines.accounting); n and size are added up."""
        self.tally((kind, STAGE, name), n, size)


def keyed_row(doc: Document) -> tuple[bytes, tuple]:
    """(document_key, the document's fields as a tuple), for the joins below.

    Beam's default coder writes a tuple of str/int/float/None natively but pickles a
    dataclass: as a tuple a document is ~35% smaller in a shuffle and in DirectRunner's memory.
    """
    return document_key(doc), tuple(getattr(doc, name) for name in _FIELDS)


def as_document(row: tuple) -> Document:
    return Document(*row)


_FIELDS = [f.name for f in dataclasses.fields(Document)]


def _flatten(pcolls: list, pipeline, label: str):
    if not pcolls:
        return pipeline | label >> beam.Create([])
    return pcolls | label >> beam.Flatten()


# ---------------------------------------------------------------------------- C4 lines and spans

class _RewritePagesFn(_CountingFn):
    """(page key, {"doc": [Document], "won": [keys]}) → rewritten Document or Drop."""

    def __init__(self, method: str, rewrite, event_names: tuple[str, ...] = ()):
        self._method = method
        self._rewrite = rewrite          # (text, won) -> PageOutcome
        self._events = set(event_names)  # outcome counts reported as events, not lines

    def process(self, element):
        _, grouped = element
        won = set(grouped["won"])
        # Keys are unique per record; should two records share one anyway, the first (by
        # text) is the page, and the others lose every line the key won.
        for i, doc in enumerate(sorted(map(as_document, grouped["doc"]), key=lambda d: d.text)):
            outcome = self._rewrite(doc.text, won if i == 0 else set())
            for rule, n in outcome.counts.items():
                self.count("event" if rule in self._events else "lines", f"{self._method}:{rule}", n)
            if outcome.text is None:
                drop = doc.drop(STAGE, outcome.reason, detail=f"{self._method}: {outcome.detail}")
                yield self.dropped(drop)
            elif outcome.changed:
                self.count("event", f"{self._method}:removed_bytes", lines.removed_bytes(doc.text, outcome.text))
                yield doc.replace(text=outcome.text)
            else:
                yield doc


class _KeeperDedup(beam.PTransform):
    """The shape C4's line and span methods share: claim keys, pick keepers, rewrite pages."""

    def __init__(self, method: str, claims, rewrite, event_names=()):
        super().__init__()
        self._method, self._claims, self._rewrite, self._events = method, claims, rewrite, event_names

    def expand(self, docs):
        claims = self._claims
        keyed = docs | "KeyPages" >> beam.Map(keyed_row)
        text = _FIELDS.index("text")
        won = (
            keyed
            | "Claim" >> beam.FlatMap(lambda kv: ((item, kv[0]) for item in claims(kv[1][text])))
            | "PickKeeper" >> beam.CombinePerKey(min)
            | "ToKeeper" >> beam.KvSwap()
        )
        return (
            {"doc": keyed, "won": won}
            | "JoinPages" >> beam.CoGroupByKey()
            | "Rewrite" >> beam.ParDo(_RewritePagesFn(self._method, self._rewrite, self._events)).with_outputs(
                DROPPED, TALLY, main=KEPT)
        )


@dedup_method(lines.METHOD, "C4Lines")
class C4LineDedup(_KeeperDedup):
    """C4 v2.2+/v3.1 repeated-line removal (`corpus.dedup.lines`)."""

    def __init__(self, config: DedupConfig = DedupConfig()):
        min_sentences = config.min_sentences
        super().__init__(
            lines.METHOD,
            lines.page_line_keys,
            lambda text, won: lines.remove_lines(text, won, min_sentences),
        )


@dedup_method(spans.METHOD, "C4Spans")
class C4SpanDedup(_KeeperDedup):
    """C4 v1.0.0 three-sentence-span removal (`corpus.dedup.spans`)."""

    def __init__(self, config: DedupConfig = DedupConfig()):
        size, min_sentences = config.span_sentences, config.min_sentences
        super().__init__(
            spans.METHOD,
            lambda text: spans.page_window_keys(text, size),
            lambda text, won: spans.remove_spans(text, won, size, min_sentences),
            event_names=(spans.SENTENCES_REMOVED,),
        )


# ---------------------------------------------------------------------------- MinHash

BANDS, PAYLOADS, NAMES = "bands", "payloads", "names"
# Main outputs that feed a GroupByKey: declared, since Beam cannot tell them from tagged ones.
_KV = typing.Tuple[typing.Any, typing.Any]


def lsh_params(config: DedupConfig) -> minhash.LshParams:
    return minhash.LshParams(num_perm=config.num_perm, bands=config.bands, rows=config.rows,
                             seed=config.seed, ngram=config.ngram)


@beam.typehints.with_output_types(_KV)
class _SignatureFn(_CountingFn):
    """Batches of (key, row) → (band partition, entry) (main), (key, verification payload) and
    (key, (url, id)) to name survivors at the end."""

    def __init__(self, config: DedupConfig):
        self._params = lsh_params(config)
        self._verify = config.verify

    def setup(self):
        self._hasher = minhash.MinHasher(self._params)

    def process(self, batch):
        batch = [(key, as_document(row)) for key, row in batch]
        shingle_sets = minhash.batch_shingles([doc.text for _, doc in batch], self._params.ngram)
        signatures = self._hasher.batch_signatures(shingle_sets)
        band_keys = self._hasher.batch_band_keys(signatures)
        for (key, doc), shingles, signature, bands in zip(batch, shingle_sets, signatures, band_keys):
            if len(shingles) == 0:
                self.count("event", "minhash:no_shingles")
                continue
            self.count("event", "minhash:documents_hashed")
            for band in bands:
                yield minhash.band_entry(band, key)
            if self._verify == "exact":
                yield beam.pvalue.TaggedOutput(PAYLOADS, (key, shingles.tobytes()))
            elif self._verify == "signature":
                yield beam.pvalue.TaggedOutput(PAYLOADS, (key, signature.tobytes()))
            yield beam.pvalue.TaggedOutput(NAMES, (key, (doc.url, document_id(doc))))


@beam.typehints.with_output_types(_KV)
class _CountPairsFn(_CountingFn):
    def __init__(self, name: str):
        self._name = name

    def process(self, pair):
        self.count("event", self._name)
        yield pair


@beam.typehints.with_output_types(_KV)
class _VerifyFn(_CountingFn):
    """(b's key, {"payload": [b's], "half": [(a, b, a's payload)]}) → (a, b) if similar enough."""

    def __init__(self, verify: str, threshold: float):
        self._verify = verify
        self._threshold = threshold

    def process(self, element):
        _, grouped = element
        for payload_b in grouped["payload"]:
            for a, b, payload_a in grouped["half"]:
                self.count("event", "minhash:candidate_pairs")
                if minhash.similarity(payload_a, payload_b, self._verify) >= self._threshold:
                    self.count("event", "minhash:verified_pairs")
                    yield a, b
                else:
                    self.count("event", "minhash:rejected_pairs")
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
class _AssignParentsFn(_CountingFn):
    def process(self, element):
        node, neighbours = element
        parent, converged = components.assign_parents(node, neighbours)
        if not converged:
            self.count("event", "minhash:unconverged_nodes")
        if parent is not None:
            yield node, parent


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
class _ClusterMembersFn(_CountingFn):
    """(survivor key, {"name": [(url, id)], "members": [keys]}) → (member, (url, id, size))."""

    def process(self, element):
        _, grouped = element
        members = grouped["members"]
        size = 1 + sum(1 for _ in members)
        if size == 1:
            return
        self.count("event", "minhash:clusters")
        self.count("event", cluster_size_name(size))
        for url, doc_id in grouped["name"]:
            for member in members:
                yield member, (url, doc_id, size)
            return


class _DropNearDuplicatesFn(_CountingFn):
    """(key, {"doc": [Document], "kept": [(url, id, size)]}) → Document, or Drop + audit row."""

    def process(self, element):
        _, grouped = element
        kept = list(grouped["kept"])
        for doc in map(as_document, grouped["doc"]):
            if not kept:
                yield doc
                continue
            kept_url, kept_id, size = kept[0]
            drop = doc.drop(STAGE, NEAR_DUPLICATE, detail=kept_id)
            yield self.dropped(drop)
            yield beam.pvalue.TaggedOutput(DUPLICATES, audit.duplicate_record(
                doc.url, document_id(doc), doc.source_file, kept_url, kept_id, size))


@dedup_method(minhash.METHOD, "MinHash")
class MinHashDedup(beam.PTransform):
    """MinHash LSH near-duplicate removal: one survivor per cluster (the smallest key)."""

    def __init__(self, config: DedupConfig = DedupConfig(), max_batch: int = 256):
        super().__init__()
        self._config = config
        self._max_batch = max_batch

    def expand(self, docs):
        config = self._config
        tallies = []
        keyed = docs | "KeyDocs" >> beam.Map(keyed_row)
        hashed = (
            keyed
            | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self._max_batch)
            | "Signatures" >> beam.ParDo(_SignatureFn(config)).with_outputs(PAYLOADS, NAMES, TALLY, main=BANDS)
        )
        tallies.append(hashed[TALLY])
        candidates = (
            hashed[BANDS]
            | "GroupPartitions" >> beam.GroupByKey()
            | "BucketPairs" >> beam.FlatMap(lambda kv, limit: minhash.bucket_candidate_pairs(kv[1], limit),
                                             config.all_pairs_bucket)
            | "DistinctPairs" >> beam.Distinct()
        )
        if config.verify == "none":
            counted = candidates | "CountCandidates" >> beam.ParDo(
                _CountPairsFn("minhash:candidate_pairs")).with_outputs(TALLY, main="pairs")
            edges = counted["pairs"]
            tallies.append(counted[TALLY])
        else:
            verified = (candidates, hashed[PAYLOADS]) | "VerifyPairs" >> VerifyPairs(config.verify, config.threshold)
            edges = verified["pairs"]
            tallies.append(verified[TALLY])
        assigned = edges | "Components" >> ConnectedComponents(config.cc_rounds)
        tallies.append(assigned[TALLY])
        clusters = (
            {"name": hashed[NAMES], "members": assigned["parents"] | "BySurvivor" >> beam.KvSwap()}
            | "JoinSurvivors" >> beam.CoGroupByKey()
            | "ClusterMembers" >> beam.ParDo(_ClusterMembersFn()).with_outputs(TALLY, main="members")
        )
        tallies.append(clusters[TALLY])
        result = (
            {"doc": keyed, "kept": clusters["members"]}
            | "JoinDocs" >> beam.CoGroupByKey()
            | "DropNearDuplicates" >> beam.ParDo(_DropNearDuplicatesFn()).with_outputs(
                DROPPED, TALLY, DUPLICATES, main=KEPT)
        )
        tallies.append(result[TALLY])
        return {
            KEPT: result[KEPT],
            DROPPED: result[DROPPED],
            TALLY: _flatten(tallies, docs.pipeline, "MinHashTallies"),
            DUPLICATES: result[DUPLICATES],
        }


# ---------------------------------------------------------------------------- the stage

class DedupDocuments(beam.PTransform):
    """Documents → {KEPT, DROPPED, TALLY, "duplicates"}: the methods of `config`, in order."""

    def __init__(self, config: DedupConfig = DedupConfig()):
        super().__init__()
        self._config = config

    def expand(self, docs):
        pipeline = docs.pipeline
        drops, tallies, duplicates = [], [], []
        for name in self._config.methods:
            label, transform = TRANSFORMS[name]
            out = docs | label >> transform(self._config)
            drops.append(out[DROPPED])
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
