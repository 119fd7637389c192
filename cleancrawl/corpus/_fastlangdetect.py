"""langdetect 1.0.9's algorithm, step for step, with the per-character Python work taken out.

`corpus.langid` is the public face; this module holds the machinery. Every step mirrors a
method of `langdetect.detector.Detector` and must stay *bit-identical* to it, because C4
keeps a page on `probability >= 0.99` and a last-bit difference can flip that decision:

  Detector.append            -> prepare_code_points (URLs, e-mails, Vietnamese marks, truncation)
  Detector.cleaning_text     -> prepare_code_points (drop Latin letters when other scripts dominate)
  Detector._extract_ngrams   -> NgramExtractor      (the same 1-3 grams, in the same order)
  Detector._detect_block     -> estimate_language_probabilities (same draws, same floats)
  Detector._sort_probability -> rank_languages

Where langdetect spends its time, and what replaces it:
- `NGram.normalize` + `NGram.add_char` once per character (~75% on a 5 KB page): the text is
  normalised in one numpy gather through a table built by calling `NGram.normalize` itself
  (once per code point, at start-up); the n-grams langdetect emits at a character depend only
  on it and the two before it, and its buffer restarts at every space, so they are cached per
  word and, for new words, per 3-character window.
- the 55-language update in a Python loop: numpy, the five updates between two normalisations
  at a time. Element-wise float64 `+`, `*`, `/` round exactly like Python floats; the product
  over the factor rows is numpy's sequential multiply reduce (tests check it); the normalising
  sum is the builtin `sum` over a list, so it adds in langdetect's order on any Python.
- `random.choice` once per update: the draws are read off the generator's raw 32-bit output
  in one vectorised pass (`_StreamDraws`). That reproduces CPython's `Random` (`random()`,
  `gauss()`, `_randbelow`), so it is checked against a real `random.Random` when an identifier
  is built, and `_LibraryDraws` (the real generator, one call per draw) is used if it differs.

`ReferenceEngine` puts extraction and trials together. It is the reference: the compiled engine
(`corpus._langdetect_kernel`, numba; 5-10x faster per page) runs the same steps as machine code
and is tested against it and against langdetect; `corpus.langid` falls back to this one where
numba is missing.
"""
from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from itertools import repeat

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
from langdetect.utils.ngram import NGram

# Detector's constants, read from langdetect rather than repeated.
N_TRIAL = 7  # set in Detector.__init__ (an instance attribute, so not readable from the class)
ALPHA_DEFAULT = Detector.ALPHA_DEFAULT
ALPHA_WIDTH = Detector.ALPHA_WIDTH
ITERATION_LIMIT = Detector.ITERATION_LIMIT
PROB_THRESHOLD = Detector.PROB_THRESHOLD
CONV_THRESHOLD = Detector.CONV_THRESHOLD
BASE_FREQ = Detector.BASE_FREQ
NORMALIZE_EVERY = 5  # _detect_block normalises when i % 5 == 0

_CODE_POINT = np.dtype("<u4")  # UTF-32-LE code units: one per character, surrogates included
_BMP_SIZE = 0x10000


# ----------------------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class ProfileTable:
    """The loaded profiles: the languages (in langdetect's order) and each gram's row."""

    languages: tuple[str, ...]        # the factory's langlist order: sums run in this order
    gram_rows: dict[str, int]         # n-gram -> row of `probabilities`
    probabilities: np.ndarray         # float64 [n_grams, n_languages]: word_lang_prob_map values


