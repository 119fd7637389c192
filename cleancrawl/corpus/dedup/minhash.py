"""MinHash signatures, LSH band keys and pair verification, vectorised with numpy.

A document becomes a set of shingles: the 64-bit hashes of its word n-grams (default 5)
after normalisation (lowercase, every run of digits -> "0", every run of non-word
characters -> one space). The signature is `num_perm` minima of the shingles under as many
hash functions; documents whose signatures agree on all `rows` values of any of `bands`
bands are candidate pairs (LSH). A candidate pair is a near-duplicate when its Jaccard
similarity is >= `threshold`: computed exactly on the shingle sets ("exact", default),
estimated from the signatures ("signature"), or taken on trust ("none", like datatrove).

Why it is fast (no Python loop per character, word or shingle):
  - words: the code points of the lowercased text are classified by one table lookup
    (letter/digit/separator, the same classes as the regexes of `normalize_text`);
  - word hashes: one prefix sum of a polynomial hash (mod 2^64) over the code points; a
    word's hash is the difference of two prefix values;
  - shingle hashes: a weighted sum of n shifted word-hash arrays, then a 64-bit mixer;
  - signatures: permutation i is x -> a_i * x + b_i (mod 2^32, a_i odd) on the low 32 bits
    of the (already well mixed) shingle hash: a bijection of the 32-bit values, so the
    minimum is a min-wise sample; native 32-bit SIMD multiplies, one (num_perm x shingles)
    array operation per 4096 shingles, so memory stays bounded for any document.
These hashes are stable across processes and machines (no Python `hash`).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import math
import re
from dataclasses import dataclass

import numpy as np

from cleancrawl.corpus import _minhash_kernel as _kernel

_log = logging.getLogger(__name__)
METHOD = "minhash"
_U64 = np.uint64
_NON_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")
_POLY = 0x9E3779B97F4A7C15          # odd multiplier of the byte polynomial
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)  # splitmix64 finaliser
_CHUNK = 4096                        # shingles per signature chunk: 112 x 4096 x 4 B = 1.8 MB
_BATCH_CHARS = 1 << 16               # characters per shingling batch


# ---------------------------------------------------------------------------- shingles

def normalize_text(text: str) -> str:
    """The normalisation, as regexes (the definition; `word_hashes` computes the same with
    numpy): lowercase, each run of decimal digits -> "0", each run of characters that are
    not letters or digits (punctuation, symbols, whitespace, "_") -> one space."""
    text = _DIGITS.sub("0", text.lower())
    return _NON_WORD.sub(" ", text).strip()


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, element-wise (wrapping uint64 arithmetic)."""
    x = x ^ (x >> _U64(30))
    x = x * _MIX1
    x = x ^ (x >> _U64(27))
    x = x * _MIX2
    return x ^ (x >> _U64(31))


_SEPARATOR, _WORD, _DIGIT = 0, 1, 2


@functools.lru_cache(maxsize=1)
def _char_classes() -> np.ndarray:
    """Class of every code point: digit (str.isdecimal, regex \\d), word (str.isalnum, regex
    \\w without "_"), or separator. 1.1 MB, built once per process (~0.5 s)."""
    classes = np.fromiter((chr(c).isalnum() for c in range(0x110000)), dtype=np.uint8, count=0x110000)
    digits = np.fromiter((chr(c).isdecimal() for c in range(0x110000)), dtype=bool, count=0x110000)
    classes[digits] = _DIGIT
    return classes


class _Powers:
    """P^i and P^-i mod 2^64 for i < n, grown on demand (one per process)."""

    def __init__(self):
        self.forward = np.ones(0, dtype=_U64)
        self.inverse = np.ones(0, dtype=_U64)

    def ensure(self, n: int) -> None:
        if n <= len(self.forward):
            return
        size = max(n, 2 * len(self.forward), 1 << 16)
        self.forward = _power_series(_POLY, size)
        self.inverse = _power_series(pow(_POLY, -1, 1 << 64), size)


def _power_series(base: int, size: int) -> np.ndarray:
    """[1, base, base^2, ...] mod 2^64."""
    series = np.empty(size, dtype=_U64)
    series[0] = 1
    with np.errstate(over="ignore"):
        np.cumprod(np.full(size - 1, base, dtype=_U64), out=series[1:])
    return series


_POWERS = _Powers()


