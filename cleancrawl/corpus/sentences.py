"""Sentence counting with NLTK's English Punkt model, shipped as package data.

C4 counts sentences with Punkt's English parameters. They are bundled under
`corpus/data/nltk_data/tokenizers/punkt_tab/english` (NLTK's `punkt_tab` format) and NLTK is
pointed at that folder; nothing is ever downloaded.
"""
from __future__ import annotations

import functools
import itertools
import os
import sys
import threading

NLTK_DATA_DIR = os.path.join(os.path.dirname(__file__), "data", "nltk_data")


@functools.lru_cache(maxsize=1)
def punkt_tokenizer():
    _import_nltk_without_scipy()
    import nltk
    from nltk.tokenize.punkt import PunktTokenizer

    if NLTK_DATA_DIR not in nltk.data.path:
        nltk.data.path.insert(0, NLTK_DATA_DIR)
    return PunktTokenizer("english")


def split_sentences(text: str) -> list[str]:
    return punkt_tokenizer().tokenize(text)


def count_sentences(text: str, at_most: int | None = None) -> int:
    """Number of Punkt sentences in `text`; stop counting at `at_most` when given.

    Punkt finds sentence breaks lazily, so a caller that only needs to know whether a text
    has at least N sentences pays for N of them, not for the whole text.
    """
    spans = punkt_tokenizer().span_tokenize(text)
    if at_most is not None:
        spans = itertools.islice(spans, at_most)
    return sum(1 for _ in spans)


def _import_nltk_without_scipy() -> None:
    """Import NLTK with scipy hidden: 0.3 s instead of 1.5 s, paid by every pipeline worker.

    `import nltk` runs the package's __init__, which imports nltk.metrics and friends, whose
    optional `from scipy.stats import ...` costs ~1.2 s and is never used by Punkt. Every such
    import in NLTK sits in `try: ... except ImportError:` with a fallback, so NLTK imports fine
    without it. Only when neither is imported yet; scipy is importable again afterwards (only
    NLTK's statistics helpers in this process, e.g. the Fisher test of collocations, go without).
    """
    with _IMPORT_LOCK:  # Beam may set DoFns up in several threads: one imports, the others wait
        if "nltk" in sys.modules or "scipy" in sys.modules:
            return
        sys.modules["scipy"] = None  # makes `import scipy...` raise ImportError
        try:
            import nltk  # noqa: F401
        finally:
            if sys.modules.get("scipy", 0) is None:
                del sys.modules["scipy"]


_IMPORT_LOCK = threading.Lock()