def load_profiles(profile_directory: str = PROFILES_DIRECTORY) -> ProfileTable:
    """Read langdetect's bundled profiles into arrays, as `DetectorFactory.load_profile` would.

    Mirrors the factory step for step: files in `os.listdir` order (it matters: it is the order
    of the normalising sum), names starting with '.' and non-files skipped but still counted in
    the table's width, each 1-3 gram's probability `1.0 * freq / n_words[len - 1]` (the same
    float64 division), longer grams present with zeros. Going through the factory itself costs
    ~0.5 s per process in Python loops, paid again by every pipeline worker; this is ~0.1 s.
    `load_profiles_through_factory` is the slow original, kept as the tests' oracle.
    """
    names = os.listdir(profile_directory)
    if not names:
        raise ValueError(f"{profile_directory}: no language profiles")
    languages: list[str] = []
    gram_rows: dict[str, int] = {}
    cells: list[tuple[list[int], int, np.ndarray]] = []  # (rows, column, probabilities)
    for name in names:
        path = os.path.join(profile_directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            profile = json.load(f)
        if profile["name"] in languages:
            raise ValueError(f"{path}: a second profile for {profile['name']!r}")
        column = len(languages)
        languages.append(profile["name"])
        grams = list(profile["freq"])
        rows = [gram_rows.setdefault(gram, len(gram_rows)) for gram in grams]
        lengths = np.fromiter(map(len, grams), dtype=np.int64, count=len(grams))
        freqs = np.fromiter(profile["freq"].values(), dtype=np.float64, count=len(grams))
        scored = (lengths >= 1) & (lengths <= 3)
        n_words = np.asarray(profile["n_words"] + [1] * 3, dtype=np.float64)  # padded: unscored grams
        probabilities = np.where(scored, freqs / n_words[np.clip(lengths - 1, 0, 2)], 0.0)
        cells.append((rows, column, probabilities))
    table = np.zeros((len(gram_rows), len(names)), dtype=np.float64)
    for rows, column, probabilities in cells:
        table[rows, column] = probabilities
    return ProfileTable(languages=tuple(languages), gram_rows=gram_rows, probabilities=table)


def load_profiles_through_factory(profile_directory: str = PROFILES_DIRECTORY) -> ProfileTable:
    """The same table built by langdetect's own `DetectorFactory` (slow; the tests' oracle)."""
    factory = DetectorFactory()
    factory.load_profile(profile_directory)
    grams = list(factory.word_lang_prob_map)
    probabilities = np.array([factory.word_lang_prob_map[g] for g in grams], dtype=np.float64)
    return ProfileTable(
        languages=tuple(factory.langlist),
        gram_rows={g: row for row, g in enumerate(grams)},
        probabilities=probabilities,
    )


# ----------------------------------------------------------------------------------------
# Text preparation: Detector.append + Detector.cleaning_text


def prepare_code_points(text: str, max_text_length: int) -> np.ndarray:
    """The characters langdetect extracts n-grams from, as UTF-32 code points.

    `append` also collapses runs of spaces; that is left out because it cannot change the
    n-grams (a space after a space emits nothing in NGram.add_char) and it runs after the
    truncation, so it does not change which characters are kept either.
    """
    # The regexes cannot match without these characters, so the scans are skipped then.
    if "http" in text:
        text = Detector.URL_RE.sub(" ", text)
    if "@" in text:
        text = Detector.MAIL_RE.sub(" ", text)
    if any(mark in text for mark in NGram.DMARK_CLASS):
        text = NGram.normalize_vi(text)
    text = text[:max_text_length]
    code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=_CODE_POINT)
    if text.isascii():
        return code_points  # nothing >= U+0300, so cleaning_text's `latin * 2 < 0` cannot hold
    return _drop_latin_if_minority(code_points)


def _drop_latin_if_minority(code_points: np.ndarray) -> np.ndarray:
    """cleaning_text: remove 'A'..'z' when other scripts outnumber them two to one.

    langdetect meant to leave the Latin Extended Additional block out of the non-Latin count,
    but compares `unicode_block(ch)` (an int) with a string, so that test is always true and
    every character >= U+0300 counts as non-Latin. Reproduced as it behaves.
    """
    latin = (code_points >= ord("A")) & (code_points <= ord("z"))  # includes [\]^_` as it does
    latin_count = int(np.count_nonzero(latin))
    non_latin_count = int(np.count_nonzero(code_points >= 0x0300))
    if latin_count * 2 < non_latin_count:
        return code_points[~latin]
    return code_points


# ----------------------------------------------------------------------------------------
# N-gram extraction: Detector._extract_ngrams


class _CharacterNormalizer:
    """Code points -> NGram.normalize applied to each, as a str (vectorised table look-up)."""

    def __init__(self):
        self._bmp = np.array([ord(NGram.normalize(chr(c))) for c in range(_BMP_SIZE)], dtype=_CODE_POINT)
        self._astral: dict[int, int] = {}  # filled on first sight: emoji and the like are rare

    def normalize(self, code_points: np.ndarray) -> str:
        return self.normalize_code_points(code_points).tobytes().decode("utf-32-le", "surrogatepass")

    def normalize_code_points(self, code_points: np.ndarray) -> np.ndarray:
        if code_points.size == 0:
            return code_points
        if int(code_points.max()) < _BMP_SIZE:
            return self._bmp[code_points]
        normalized = code_points.copy()
        in_bmp = code_points < _BMP_SIZE
        normalized[in_bmp] = self._bmp[code_points[in_bmp]]
        astral_at = np.flatnonzero(~in_bmp)
        normalized[astral_at] = [self._astral_char(int(c)) for c in code_points[astral_at]]
        return normalized

    def _astral_char(self, code: int) -> int:
        if code not in self._astral:
            self._astral[code] = ord(NGram.normalize(chr(code)))
        return self._astral[code]


