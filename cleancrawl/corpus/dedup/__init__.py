"""Deduplication, the pure parts: what each method decides for one page or one pair.

Three methods, applied in this order when several are chosen:

  c4-lines   C4's repeated-line removal (TFDS C4 v2.2+/v3.1)              corpus.dedup.lines
  c4-spans   C4's three-sentence spans (the T5 paper, TFDS C4 v1.0.0)      corpus.dedup.spans
  minhash    MinHash LSH near-duplicate documents                          corpus.dedup.minhash
             + connected components in rounds (large-star/small-star)     corpus.dedup.components

The Beam side (`pipelines.dedup`) only moves keys between these functions.

Every method needs a total order on documents to pick, among copies, the one that stays.
C4's order is "the smallest MD5(url) hex". URLs are not unique per document (the same URL
can be crawled twice, or a corpus read back without URL dedup), so a document's key is

    document_key(doc) = md5(url) (16 bytes) + md5(url, record_id, source_file, source_offset)[:8]

Byte order of the key is C4's order (bytes of the digest sort as its hex does); documents
with the same URL are then ordered by the second part, which is unique per record and does
not depend on the order pages arrive in, so every runner picks the same survivor.

What the pipeline shuffles is the 16-byte `order_key(doc)`: the first 8 bytes of md5(url), then
the 8 tie-break bytes. It sorts exactly as `document_key` unless two different URLs share the
first 64 bits of their MD5: for a crawl of N URLs about N^2 / 2^65 such pairs are expected
(0.03 at a billion pages), and even then only a line, span or cluster that both pages claim could
have another keeper. Pages of one URL share the whole md5(url), so their order is the tie-break's,
as with `document_key`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from cleancrawl.corpus.errors import UserError
from cleancrawl.options import option

STAGE = "dedup"
@dataclass(frozen=True)
class Method:
    """One dedup method: its `--dedup` name, the module that decides, the `DedupConfig` fields it
    reads (its options) and whether it writes audit rows to OUT/duplicates/. Its Beam composite
    registers under the same name in `pipelines.dedup` (`@dedup_method("name")`)."""

    name: str
    module: str
    options: tuple[str, ...] = ()
    audit: bool = False


# The methods, in the order they run when several are chosen: one line a method.
METHOD_REGISTRY: tuple[Method, ...] = (
    Method("c4-lines", "corpus.dedup.lines", options=("min_sentences",)),
    Method("c4-spans", "corpus.dedup.spans", options=("min_sentences", "span_sentences")),
    Method("minhash", "corpus.dedup.minhash", audit=True,
           options=("ngram", "num_perm", "bands", "rows", "threshold", "verify", "seed", "cc_rounds",
                    "all_pairs_bucket")),
)
METHODS = tuple(m.name for m in METHOD_REGISTRY)       # also the order they run in
DEFAULT_METHODS = ("c4-lines", "minhash")


def method(name: str) -> Method:
    """The registered method called `name` (UserError naming the choices otherwise)."""
    for m in METHOD_REGISTRY:
        if m.name == name:
            return m
    raise UserError(f"unknown dedup method(s) {name}; choose from {', '.join(METHODS)} or none")

VERIFY_MODES = ("exact", "signature", "none")

# Drop reasons of the stage.
DUPLICATE_LINES = "duplicate_lines"      # c4-lines removed lines, then the page was empty / too short
DUPLICATE_SPANS = "duplicate_spans"      # c4-spans removed sentences, then the page was too short
NEAR_DUPLICATE = "near_duplicate"        # minhash: another document of the cluster was kept
TOO_FEW_SENTENCES = "too_few_sentences"  # nothing removed, but C4's re-count of the page falls under 3


@dataclass(frozen=True)
class DedupConfig:
    """Which methods run and their parameters. Defaults: C4 lines + FineWeb-like MinHash.
    Each field's `option()`: its command-line option (cleancrawl/options.py)."""

    methods: tuple[str, ...] = option(
        DEFAULT_METHODS, flag="--dedup", metavar="METHODS", type=lambda text: parse_methods(text),
        help="comma-separated, run in this order: c4-lines (C4's repeated-line removal), c4-spans (C4 paper's "
             "three-sentence spans), minhash (near-duplicate documents); or none (default: %(default)s)")
    # C4 (lines and spans)
    min_sentences: int = option(3, help=(
        "c4-lines/c4-spans: drop pages left with fewer Punkt sentences (default: %(default)s)"))
    span_sentences: int = option(3, cli=False, help="c4-spans: sentences a span")
    # MinHash LSH
    ngram: int = option(  # words per shingle
        5, flag="--minhash-ngram", metavar="N",
        help="words per shingle, after lowercasing and removing punctuation (default: %(default)s)")
    num_perm: int = option(  # signature length
        112, flag="--minhash-num-perm", metavar="N", help="signature length, >= bands x rows (default: %(default)s)")
    bands: int = option(  # b: LSH bands ...
        14, flag="--minhash-bands", metavar="B", cli_default=None,
        help="LSH bands (default: 14, or chosen for --minhash-threshold)")
    rows: int = option(  # r: ... of r rows each (b * r <= num_perm)
        8, flag="--minhash-rows", metavar="R", cli_default=None,
        help="signature values per band (default: 8, or chosen for --minhash-threshold)")
    threshold: float = option(  # Jaccard at which two documents are near-duplicates
        0.8, flag="--minhash-threshold", metavar="J", cli_default=None,
        help="Jaccard similarity at which two documents are near-duplicates (default: 0.8); "
             "without --minhash-bands/--minhash-rows, also chooses bands x rows for it")
    verify: str = option(  # exact: Jaccard of shingle sets; signature: estimate; none
        "exact", flag="--minhash-verify", choices=VERIFY_MODES,
        help="check candidate pairs before merging them: exact Jaccard of the shingle sets, the signature "
             "estimate, or none (every LSH candidate is a duplicate) (default: %(default)s)")
    seed: int = option(1, flag="--minhash-seed", help="seed of the hash functions (default: %(default)s)")
    cc_rounds: int = option(  # (LSH graphs: 2-4; a path of 3,000: 10)
        10, flag="--minhash-cc-rounds", metavar="N",
        help="large-star/small-star round pairs for the clusters (default: %(default)s)")
    all_pairs_bucket: int = option(  # buckets up to this size give all pairs, larger ones a star
        8, cli=False, help="LSH buckets up to this size give all pairs, larger ones a star")
    # The key shuffles' groups (line/span claims, MinHash band entries, URL dedup's claims): few for
    # a small corpus, where a bundle's keys would otherwise scatter into ~1 group each, many for a
    # large one, where a group is what one worker sorts. 1: 256 groups (256 a band); 2: 65,536 (4,096 a band); 0:
    # chosen from the input (`for_inputs`). The decisions are the same whatever the grouping.
    partition_bytes: int = option(0, cli=False, record=False,
                                  help="key shuffle groups: 1 (256), 2 (65,536), 0 (from the input)")

    @property
    def shuffle_partition_bytes(self) -> int:
        """`partition_bytes`, or 2 where none was chosen (a dedup stage built on its own)."""
        return self.partition_bytes or 2

    def for_inputs(self, input_files: int) -> "DedupConfig":
        """This config with `partition_bytes` chosen where it is 0: 1 for up to 64 input files
        (Common Crawl's are ~40,000 pages each: at most ~10 MB of claims a group), else 2."""
        if self.partition_bytes:
            return self
        return replace(self, partition_bytes=1 if input_files <= 64 else 2)

    @classmethod
    def from_options(cls, values: dict) -> "DedupConfig":
        """From command-line / --config values, where bands, rows and threshold may be None (not
        given). Bands x rows: both given, used as given; one given, the other fills num_perm;
        neither, 14 x 8, or chosen for the threshold when that is given."""
        values = dict(values)
        threshold, bands, rows = (values.pop(k, None) for k in ("threshold", "bands", "rows"))
        num_perm = values.get("num_perm", cls.num_perm)
        derive = threshold is not None and bands is None and rows is None
        if bands is None and rows is None:
            bands, rows = cls.bands, cls.rows
        elif bands is None:
            bands = max(1, num_perm // rows)
        elif rows is None:
            rows = max(1, num_perm // bands)
        config = cls(**values, bands=bands, rows=rows, threshold=cls.threshold if threshold is None else threshold)
        return config.with_threshold(threshold) if derive else config

    def __post_init__(self):
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise UserError(f"unknown dedup method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)} or none")
        if self.verify not in VERIFY_MODES:
            raise UserError(f"unknown verification {self.verify!r}; choose from {', '.join(VERIFY_MODES)}")
        if self.bands < 1 or self.rows < 1 or self.bands * self.rows > self.num_perm:
            raise UserError(f"bands x rows ({self.bands} x {self.rows}) must be at least 1 and fit in num_perm "
                            f"({self.num_perm})")
        if not 0.0 < self.threshold <= 1.0:
            raise UserError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.ngram < 1 or self.cc_rounds < 1 or self.all_pairs_bucket < 2:
            raise UserError("ngram and cc_rounds must be >= 1, all_pairs_bucket >= 2")
        if self.partition_bytes not in (0, 1, 2):
            raise UserError(f"dedup partition_bytes must be 0 (from the input), 1 or 2, got {self.partition_bytes!r}")
        object.__setattr__(self, "methods", tuple(m for m in METHODS if m in self.methods))

    def options_of(self, name: str) -> dict:
        """The values of the options method `name` reads, e.g. for a log line or a test."""
        return {f: getattr(self, f) for f in method(name).options}

    def with_threshold(self, threshold: float) -> "DedupConfig":
        """The same config at another Jaccard threshold, with b x r chosen for it."""
        from cleancrawl.corpus.dedup.minhash import optimal_bands

        bands, rows = optimal_bands(threshold, self.num_perm, verified=self.verify != "none")
        return replace(self, threshold=threshold, bands=bands, rows=rows)


def parse_methods(value: str) -> tuple[str, ...]:
    """'c4-lines,minhash' -> ('c4-lines', 'minhash'); 'none' or '' -> ()."""
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if names in ((), ("none",)):
        return ()
    if "none" in names:
        raise UserError("--dedup none cannot be combined with other methods")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        raise UserError(f"unknown dedup method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)} or none")
    return names


def md5_hex(text: str) -> str:
    """C4's `_hash_text`."""
    return hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()


def document_key(doc) -> bytes:
    """24 bytes whose byte order is C4's survivor order (see the module docstring)."""
    url = doc.url.encode("utf-8", "surrogatepass")
    record = "\x00".join((doc.url, doc.record_id, doc.source_file, str(doc.source_offset)))
    return hashlib.md5(url).digest() + hashlib.md5(record.encode("utf-8", "surrogatepass")).digest()[:8]


ORDER_KEY_BYTES = 16


def order_key(doc) -> bytes:
    """16 bytes, `document_key` without bytes 8-15 of md5(url): C4's order, see the module docstring."""
    key = document_key(doc)
    return key[:8] + key[16:]


def document_id(doc) -> str:
    """A readable id: the WARC record id, else `source_file#offset`, else the URL."""
    if doc.record_id:
        return doc.record_id
    if doc.source_file:
        return f"{doc.source_file}#{doc.source_offset}"
    return doc.url


