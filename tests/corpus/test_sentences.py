"""Punkt from the bundled parameters, imported without scipy (a per-worker start-up cost)."""
from __future__ import annotations

import subprocess
import sys

from cleancrawl.corpus.sentences import count_sentences, split_sentences


def test_punkt_splits_with_english_abbreviations():
    text = "Mr. Smith went to Washington. He arrived at 5 p.m. on Monday. It rained."
    assert split_sentences(text) == ["Mr. Smith went to Washington.", "He arrived at 5 p.m. on Monday.",
                                     "It rained."]
    assert count_sentences(text) == 3 and count_sentences(text, at_most=2) == 2


def test_nltk_is_imported_without_scipy_and_scipy_still_imports_after():
    code = (
        "import sys\n"
        "from cleancrawl.corpus.sentences import count_sentences\n"
        "assert count_sentences('One here. Two there. Three.') == 3\n"
        "assert 'nltk' in sys.modules and 'scipy' not in sys.modules, sorted(m for m in sys.modules if 'scipy' in m)\n"
        "import scipy.stats\n"
        "assert scipy.stats.norm.cdf(0) == 0.5\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