def window_gram_rows(window: str, lookup: dict[str, int]) -> list[int]:
    """The rows NGram.add_char + _extract_ngrams emit on appending the last of 3 characters.

    What langdetect emits on appending character c depends only on c and the two before it
    (a, b), with a space standing in before the text:
    - nothing if c and b are both spaces (add_char resets and returns), or if both are
      upper case (`capitalword`: it is set exactly when c and the character before are upper);
    - else the 1-gram c (unless a space), the 2-gram bc, and the 3-gram abc unless b is a space
      (after a space the buffer holds only ' c').
    `lookup` must not contain ' ' (_extract_ngrams never emits it).
    """
    a, b, c = window
    if (c == " " and b == " ") or (c.isupper() and b.isupper()):
        return []
    grams = (c, b + c, window) if b != " " else (c, b + c)
    return [lookup[gram] for gram in grams if gram in lookup]


class _WindowRowsCache(dict):
    """3-character window -> window_gram_rows as packed int32 bytes (computed on a miss)."""

    def __init__(self, lookup: dict[str, int]):
        super().__init__()
        self._lookup = lookup

    def __missing__(self, window: str) -> bytes:
        packed = np.array(window_gram_rows(window, self._lookup), dtype=np.int32).tobytes()
        self[window] = packed
        return packed


class _WordRowsCache(dict):
    """Normalised word -> its grams' rows as packed int32 bytes (computed on a miss).

    The n-gram buffer restarts at every space, so a word's grams depend only on the word and
    on whether a space follows it (that space adds the grams 'x ' and 'yx ').
    """

    def __init__(self, windows: _WindowRowsCache, followed_by_space: bool):
        super().__init__()
        self._windows = windows
        self._suffix = " " if followed_by_space else ""

    LONGEST_CACHED = 64  # longer "words" (unspaced scripts, junk tokens) rarely come back

    def __missing__(self, word: str) -> bytes:
        padded = "  " + word + self._suffix  # the space before the word, and one before that
        windows = [padded[j : j + 3] for j in range(len(padded) - 2)]
        packed = b"".join(map(self._windows.__getitem__, windows))
        if len(word) <= self.LONGEST_CACHED:
            self[word] = packed
        return packed


class NgramExtractor:
    """Prepared code points -> the profile rows of their n-grams, in langdetect's order.

    Two caches: whole words (most of a page's words were seen before), and, for new words,
    3-character windows (new words are mostly made of known windows).
    """

    def __init__(self, gram_rows: dict[str, int], max_cached: int = 200_000,  # ~100 MB at most
                 normalizer: _CharacterNormalizer | None = None):
        lookup = {gram: row for gram, row in gram_rows.items() if gram != " "}
        self._normalizer = _CharacterNormalizer() if normalizer is None else normalizer
        self._windows = _WindowRowsCache(lookup)
        self._inner_words = _WordRowsCache(self._windows, followed_by_space=True)
        self._last_words = _WordRowsCache(self._windows, followed_by_space=False)
        self._max_cached = max_cached

    def rows(self, code_points: np.ndarray) -> np.ndarray:
        words = self._normalizer.normalize(code_points).split(" ")
        self._bound_caches()
        packed = list(map(self._inner_words.__getitem__, words[:-1]))
        packed.append(self._last_words[words[-1]])
        return np.frombuffer(b"".join(packed), dtype=np.int32)

    def _bound_caches(self) -> None:
        """Start the caches afresh when they grow past max_cached (an endless stream of new words)."""
        if len(self._inner_words) + len(self._last_words) > self._max_cached:
            self._inner_words.clear()
            self._last_words.clear()
        if len(self._windows) > self._max_cached:
            self._windows.clear()


# ----------------------------------------------------------------------------------------
# The random draws: what _detect_block asks of its random.Random, in the same order


