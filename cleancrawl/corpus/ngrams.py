"""Word n-grams of eval sets, exactly indexed: train/test overlap and decontamination (pure, no I/O).

    words("It's 60 cm!")          -> ["it", "s", "60", "cm"]      lower-cased runs of letters and digits
    index = EvalIndex(8); index.add("held", texts)                 every eval n-gram, with its positions
    index.hits(corpus_text)       -> set of n-gram ids found       (a corpus document, streamed)
    index.report(found_ids)       -> {"held": {"positions", "found", "percent", "documents", "dirty_documents"}}
    Decontaminator(index)(doc)    -> doc | a Drop, reason "contaminated"

Words are Python's `re.findall(r"[^\\W_]+", text.lower())` (GPT-2's overlap study and
lm-evaluation-harness's 13-gram decontamination both normalise case and punctuation away). An
n-gram never crosses a document boundary; a document of fewer than n words has none (so a short
eval line cannot make a phantom match). Every n-gram *position* of an eval set counts, with
multiplicity: an n-gram repeated three times in the eval set counts three times.

Exact, not hashed: the index is a dict keyed by the n-gram's tuple of words, so membership is
decided by comparing the words themselves; no two different n-grams can ever be confused (a
64-bit hash would collide once in ~2^32 pairs; here there is nothing to collide). Memory is
proportional to the eval side only — the distinct eval n-grams (a tuple of shared, interned
word strings each) plus 4 bytes per eval position — and the corpus is streamed past it.

`BloomFilter` is the other way round, GPT-2's: the corpus n-grams go into a fixed-size bit array
(memory fixed, whatever the corpus size) and the eval n-grams are probed; it can only over-count.
`expected_fpr` states its false-positive rate, `measured_fpr` measures it by probing keys that can
never be words (they hold "\\x00").
"""
from __future__ import annotations

import hashlib
import math
import re
import sys
from array import array
from dataclasses import dataclass
from typing import Iterable, Iterator

from cleancrawl.corpus.record import Document, Drop

WORD = re.compile(r"[^\W_]+")
REASON = "contaminated"
DEFAULT_OVERLAP_NGRAM = 8          # GPT-2 (Radford et al. 2019, appendix: 8-gram overlap)
DEFAULT_DECONTAMINATE_NGRAM = 13   # GPT-3 / lm-evaluation-harness / datatrove


def words(text: str) -> list[str]:
    """The words of `text`: lower-cased runs of Unicode letters and digits."""
    return WORD.findall(text.lower())


def ngrams(tokens: list, n: int) -> Iterator[tuple]:
    """Every n-gram of `tokens` as a tuple, in order, with repeats; none when len(tokens) < n."""
    return zip(*(tokens[i:] for i in range(n)))


def ngram_text(gram: tuple) -> str:
    return " ".join(gram)


def check_ngram(n: int, option: str = "--ngram") -> int:
    from cleancrawl.corpus.errors import UserError

    if not isinstance(n, int) or n < 1:
        raise UserError(f"{option} {n}: give a whole number of words, at least 1")
    return n


# ---------------------------------------------------------------------------- the exact eval index

class EvalIndex:
    """Every distinct n-gram of one or more eval sets → an id, and each eval document's positions.

    `sources[s]` is the name of eval set s; `documents[s]` lists, per eval document (blank ones
    skipped by the reader), an array of the n-gram ids at its positions, in order. `first[i]` is
    (source, document) of the first eval document holding n-gram i: the one a decontamination
    audit names.
    """

    def __init__(self, n: int):
        self.n = n
        self.ids: dict[tuple, int] = {}
        self.first: list[tuple[int, int]] = []
        self.sources: list[str] = []
        self.documents: list[list[array]] = []
        self._words: dict[str, str] = {}  # one string object per distinct eval word

    def add(self, name: str, texts: Iterable[str]) -> None:
        """Index the documents `texts` of the eval set `name` (added again: a second set)."""
        source = len(self.sources)
        self.sources.append(name)
        docs: list[array] = []
        self.documents.append(docs)
        ids, intern, n = self.ids, self._words.setdefault, self.n
        for text in texts:
            positions = array("I")
            for gram in ngrams([intern(w, w) for w in words(text)], n):
                i = ids.get(gram)
                if i is None:
                    i = ids[gram] = len(self.first)
                    self.first.append((source, len(docs)))
                positions.append(i)
            docs.append(positions)

    def __len__(self) -> int:
        return len(self.ids)

    def grams(self, text: str) -> set[tuple]:
        """The distinct eval n-grams that occur in `text` (the fast test: a C-level set intersection)."""
        return self.ids.keys() & ngrams(words(text), self.n)

    def hits(self, text: str) -> set[int]:
        """The ids of the eval n-grams that occur in `text`."""
        ids = self.ids
        return {ids[g] for g in self.grams(text)}

    def first_hit(self, text: str) -> tuple[int, tuple] | None:
        """(id, n-gram) of the first eval n-gram in `text`, in the text's word order; None if none."""
        if not self.grams(text):
            return None
        ids = self.ids
        for gram in ngrams(words(text), self.n):
            i = ids.get(gram)
            if i is not None:
                return i, gram
        return None  # unreachable: grams() found one

    def report(self, found: set[int] | frozenset[int]) -> dict:
        """Per eval set: positions, found (positions whose n-gram is in `found`), percent,
        documents, dirty_documents (with at least one found position)."""
        out = {}
        for name, docs in zip(self.sources, self.documents):
            positions = hit = dirty = 0
            for doc in docs:
                k = sum(1 for i in doc if i in found)
                positions += len(doc)
                hit += k
                dirty += k > 0
            out[name] = {"positions": positions, "found": hit,
                         "percent": round(100.0 * hit / positions, 4) if positions else 0.0,
                         "documents": len(docs), "dirty_documents": dirty}
        return out

    def memory_bytes(self) -> int:
        """An estimate of the index's memory (dict + tuples + position arrays + words)."""
        size = sys.getsizeof(self.ids) + sum(sys.getsizeof(g) for g in self.ids)
        size += sum(sys.getsizeof(a) for docs in self.documents for a in docs)
        return size + sum(sys.getsizeof(w) for w in self._words) + sys.getsizeof(self.first) + 64 * len(self.first)