def _words(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points → (word hashes, word start positions, positions kept after digit runs).

    A table lookup classifies code points; a run of digits keeps its first code point, as
    "0"; a word's hash is sum(cp[i] * P^(i - start)) from one prefix sum, plus its length.
    """
    classes = _char_classes()[codes]
    digit = classes == _DIGIT
    kept = None
    if digit.any():
        repeat = np.zeros(len(codes), dtype=bool)
        repeat[1:] = digit[1:] & digit[:-1]
        kept = ~repeat
        codes = np.where(digit, np.uint32(48), codes)[kept]
        classes = classes[kept]
    edges = np.diff(np.concatenate(([0], (classes != _SEPARATOR).astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    n = len(codes)
    _POWERS.ensure(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=_U64)
        np.cumsum(codes.astype(_U64) * _POWERS.forward[:n], out=prefix[1:])
        words = (prefix[ends] - prefix[starts]) * _POWERS.inverse[starts]
        words += (ends - starts).astype(_U64)  # the length, so no word hashes as its prefix
        return _mix(words), starts, kept


def word_hashes(text: str) -> np.ndarray:
    """64-bit hash of each word of `normalize_text(text)`, in order (uint64 array)."""
    codes = np.frombuffer(text.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if len(codes) == 0:
        return np.zeros(0, dtype=_U64)
    return _words(codes)[0]


def reference_word_hash(word: str) -> int:
    """`word_hashes` for one normalised word, in plain Python (the definition, for tests)."""
    mask = (1 << 64) - 1
    value = sum(ord(c) * pow(_POLY, i, 1 << 64) for i, c in enumerate(word)) + len(word)
    return int(_mix(np.array([value & mask], dtype=_U64))[0])


@functools.lru_cache(maxsize=8)
def _ngram_weights(n: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(0x5EED))
    return rng.integers(0, 1 << 63, size=n, dtype=_U64) * _U64(2) + _U64(1)


def batch_shingles(texts: list[str], ngram: int = 5) -> list[np.ndarray]:
    """Each text's shingle set: sorted unique 64-bit hashes of its word n-grams.

    Texts go through numpy together, up to `_BATCH_CHARS` characters at a time ("\\n"-joined,
    so that no word spans two texts): numpy's per-call cost is paid once a batch, not once a
    document, and the arrays stay cache-sized. A text with fewer than `ngram` words is one
    shingle of all its words; no words, no shingles.
    """
    result: list[np.ndarray] = []
    start = size = 0
    for end, text in enumerate(texts):
        if end > start and size + len(text) > _BATCH_CHARS:
            result += _batch_shingles(texts[start:end], ngram)
            start, size = end, 0
        size += len(text) + 1
    return result + _batch_shingles(texts[start:], ngram) if start < len(texts) else result


def _joined_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The lowercased texts' code points, "\n"-joined, and the position of the separator after
    each text (the last one is the end)."""
    lowered = [t.lower() for t in texts]
    codes = np.frombuffer("\n".join(lowered).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return codes, np.cumsum([len(t) + 1 for t in lowered]) - 1


def _batch_shingles(texts: list[str], ngram: int) -> list[np.ndarray]:
    codes, separators = _joined_codes(texts)
    if _compiled_shingles_work():
        return _compiled_shingles(codes, separators, len(texts), ngram)
    return _numpy_shingles(codes, separators, len(texts), ngram)


def _compiled_shingles(codes: np.ndarray, separators: np.ndarray, n_texts: int, ngram: int) -> list[np.ndarray]:
    flat, bounds = _kernel.shingles(codes, _char_classes(), separators, ngram, _ngram_weights(ngram), _U64(_POLY))
    return [flat[bounds[i]:bounds[i + 1]] for i in range(n_texts)]


@functools.lru_cache(maxsize=1)
def _compiled_shingles_work() -> bool:
    """Whether the compiled kernel (`_minhash_kernel`) is there and agrees with the numpy path on
    a few texts (this compiles it, or loads it from numba's cache, once per process)."""
    if not _kernel.AVAILABLE:
        return False
    texts = ["The 2019 Budget: 1,250,000 dollars for schools, roads and 3 new parks.\nÜBER straße",
             "", "a b", "Ελληνικά κείμενα 123 και ΑΡΙΘΜΟΙ ٣٤ 東京 😀 𐐀𐐁 _x_ 7"] * 2
    try:
        with _kernel.scipy_hidden():
            codes, separators = _joined_codes(texts)
            for ngram in (1, 3, 5):
                compiled = _compiled_shingles(codes, separators, len(texts), ngram)
                reference = _numpy_shingles(codes, separators, len(texts), ngram)
                if not all(np.array_equal(a, b) for a, b in zip(compiled, reference)):
                    _log.warning("compiled MinHash shingling differs from the numpy path; using numpy")
                    return False
    except Exception as error:  # a numba that cannot compile the kernel counts as none
        _log.warning("compiled MinHash shingling unavailable (%s: %s); using numpy", type(error).__name__, error)
        return False
    return True


def _numpy_shingles(codes: np.ndarray, separators: np.ndarray, n_texts: int, ngram: int) -> list[np.ndarray]:
    """The reference: `_batch_shingles` in whole-array numpy steps."""
    words, starts, kept = _words(codes)
    if kept is not None:
        separators = (np.cumsum(kept) - 1)[np.minimum(separators, len(kept) - 1)] + (separators >= len(kept))
    doc_of_word = np.searchsorted(separators, starts)
    counts = np.bincount(doc_of_word, minlength=n_texts)
    shingles, doc_of_shingle = _ngrams(words, doc_of_word, counts, ngram)
    order = np.lexsort((shingles, doc_of_shingle))
    shingles, doc_of_shingle = shingles[order], doc_of_shingle[order]
    if len(shingles) > 1:
        repeat = np.zeros(len(shingles), dtype=bool)
        repeat[1:] = (shingles[1:] == shingles[:-1]) & (doc_of_shingle[1:] == doc_of_shingle[:-1])
        shingles, doc_of_shingle = shingles[~repeat], doc_of_shingle[~repeat]
    bounds = np.searchsorted(doc_of_shingle, np.arange(n_texts + 1))
    return [shingles[bounds[i]:bounds[i + 1]] for i in range(n_texts)]


def _ngrams(words, doc_of_word, counts, ngram):
    """Hashes of every n-gram that lies inside one text, and the text each belongs to."""
    weights = _ngram_weights(ngram)
    parts, owners = [], []
    with np.errstate(over="ignore"):
        if len(words) >= ngram:
            count = len(words) - ngram + 1
            combined = np.zeros(count, dtype=_U64)
            for j in range(ngram):
                combined += words[j:j + count] * weights[j]
            inside = doc_of_word[:count] == doc_of_word[ngram - 1:]
            parts.append(_mix(combined[inside]))
            owners.append(doc_of_word[:count][inside])
        offsets = np.concatenate(([0], np.cumsum(counts)))
        for doc in np.flatnonzero((counts > 0) & (counts < ngram)):  # short texts: one shingle
            span = words[offsets[doc]:offsets[doc + 1]]
            parts.append(_mix(np.array([(span * weights[:len(span)]).sum(dtype=_U64)], dtype=_U64)))
            owners.append(np.array([doc]))
    if not parts:
        return np.zeros(0, dtype=_U64), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(owners).astype(np.int64)


def shingle_hashes(text: str, ngram: int = 5) -> np.ndarray:
    """One text's shingle set (see `batch_shingles`)."""
    return batch_shingles([text], ngram)[0]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted unique shingle arrays."""
    if len(a) == 0 and len(b) == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (len(a) + len(b) - inter)


# ---------------------------------------------------------------------------- signatures

@dataclass(frozen=True)
class LshParams:
    num_perm: int = 112
    bands: int = 14
    rows: int = 8
    seed: int = 1
    ngram: int = 5


class MinHasher:
    """Signatures and LSH band keys for one parameter set (create once per worker)."""

    def __init__(self, params: LshParams = LshParams()):
        self.params = params
        rng = np.random.Generator(np.random.PCG64(params.seed))
        self._a = (rng.integers(0, 1 << 32, size=params.num_perm, dtype=np.uint32) | np.uint32(1))[:, None]
        self._b = rng.integers(0, 1 << 32, size=params.num_perm, dtype=np.uint32)[:, None]
        self._band_weights = rng.integers(0, 1 << 63, size=params.rows, dtype=_U64) * _U64(2) + _U64(1)
        self._buffer = np.empty((params.num_perm, _CHUNK), dtype=np.uint32)

    def signature(self, shingles: np.ndarray) -> np.ndarray | None:
        """uint32[num_perm] signature of a shingle set; None for an empty set."""
        if len(shingles) == 0:
            return None
        return self.batch_signatures([shingles])[0]

    def batch_signatures(self, shingle_sets: list[np.ndarray]) -> np.ndarray:
        """(documents x num_perm) uint32 signatures; an empty set's row is all 0xFFFFFFFF.

        Documents are packed into chunks of about `_CHUNK` shingles; one (num_perm x chunk)
        multiply-add, then `minimum.reduceat` over each document's columns.
        """
        result = np.full((len(shingle_sets), self.params.num_perm), np.iinfo(np.uint32).max, dtype=np.uint32)
        sizes = np.array([len(s) for s in shingle_sets])
        group: list[int] = []
        filled = 0
        for doc in np.flatnonzero(sizes):
            if sizes[doc] > _CHUNK:
                result[doc] = self._large_signature(shingle_sets[doc])
                continue
            if filled + sizes[doc] > _CHUNK:
                self._group_signatures(shingle_sets, group, result)
                group, filled = [], 0
            group.append(doc)
            filled += sizes[doc]
        if group:
            self._group_signatures(shingle_sets, group, result)
        return result

    def _group_signatures(self, shingle_sets, group, result) -> None:
        low = np.concatenate([shingle_sets[d] for d in group]).astype(np.uint32)  # low 32 bits
        values = self._buffer[:, :len(low)]
        with np.errstate(over="ignore"):
            np.multiply(self._a, low[None, :], out=values)
            np.add(values, self._b, out=values)
        starts = np.cumsum([0] + [len(shingle_sets[d]) for d in group[:-1]])
        result[group] = np.minimum.reduceat(values, starts, axis=1).T

    def _large_signature(self, shingles: np.ndarray) -> np.ndarray:
        low = shingles.astype(np.uint32)
        best = np.full(self.params.num_perm, np.iinfo(np.uint32).max, dtype=np.uint32)
        with np.errstate(over="ignore"):
            for start in range(0, len(low), _CHUNK):
                chunk = low[None, start:start + _CHUNK]
                values = self._buffer[:, :chunk.shape[1]]
                np.multiply(self._a, chunk, out=values)
                np.add(values, self._b, out=values)
                np.minimum(best, values.min(axis=1), out=best)
        return best

    def text_signature(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        shingles = shingle_hashes(text, self.params.ngram)
        return shingles, self.signature(shingles)

    def band_keys(self, signature: np.ndarray) -> list[bytes]:
        """One key per band: 2 bytes of band index + 8 bytes hashing the band's rows."""
        return self.batch_band_keys(signature[None, :])[0]

    def batch_band_keys(self, signatures: np.ndarray) -> list[list[bytes]]:
        """Band keys of each row of a (documents x num_perm) signature matrix."""
        b, r = self.params.bands, self.params.rows
        rows = signatures[:, : b * r].reshape(len(signatures), b, r).astype(_U64)
        with np.errstate(over="ignore"):
            hashed = _mix((rows * self._band_weights[None, None, :]).sum(axis=2, dtype=_U64))
        raw = hashed.astype(">u8").tobytes()
        prefixes = [i.to_bytes(2, "big") for i in range(b)]
        return [[prefixes[i] + raw[8 * (d * b + i):8 * (d * b + i + 1)] for i in range(b)]
                for d in range(len(signatures))]


# ---------------------------------------------------------------------------- LSH buckets
#
# A bucket is the set of documents with the same key in one band. Grouping by the full key
# gives one group per (band, key), mostly singletons; instead documents are grouped by a
# partition of the key space (the band and the first `partition_bits` bits of the key: 4,096
# partitions a band at 12 bits) and each partition is sorted to find its buckets, as datatrove's
# sorted bucket files do. A partition holds about 2^-bits of a band's entries (8 MB per band at a
# billion documents and 12 bits), and the group-by handles 32-byte strings instead of millions of
# tiny groups. The pipeline takes fewer bits for a small corpus (`partition_bits`).

PARTITION_BITS = 12


def partition_bits(partition_bytes: int) -> int:
    """Bits of the band key a partition takes, for `DedupConfig.partition_bytes`: 8 (256
    partitions a band) for 1, 12 (4,096) for 2."""
    return 8 if partition_bytes == 1 else PARTITION_BITS


DIGEST_BYTES = 8


def shingle_digest(shingles: np.ndarray) -> bytes:
    """8 bytes naming a shingle set (BLAKE2b of its sorted hashes). Documents in one LSH bucket
    with the same digest are taken to have the same set, Jaccard 1, without shipping the sets:
    wrongly only if two different sets collide in 64 bits, about 2^-64 per pair of documents
    that share a bucket."""
    return hashlib.blake2b(shingles.tobytes(), digest_size=DIGEST_BYTES).digest()


def band_entry(band_key: bytes, doc_key: bytes, digest: bytes = b"", bits: int = PARTITION_BITS) -> tuple[bytes, bytes]:
    """(partition, entry): partition = the band (2 bytes) + the first `bits` (<= 16) bits of the
    key; entry = the band key's 8 hash bytes + the shingle set's digest (when given) + the
    document key, so that sorting a partition's entries sorts by bucket."""
    head = int.from_bytes(band_key[2:4], "big") >> (16 - bits)
    return band_key[:2] + head.to_bytes(2, "big"), band_key[2:] + digest + doc_key


def bucket_edges(entries, all_pairs_bucket: int = 8, digest_bytes: int = 0, identical: bool = True):
    """(a, b, same) of one partition's entries (any order), a < b.

    With digests (`digest_bytes`, see `band_entry`), the members of a bucket with the same digest
    have the same shingle set, so the same signature and the same bucket in every band: each is
    joined to the smallest of them, its representative, by an edge (rep, member, True) that needs
    no verification (given only when `identical`: one band is enough). Candidate pairs
    (a, b, False) are then drawn among the representatives only: all pairs in a bucket of up to
    `all_pairs_bucket` representatives, a star from the smallest one in a larger bucket. A cluster
    of n copies thus gives n - 1 edges and one representative to verify, not n^2 / 2 pairs.
    Without digests every member is its own representative.
    """
    entries = sorted(entries)
    start = 0
    while start < len(entries):
        bucket = entries[start][:8]
        end = start + 1
        while end < len(entries) and entries[end][:8] == bucket:
            end += 1
        if digest_bytes:
            reps: dict[bytes, bytes] = {}
            members = [(e[8:8 + digest_bytes], e[8 + digest_bytes:]) for e in entries[start:end]]
            for digest, node in members:
                if digest not in reps or node < reps[digest]:
                    reps[digest] = node
            if identical:
                for digest, node in members:
                    if node != reps[digest]:
                        yield reps[digest], node, True
            nodes = sorted(set(reps.values()))
        else:
            nodes = sorted({e[8:] for e in entries[start:end]})
        if len(nodes) <= all_pairs_bucket:
            for i, a in enumerate(nodes):
                for b in nodes[i + 1:]:
                    yield a, b, False
        else:
            for b in nodes[1:]:
                yield nodes[0], b, False
        start = end


def bucket_candidate_pairs(entries, all_pairs_bucket: int = 8):
    """Candidate pairs (a, b), a < b, of one partition's entries without digests (`bucket_edges`):
    all pairs in a bucket of up to `all_pairs_bucket` documents, else a star from its smallest
    document, which is enough for the connected components and keeps the pair count linear."""
    for a, b, _ in bucket_edges(entries, all_pairs_bucket):
        yield a, b


def signature_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard: the fraction of equal signature values."""
    return float(np.count_nonzero(a == b)) / len(a)


def similarity(payload_a: bytes, payload_b: bytes, verify: str) -> float:
    """Similarity of a candidate pair from the payloads the pipeline ships for verification:
    shingle arrays (exact) or signatures (signature), as raw bytes."""
    if verify == "exact":
        return jaccard(np.frombuffer(payload_a, dtype=_U64), np.frombuffer(payload_b, dtype=_U64))
    return signature_similarity(np.frombuffer(payload_a, dtype=np.uint32), np.frombuffer(payload_b, dtype=np.uint32))


# ---------------------------------------------------------------------------- choosing b x r

def candidate_probability(similarity: np.ndarray | float, bands: int, rows: int):
    """P(two documents with Jaccard s share at least one band) = 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - np.power(similarity, rows)) ** bands


def optimal_bands(threshold: float, num_perm: int = 112, verified: bool = True) -> tuple[int, int]:
    """b, r (b * r <= num_perm) minimising weighted false-positive + false-negative area.

    As datasketch's `_optimal_param`, but when candidates are verified a false positive only
    costs a comparison while a false negative is a missed duplicate, so misses weigh 4x.
    """
    fp_weight, fn_weight = (0.2, 0.8) if verified else (0.5, 0.5)
    grid_low = np.linspace(0.0, threshold, 201)
    grid_high = np.linspace(threshold, 1.0, 201)
    best, best_cost = (1, num_perm), math.inf
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            fp = np.trapezoid(candidate_probability(grid_low, bands, rows), grid_low)
            fn = np.trapezoid(1.0 - candidate_probability(grid_high, bands, rows), grid_high)
            cost = fp_weight * fp + fn_weight * fn
            if cost < best_cost - 1e-12:
                best, best_cost = (bands, rows), cost
    return best