class _LibraryDraws:
    """The draws from a real `random.Random`, one call each, exactly as langdetect makes them."""

    def __init__(self, seed: int):
        self._seed = seed
        self._rng = random.Random()
        self._rows: list[int] = []

    def start(self, rows: np.ndarray) -> None:
        self._rows = rows.tolist()
        self._rng.seed(self._seed)

    def gauss(self) -> float:
        return self._rng.gauss(0.0, 1.0)

    def take(self, count: int) -> list[int]:
        choice, rows = self._rng.choice, self._rows
        return [choice(rows) for _ in repeat(None, count)]


class WordStream:
    """The raw 32-bit words a seeded `random.Random` yields, read in bulk and kept for reuse.

    CPython's Random, for a seed, yields a fixed stream of 32-bit words. `random()` takes
    two ((a >> 5) * 2**26 + (b >> 6)) / 2**53, `gauss` takes two `random()` for each pair of
    values it returns, and `getrandbits(k)` (k <= 32) takes one: word >> (32 - k).
    """

    _TWO_PI = 2.0 * math.pi  # random.TWOPI

    def __init__(self, seed: int, initial_words: int = 1 << 14):
        self._generator = random.Random(seed)
        self.words = np.empty(0, dtype=np.uint32)
        self.grow(initial_words)

    def grow(self, at_least: int) -> None:
        count = max(at_least - self.words.size, self.words.size)
        raw = self._generator.getrandbits(32 * count).to_bytes(4 * count, "little")
        more = np.frombuffer(raw, dtype=_CODE_POINT).astype(np.uint32)
        self.words = np.concatenate([self.words, more])

    def random_at(self, position: int) -> float:
        """Random.random() from the two words at position."""
        if position + 2 > self.words.size:
            self.grow(position + 2)
        a = int(self.words[position]) >> 5
        b = int(self.words[position + 1]) >> 6
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)

    def gauss_pair(self, position: int) -> tuple[float, float]:
        """The two values of Random.gauss's Box-Muller step from the four words at position."""
        x2pi = self.random_at(position) * self._TWO_PI
        g2rad = math.sqrt(-2.0 * math.log(1.0 - self.random_at(position + 2)))
        return math.cos(x2pi) * g2rad, math.sin(x2pi) * g2rad


class _StreamDraws:
    """The same draws as _LibraryDraws, read off the generator's raw output (`WordStream`) in bulk.

    `choice(seq)` takes `getrandbits(k)` with k = len(seq).bit_length(), again until the
    value is < len(seq). So the accepted draws of a text can be found for the whole stream
    at once; each trial then starts at the first accepted draw after the words its `gauss` used.
    """

    def __init__(self, seed: int, initial_scan: int = 1024):
        self._stream = WordStream(seed)
        self._initial_scan = initial_scan

    def start(self, rows: np.ndarray) -> None:
        self._rows = rows
        self._n = rows.size
        self._shift = np.uint32(32 - self._n.bit_length())
        self._scan(self._initial_scan)
        self._position = 0          # next unread word of the stream
        self._gauss_next = None     # the second value of a gauss pair (Random.gauss_next)
        self._first = 0             # index (in the accepted draws) of this trial's first draw
        self._used = 0              # draws taken in this trial

    def _scan(self, words: int) -> None:
        """Find the accepted draws among the first `words` words of the stream."""
        if words > self._stream.words.size:
            self._stream.grow(words)
        values = self._stream.words[:words] >> self._shift
        accepted = np.flatnonzero(values < self._n)
        self._accepted_at = accepted
        self._drawn_rows = self._rows[values[accepted]]
        self._scanned = words

    def gauss(self) -> float:
        """Random.gauss(0.0, 1.0); called once at the start of each trial."""
        if self._used:
            self._position = int(self._accepted_at[self._first + self._used - 1]) + 1
        z = self._gauss_next
        self._gauss_next = None
        if z is None:
            z, self._gauss_next = self._stream.gauss_pair(self._position)
            self._position += 4
        while self._scanned < self._position:  # every accepted draw before it must be known
            self._scan(2 * self._scanned)
        self._first = int(np.searchsorted(self._accepted_at, self._position))
        self._used = 0
        return 0.0 + z * 1.0

    def take(self, count: int) -> np.ndarray:
        """The next `count` draws of `choice(rows)`."""
        begin = self._first + self._used
        end = begin + count
        while end > self._accepted_at.size:
            self._scan(2 * self._scanned)
        self._used += count
        return self._drawn_rows[begin:end]


