"""langdetect's two hot loops compiled with numba: n-gram extraction and one random trial.

`corpus._fastlangdetect` is the reference: the same steps in numpy and Python, checked
against langdetect itself. This module runs them as machine code, with the same float
operations in the same order, so the results are the same to the last bit:

  extract_rows  Detector._extract_ngrams over the normalised characters: the 1-3 grams each
                character emits (the rules of `_fastlangdetect.window_gram_rows`), looked up
                in an open-addressing hash table of the profile grams. No per-word caches, so
                a new page costs what a seen one does.
  run_trials    Detector._detect_block's 7 trials: `random.choice` read off the generator's
                raw 32-bit words (as `_StreamDraws` does), `prob[k] *= weight + p[row, k]`
                per draw, and every fifth draw the normalisation with Python's own `sum`
                (sequential before 3.12, Neumaier-compensated since; the running Python's is
                found by experiment). numba compiles without fastmath, so nothing is reordered
                or contracted (and no multiply feeds an add, so there is nothing to fuse).

The trials' gauss draws (libm's cos, sin, log) are computed in Python, ahead of use, by
`CompiledTrials`, so no compiled transcendental can differ from CPython's. numba is optional:
without it, when it cannot compile these kernels, or when the compiled engine's start-up check
against the reference differs, `CompiledEngine.create` returns None and `corpus.langid` uses the
reference path. The kernels compile on first use, ~1.2 s of CPU per process, and numba caches
them on disk where it finds a writable place (NUMBA_CACHE_DIR if set, else this package's
__pycache__, else the user's cache folder); then a process pays ~0.4 s (numba's import and
start-up, the loads). Where no place is writable they compile in every process.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from cleancrawl.corpus import _fastlangdetect as fast, _numba

_log = logging.getLogger(__name__)


AVAILABLE = _numba.AVAILABLE
SPACE = ord(" ")
# langdetect's constants as plain globals: numba freezes them into the compiled code.
NORMALIZE_EVERY = fast.NORMALIZE_EVERY
CONV_THRESHOLD = fast.CONV_THRESHOLD
ITERATION_LIMIT = fast.ITERATION_LIMIT
N_TRIAL = fast.N_TRIAL
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: 2**64 / golden ratio
_CODE_POINT_BITS = 21                              # a code point + 1 fits in 21 bits


_jit = _numba.jit


# ----------------------------------------------------------------------------------------
# The gram table: 1-3 code points -> profile row


def gram_key(gram: str) -> int:
    """A gram of 1-3 characters as one int64: each code point + 1 in 21 bits, 0 where absent."""
    key = 0
    for char in gram:
        key = (key << _CODE_POINT_BITS) | (ord(char) + 1)
    return key


@_jit
def _hash_slot(key, slot_bits):
    return np.int64((np.uint64(key) * _HASH_MULTIPLIER) >> np.uint64(64 - slot_bits))


@_jit
def _fill_table(keys, rows, slot_bits, slots):
    """Insert keys (all distinct, non-zero) with their rows by linear probing; key 0: an empty slot."""
    mask = (1 << slot_bits) - 1
    for i in range(keys.size):
        slot = _hash_slot(keys[i], slot_bits)
        while slots[slot, 0] != 0:
            slot = (slot + 1) & mask
        slots[slot, 0] = keys[i]
        slots[slot, 1] = rows[i]


@_jit
def _lookup(key, slot_bits, slots):
    """The row of a gram key, or -1."""
    mask = (1 << slot_bits) - 1
    slot = _hash_slot(key, slot_bits)
    while True:
        found = slots[slot, 0]
        if found == key:
            return slots[slot, 1]
        if found == 0:
            return -1
        slot = (slot + 1) & mask


class GramTable:
    """The profile grams langdetect can emit (1-3 characters, not ' '), hashed for the kernel.

    `slots[s]` is (key, row), side by side so that a probe reads one cache line.
    """

    def __init__(self, gram_rows: dict[str, int]):
        emitted = [(gram, row) for gram, row in gram_rows.items() if 1 <= len(gram) <= 3 and gram != " "]
        keys = np.array([gram_key(gram) for gram, _ in emitted], dtype=np.int64)
        rows = np.array([row for _, row in emitted], dtype=np.int64)
        self.slot_bits = max(10, (2 * len(emitted)).bit_length())  # load factor <= 1/2
        self.slots = np.zeros((1 << self.slot_bits, 2), dtype=np.int64)
        _fill_table(keys, rows, self.slot_bits, self.slots)

    def lookup(self, gram: str) -> int:
        return int(_lookup(gram_key(gram), self.slot_bits, self.slots))


# ----------------------------------------------------------------------------------------
# N-gram extraction: Detector._extract_ngrams


@_jit
def extract_rows(code_points, upper, normalize, normalized_bmp, upper_bmp, slot_bits, slots, out):
    """Write the rows of the grams langdetect emits for `code_points` into out; return how many.

    With `normalize`, code_points are raw BMP code points, normalised (and their normalised
    form's `str.isupper()` found) through the two tables; without it they are normalised
    already and `upper` holds their `str.isupper()`. out: >= 3 per code point.
    At each character c, with a and b the two before it (spaces before the text), langdetect
    emits nothing when b and c are spaces or both upper case, else c (unless a space), bc,
    and abc unless b is a space; each only if it is a profile gram.
    """
    a, b, b_upper = SPACE, SPACE, False
    count = 0
    for j in range(code_points.size):
        if normalize:
            c, c_upper = np.int64(normalized_bmp[code_points[j]]), upper_bmp[code_points[j]]
        else:
            c, c_upper = np.int64(code_points[j]), upper[j]
        if not ((c == SPACE and b == SPACE) or (c_upper and b_upper)):
            if c != SPACE:
                row = _lookup(c + 1, slot_bits, slots)
                if row >= 0:
                    out[count] = row
                    count += 1
            pair = ((b + 1) << _CODE_POINT_BITS) | (c + 1)
            row = _lookup(pair, slot_bits, slots)
            if row >= 0:
                out[count] = row
                count += 1
            if b != SPACE:
                row = _lookup(((a + 1) << (2 * _CODE_POINT_BITS)) | pair, slot_bits, slots)
                if row >= 0:
                    out[count] = row
                    count += 1
        a, b, b_upper = b, c, c_upper
    return count


class CompiledNgramExtractor:
    """Prepared code points -> the profile rows of their n-grams (as `NgramExtractor.rows`)."""

    def __init__(self, gram_rows: dict[str, int]):
        self._table = GramTable(gram_rows)
        self.normalizer = fast._CharacterNormalizer()
        normalized = self.normalizer.normalize_code_points(np.arange(fast._BMP_SIZE, dtype=np.uint32))
        self._normalized_bmp = normalized
        self._upper_bmp = np.array([chr(c).isupper() for c in normalized.tolist()], dtype=np.bool_)
        self._no_upper = np.empty(0, dtype=np.bool_)
        self._out = np.empty(0, dtype=np.int32)

    def rows(self, code_points: np.ndarray) -> np.ndarray:
        # One array type for the kernel (a page's code points may be a read-only buffer): one compilation.
        code_points = np.require(code_points, dtype=np.uint32, requirements="CW")
        if self._out.size < 3 * code_points.size:
            self._out = np.empty(max(3 * code_points.size, 2 * self._out.size), dtype=np.int32)
        if code_points.size and int(code_points.max()) >= fast._BMP_SIZE:  # emoji and the like: rare
            characters = self.normalizer.normalize_code_points(code_points)
            upper = np.array([chr(c).isupper() for c in characters.tolist()], dtype=np.bool_)
            count = self._extract(characters, upper, False)
        else:
            count = self._extract(code_points, self._no_upper, True)
        return self._out[:count].copy()

    def _extract(self, code_points: np.ndarray, upper: np.ndarray, normalize: bool) -> int:
        table = self._table
        return extract_rows(code_points, upper, normalize, self._normalized_bmp, self._upper_bmp,
                            table.slot_bits, table.slots, self._out)


# ----------------------------------------------------------------------------------------
# The random trials: Detector._detect_block

NEEDS_WORDS = -1    # the stream ran out: grow it and run again
NEEDS_WEIGHTS = -2  # a trial starts past the weights computed so far: compute more and run again


@_jit
def _python_sum(values, compensated):
    """builtin `sum` over a list of floats: sequential, or Neumaier-compensated (Python >= 3.12)."""
    total = 0.0 + values[0]  # sum's int start 0 plus the first float
    correction = 0.0
    for k in range(1, values.size):
        x = values[k]
        t = total + x
        if compensated:
            if abs(total) >= abs(x):
                correction += (total - t) + x
            else:
                correction += (x - t) + total
        total = t
    if compensated and correction != 0.0 and math.isfinite(correction):
        total += correction
    return total


@_jit
def _run_trial(words, position, shift, ngram_rows, probabilities, weight, compensated, prob):
    """One trial from the stream word at `position`, its result in prob.

    Returns the position after the last word it read, or NEEDS_WORDS. Each draw is
    `choice(ngram_rows)`: word >> shift, rejected while >= n.
    """
    n_rows = ngram_rows.size
    n_languages = prob.size
    uniform = 1.0 / n_languages
    for k in range(n_languages):
        prob[k] = uniform
    i = 0
    while True:
        while True:
            if position >= words.size:
                return NEEDS_WORDS
            drawn = np.int64(words[position] >> shift)
            position += 1
            if drawn < n_rows:
                break
        row = ngram_rows[drawn]
        for k in range(n_languages):
            prob[k] *= weight + probabilities[row, k]
        if i % NORMALIZE_EVERY == 0:
            total = _python_sum(prob, compensated)
            max_p = 0.0
            for k in range(n_languages):
                p = prob[k] / total
                if max_p < p:
                    max_p = p
                prob[k] = p
            if max_p > CONV_THRESHOLD or i >= ITERATION_LIMIT:
                return position
        i += 1


@_jit
def run_trials(words, weights, shift, ngram_rows, probabilities, compensated, prob, language_prob):
    """The N_TRIAL trials, language_prob += each trial's prob / N_TRIAL; 0, NEEDS_WORDS or NEEDS_WEIGHTS.

    Each trial but every second one starts with a gauss pair read from the next four words:
    weights[p] holds the trial weights of the pair that starts at word p (the second value
    is the next trial's, as Random.gauss keeps it in gauss_next).
    """
    for k in range(language_prob.size):
        language_prob[k] = 0.0
    position = 0
    second_weight, have_second = 0.0, False  # Random.seed() clears gauss_next
    for _ in range(N_TRIAL):
        if have_second:
            weight, have_second = second_weight, False
        else:
            if position >= weights.shape[0]:
                return NEEDS_WEIGHTS
            weight, second_weight, have_second = weights[position, 0], weights[position, 1], True
            position += 4
        position = _run_trial(words, position, shift, ngram_rows, probabilities, weight, compensated, prob)
        if position == NEEDS_WORDS:
            return NEEDS_WORDS
        for k in range(language_prob.size):
            language_prob[k] += prob[k] / N_TRIAL
    return 0


def builtin_sum_is_compensated() -> bool:
    return sum([1.0, 1e100, 1.0, -1e100]) == 2.0


def trial_weight(gauss: float) -> float:
    """Detector._detect_block's `alpha / BASE_FREQ` for the value `Random.gauss(0.0, 1.0)` returns."""
    alpha = fast.ALPHA_DEFAULT + (0.0 + gauss * 1.0) * fast.ALPHA_WIDTH
    return alpha / fast.BASE_FREQ


class CompiledTrials:
    """estimate_language_probabilities with run_trials: one compiled call per page.

    The trials' gauss draws (libm's cos, sin, log) are computed here in Python, ahead of use,
    for every stream word a trial may start at (the first 4096 at start-up, ~10 ms; more when
    a page's trials run long), so the compiled code does no transcendental maths.
    """

    def __init__(self, probabilities: np.ndarray, seed: int, compensated_sum: bool,
                 initial_words: int = 1 << 14, initial_positions: int = 1 << 12):
        self._probabilities = probabilities
        self._compensated = compensated_sum
        self._stream = fast.WordStream(seed, initial_words)
        self._weights = np.empty((0, 2))
        self._weigh(initial_positions)

    def _weigh(self, positions: int) -> None:
        """The trial weights of the gauss pairs starting at stream words [computed so far, positions)."""
        more = [tuple(map(trial_weight, self._stream.gauss_pair(p))) for p in range(len(self._weights), positions)]
        self._weights = np.concatenate([self._weights, np.array(more, dtype=np.float64).reshape(-1, 2)])

    def estimate(self, ngram_rows: np.ndarray) -> np.ndarray:
        n_languages = self._probabilities.shape[1]
        shift = np.uint32(32 - ngram_rows.size.bit_length())
        language_prob = np.empty(n_languages)
        prob = np.empty(n_languages)
        while True:
            status = run_trials(self._stream.words, self._weights, shift, ngram_rows, self._probabilities,
                                self._compensated, prob, language_prob)
            if status == NEEDS_WORDS:
                self._stream.grow(2 * self._stream.words.size)
            elif status == NEEDS_WEIGHTS:
                self._weigh(max(2 * len(self._weights), 1))
            else:
                return language_prob


# ----------------------------------------------------------------------------------------
# The engine


class CompiledEngine:
    """The compiled path, with the reference path's interface (`fast.ReferenceEngine`)."""

    def __init__(self, profiles: fast.ProfileTable, seed: int, compensated_sum: bool):
        self.profiles = profiles
        self.extractor = CompiledNgramExtractor(profiles.gram_rows)
        self.trials = CompiledTrials(profiles.probabilities, seed, compensated_sum)

    def ngram_rows(self, code_points: np.ndarray) -> np.ndarray:
        return self.extractor.rows(code_points)

    def language_probabilities(self, ngram_rows: np.ndarray) -> np.ndarray:
        return self.trials.estimate(ngram_rows)

    @classmethod
    def create(cls, profiles: fast.ProfileTable, seed: int) -> CompiledEngine | None:
        """A compiled engine that agrees with the reference on a start-up check, else None."""
        if not AVAILABLE or not fast.stream_draws_match_library(seed):
            return None
        try:
            with _numba.scipy_hidden():  # the first call of a kernel in a process loads numba's registries
                engine = cls(profiles, seed, builtin_sum_is_compensated())
                reference = fast.ReferenceEngine(profiles, seed, draws=fast._LibraryDraws(seed),
                                                 normalizer=engine.extractor.normalizer)
                agrees = agrees_with(engine, reference)
        except Exception as error:  # a numba that cannot compile these kernels counts as none
            _log.warning("compiled language ID unavailable (%s: %s); using the reference path",
                         type(error).__name__, error)
            return None
        if not agrees:
            _log.warning("compiled language ID differs from the reference on its start-up check; "
                         "using the reference path")
            return None
        return engine


CHECK_TEXTS = (
    "The committee approved the new budget after a long debate about schools and roads.",
    "Die Bundesregierung hat heute neue Maßnahmen zum Klimaschutz beschlossen, sagte sie.",
    "中华人民共和国是世界上人口最多的国家之一，首都是北京。 Tokyo 東京 THE END 😀 𐐀𐐁",
    "Москва является столицей Российской Федерации и крупнейшим городом страны. ça ñu ß",
    "a",
)


def agrees_with(engine, reference, texts=CHECK_TEXTS, max_text_length: int = 10000) -> bool:
    """Same n-gram rows and bit-identical probabilities on a few texts (and compiles the kernels)."""
    for text in texts:
        code_points = fast.prepare_code_points(text, max_text_length)
        rows = engine.ngram_rows(code_points)
        if not np.array_equal(rows, reference.ngram_rows(code_points)):
            return False
        expected = reference.language_probabilities(rows)
        if engine.language_probabilities(rows).tobytes() != expected.tobytes():
            return False
    return True
