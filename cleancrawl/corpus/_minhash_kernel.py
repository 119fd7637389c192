"""MinHash shingling compiled with numba: `minhash.batch_shingles` in one pass over the text.

`minhash._batch_shingles` (numpy) is the reference; this kernel computes the same hashes from
the same definitions (`minhash`'s module docstring), character by character, where numpy needs
a dozen whole-array passes and temporaries:

  - classify each code point by the same table (`minhash._char_classes`); a run of digits
    keeps its first code point, as "0";
  - a word's hash: sum(cp[i] * P^(i - start)) mod 2^64 plus its length, mixed (splitmix64);
  - the n-gram hashes of each text's words, weighted sums of n consecutive word hashes, mixed;
    a text of 1 to n-1 words has one shingle of all of them;
  - each text's shingles sorted, repeats removed.

All arithmetic is uint64, wrapping, as numpy's is: the results are the same bits. Without
numba (`AVAILABLE` false) `minhash` uses the numpy path; tests compare the two.
"""
from __future__ import annotations

import numpy as np

from cleancrawl.corpus._numba import AVAILABLE, jit, scipy_hidden

__all__ = ["AVAILABLE", "shingles", "scipy_hidden"]

_U64 = np.uint64
_SEPARATOR, _DIGIT = 0, 2
_ZERO = 48


@jit
def _mix(x):
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


@jit
def shingles(codes, classes, text_ends, ngram, weights, poly):
    """(flat shingles, bounds): text t's sorted unique shingles are flat[bounds[t]:bounds[t + 1]].

    `codes`: the texts' code points joined by "\\n"; `text_ends[t]`: the position of the "\\n"
    after text t (len(codes) for the last); `weights`: the n-gram weights (odd uint64)."""
    n_texts = text_ends.size
    words = np.empty(codes.size // 2 + 1, dtype=np.uint64)  # a word and a separator at least
    word_text = np.empty(codes.size // 2 + 1, dtype=np.int64)
    n_words = 0
    text = 0
    in_word = False
    value = _U64(0)
    power = _U64(1)
    length = 0
    previous_digit = False
    for i in range(codes.size + 1):
        if i < codes.size:
            code = codes[i]
            kind = classes[code]
        else:
            kind = _SEPARATOR
        if kind == _SEPARATOR:
            previous_digit = False
            if in_word:
                words[n_words] = _mix(value + _U64(length))
                word_text[n_words] = text
                n_words += 1
                in_word = False
            while text < n_texts - 1 and i >= text_ends[text]:
                text += 1
            continue
        if kind == _DIGIT:
            if previous_digit:
                continue  # the rest of a run of digits: gone
            previous_digit = True
            code = _ZERO
        else:
            previous_digit = False
        if not in_word:
            in_word = True
            value = _U64(0)
            power = _U64(1)
            length = 0
        value += _U64(code) * power
        power *= poly
        length += 1

    counts = np.zeros(n_texts, dtype=np.int64)
    for w in range(n_words):
        counts[word_text[w]] += 1
    bounds = np.zeros(n_texts + 1, dtype=np.int64)
    out = np.empty(n_words + n_texts, dtype=np.uint64)
    filled = 0
    first = 0
    for t in range(n_texts):
        m = counts[t]
        start = filled
        if m >= ngram:
            for i in range(first, first + m - ngram + 1):
                combined = _U64(0)
                for j in range(ngram):
                    combined += words[i + j] * weights[j]
                out[filled] = _mix(combined)
                filled += 1
        elif m > 0:
            combined = _U64(0)
            for j in range(m):
                combined += words[first + j] * weights[j]
            out[filled] = _mix(combined)
            filled += 1
        if filled - start > 1:
            block = np.sort(out[start:filled])
            kept = 1
            for k in range(1, block.size):
                if block[k] != block[kept - 1]:
                    block[kept] = block[k]
                    kept += 1
            out[start:start + kept] = block[:kept]
            filled = start + kept
        bounds[t + 1] = filled
        first += m
    return out[:filled], bounds