def stream_draws_match_library(seed: int) -> bool:
    """Whether _StreamDraws reproduces this Python's random.Random for `seed` (checked once)."""
    for n in (1, 2, 3, 5, 64, 65, 1000, 4097, 30000):
        rows = np.arange(n, dtype=np.int32)
        library, stream = _LibraryDraws(seed), _StreamDraws(seed, initial_scan=8)
        library.start(rows)
        stream.start(rows)
        for trial in range(N_TRIAL):
            if library.gauss() != stream.gauss():
                return False
            for count in (1,) + (NORMALIZE_EVERY,) * (3 + 7 * trial):
                if library.take(count) != stream.take(count).tolist():
                    return False
    return True


def make_draws(seed: int) -> _StreamDraws | _LibraryDraws:
    return _StreamDraws(seed) if stream_draws_match_library(seed) else _LibraryDraws(seed)


# ----------------------------------------------------------------------------------------
# The random trials: Detector._detect_block


def estimate_language_probabilities(
    ngram_rows: np.ndarray, probabilities: np.ndarray, draws: _StreamDraws | _LibraryDraws
) -> np.ndarray:
    """The averaged language probabilities of langdetect's `n_trial` random walks.

    `ngram_rows` must be non-empty (langdetect raises "No features in text" otherwise).
    Each trial: start uniform; multiply by (weight + p(gram)) for a randomly chosen gram;
    after the first update and then every five, normalise and stop once one language
    exceeds CONV_THRESHOLD or langdetect's counter i reaches ITERATION_LIMIT.
    """
    n_languages = probabilities.shape[1]
    uniform = 1.0 / n_languages
    language_prob = np.zeros(n_languages)
    # Row 0 holds prob, rows 1.. the factors; two buffers so the product never overwrites its input.
    current = np.empty((NORMALIZE_EVERY + 1, n_languages))
    spare = np.empty_like(current)
    draws.start(ngram_rows)
    for _ in range(N_TRIAL):
        alpha = ALPHA_DEFAULT + draws.gauss() * ALPHA_WIDTH
        weight = alpha / BASE_FREQ
        current[0].fill(uniform)
        i, updates = 0, 1  # i: langdetect's loop counter at the next normalisation
        while True:
            factors = current[1 : updates + 1]
            probabilities.take(draws.take(updates), axis=0, out=factors, mode="clip")
            factors += weight
            prob = spare[0]
            np.multiply.reduce(current[: updates + 1], axis=0, out=prob)  # prob * f1 * f2 ...
            max_p = _normalize(prob)
            if max_p > CONV_THRESHOLD or i >= ITERATION_LIMIT:
                break
            current, spare = spare, current
            i += NORMALIZE_EVERY
            updates = NORMALIZE_EVERY
        language_prob += prob / N_TRIAL
    return language_prob


def _normalize(prob: np.ndarray) -> float:
    """Detector._normalize_prob: divide by the builtin (sequential) sum; return the maximum.

    max(p / s) == max(p) / s exactly: correctly rounded division by s > 0 is monotonic.
    """
    values = prob.tolist()
    total = sum(values)
    np.divide(prob, total, out=prob)
    return max(values) / total


def rank_languages(language_prob: np.ndarray, languages: tuple[str, ...]) -> list[tuple[str, float]]:
    """Detector._sort_probability: languages above PROB_THRESHOLD, most probable first.

    `list.sort(reverse=True)` is stable, as in langdetect, so ties keep the profile order.
    """
    ranked = [(lang, p) for lang, p in zip(languages, language_prob.tolist()) if p > PROB_THRESHOLD]
    ranked.sort(key=lambda pair: pair[1], reverse=True)
    return ranked


# ----------------------------------------------------------------------------------------
# The engine: extraction and trials together (the compiled one, `_langdetect_kernel`, has the same face)


class ReferenceEngine:
    """The numpy + Python path: the reference the compiled engine is checked against."""

    def __init__(self, profiles: ProfileTable, seed: int, draws: _StreamDraws | _LibraryDraws | None = None,
                 normalizer: _CharacterNormalizer | None = None):
        self.profiles = profiles
        self.extractor = NgramExtractor(profiles.gram_rows, normalizer=normalizer)
        self.draws = make_draws(seed) if draws is None else draws

    def ngram_rows(self, code_points: np.ndarray) -> np.ndarray:
        return self.extractor.rows(code_points)

    def language_probabilities(self, ngram_rows: np.ndarray) -> np.ndarray:
        return estimate_language_probabilities(ngram_rows, self.profiles.probabilities, self.draws)