# ---------------------------------------------------------------------------- decontamination stage

@dataclass(frozen=True)
class Contamination:
    """Why a document was dropped: the first of its n-grams found in an eval set."""

    eval_source: str
    eval_document: int     # index of the eval document (0-based, blank documents skipped)
    ngram: str

    @property
    def detail(self) -> str:
        return f"{self.eval_source}#{self.eval_document}: {self.ngram}"[:300]


class Decontaminator:
    """The build stage: drop a document that shares one n-gram with the eval documents.

    `index` is an `EvalIndex` (its n is the stage's n-gram length), built by the caller, which
    reads the eval files (corpus/ reads no files)."""

    def __init__(self, index: EvalIndex):
        self.index = index

    def match(self, doc: Document) -> Contamination | None:
        hit = self.index.first_hit(doc.text)
        if hit is None:
            return None
        i, gram = hit
        source, document = self.index.first[i]
        return Contamination(self.index.sources[source], document, ngram_text(gram))

    def __call__(self, doc: Document) -> Document | Drop:
        found = self.match(doc)
        return doc if found is None else doc.drop(REASON, detail=found.detail)


# ---------------------------------------------------------------------------- Bloom filter (GPT-2's way)

class BloomFilter:
    """A fixed-size Bloom filter of n-grams (a bytearray of `bits` bits, `hashes` probes each).

    Positions by double hashing of a 128-bit BLAKE2b digest of the words (stable across processes,
    so filters built on different workers merge with `|=`). It never misses an n-gram that was
    added; it may answer yes for one that was not (see `expected_fpr`, `measured_fpr`).
    """

    def __init__(self, bits: int, hashes: int = 0, expected_items: int = 0):
        if bits < 8:
            raise ValueError("a Bloom filter needs at least 8 bits")
        self.bits = bits
        # the k that minimises the false-positive rate for the expected number of items
        self.hashes = hashes or (max(1, round(bits / expected_items * math.log(2))) if expected_items else 7)
        self.array = bytearray((bits + 7) // 8)
        self.added = 0

    def _positions(self, gram: tuple) -> Iterator[int]:
        digest = hashlib.blake2b("\x1f".join(gram).encode("utf-8", "surrogatepass"), digest_size=16).digest()
        h1, h2 = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little") | 1
        m = self.bits
        return ((h1 + j * h2) % m for j in range(self.hashes))

    def add(self, gram: tuple) -> None:
        a = self.array
        for p in self._positions(gram):
            a[p >> 3] |= 1 << (p & 7)
        self.added += 1

    def __contains__(self, gram: tuple) -> bool:
        a = self.array
        return all(a[p >> 3] & (1 << (p & 7)) for p in self._positions(gram))

    def __ior__(self, other: "BloomFilter") -> "BloomFilter":
        if (other.bits, other.hashes) != (self.bits, self.hashes):
            raise ValueError("Bloom filters of different shapes cannot be merged")
        merged = int.from_bytes(self.array, "little") | int.from_bytes(other.array, "little")
        self.array = bytearray(merged.to_bytes(len(self.array), "little"))
        self.added += other.added
        return self

    def fill(self) -> float:
        """The fraction of bits set."""
        return int.from_bytes(self.array, "little").bit_count() / self.bits

    def expected_fpr(self, items: int | None = None) -> float:
        """(1 - e^(-k·items/m))^k: the textbook rate for `items` distinct n-grams added (default:
        every add, an upper bound since repeats set no new bit)."""
        items = self.added if items is None else items
        return (1 - math.exp(-self.hashes * items / self.bits)) ** self.hashes

    def measured_fpr(self, probes: int = 100_000) -> float:
        """The share of `probes` n-grams certainly never added (they hold "\\x00", which `words`
        cannot produce) that the filter claims to hold."""
        return sum(("\x00probe", str(i)) in self for i in range(probes)) / probes
