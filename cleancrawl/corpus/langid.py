"""Language ID for the build: langdetect's exact decisions (C4's filter), several times faster.

C4 keeps a page when `langdetect.detect_langs(text)` (with `DetectorFactory.seed = 0`) ranks
the target language first with probability >= 0.99. `LanguageIdentifier` gives the same
top language and the same probability, bit for bit, as that call (see
`corpus._fastlangdetect` for how, `corpus._langdetect_kernel` for the compiled loops, and
tests/corpus/test_langid.py for the evidence); `reference_detect` is the plain langdetect
call, kept for tests and benchmarks.

    identifier = LanguageIdentifier()          # profiles + numba kernels: ~0.8 s a process (~2 s compiling)
    result = identifier.detect(page_text)      # LanguageResult("en", 0.9999971..., "")
"""
from __future__ import annotations

from dataclasses import dataclass

import langdetect
from langdetect import DetectorFactory
from langdetect.lang_detect_exception import LangDetectException

from cleancrawl.corpus import _fastlangdetect as fast

UNDETERMINED = "und"
NO_FEATURES = "no_features"          # langdetect raises LangDetectException("No features in text.")
NO_PREDICTIONS = "no_predictions"    # no language above langdetect's 0.1 reporting threshold


@dataclass(frozen=True)
class LanguageResult:
    language: str        # top language code as langdetect names it ("en", "de", "zh-cn", ...), or "und"
    probability: float   # its probability (0.0 when none)
    error: str = ""      # "", NO_FEATURES or NO_PREDICTIONS


class LanguageIdentifier:
    """langdetect's `detect_langs` with a fixed seed, reimplemented; one per process or worker.

    `compiled`: None (default) runs the numba kernels when numba is installed and they agree
    with the reference on a start-up check, else the reference path; True requires them;
    False is the reference path (numpy + Python, 5-10x slower per page; what the kernels are
    tested against). Not thread-safe (it owns one random stream, caches and buffers); create
    one per thread.
    """

    def __init__(self, seed: int = 0, max_text_length: int = 10000, compiled: bool | None = None):
        self.seed = seed
        self.max_text_length = max_text_length
        self._profiles = fast.load_profiles()
        engine = _compiled_engine(self._profiles, seed) if compiled is not False else None
        if compiled and engine is None:
            raise RuntimeError("compiled language ID unavailable: numba is missing, or failed its start-up check")
        self.compiled = engine is not None
        self._engine = engine or fast.ReferenceEngine(self._profiles, seed)

    @property
    def languages(self) -> tuple[str, ...]:
        return self._profiles.languages

    def detect(self, text: str) -> LanguageResult:
        code_points = fast.prepare_code_points(text, self.max_text_length)
        ngram_rows = self._engine.ngram_rows(code_points)
        if ngram_rows.size == 0:
            return LanguageResult(UNDETERMINED, 0.0, NO_FEATURES)
        language_prob = self._engine.language_probabilities(ngram_rows)
        ranked = fast.rank_languages(language_prob, self._profiles.languages)
        if not ranked:
            return LanguageResult(UNDETERMINED, 0.0, NO_PREDICTIONS)
        language, probability = ranked[0]
        return LanguageResult(language, probability)


def _compiled_engine(profiles: fast.ProfileTable, seed: int):
    """The numba engine, or None. Imported here, not at the top: numba's import costs ~0.3 s, and
    modules that import this one only to name the stage (the CLI, the stage registry) need not pay it."""
    from cleancrawl.corpus import _langdetect_kernel as kernel

    return kernel.CompiledEngine.create(profiles, seed)


def reference_detect(text: str, seed: int = 0) -> LanguageResult:
    """The langdetect call exactly as C4 makes it (seed set on the factory, then detect_langs).

    The factory's previous seed is put back afterwards, so callers that rely on it are unaffected.
    """
    previous_seed = DetectorFactory.seed
    DetectorFactory.seed = seed
    try:
        predictions = langdetect.detect_langs(text)
    except LangDetectException:
        return LanguageResult(UNDETERMINED, 0.0, NO_FEATURES)
    finally:
        DetectorFactory.seed = previous_seed
    if not predictions:
        return LanguageResult(UNDETERMINED, 0.0, NO_PREDICTIONS)
    return LanguageResult(predictions[0].lang, predictions[0].prob)
