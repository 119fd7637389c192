"""The language-ID stage: keep pages in the target language with a confident score.

C4 (reference `detect_english`) keeps a page when langdetect's top prediction, with its
random seed fixed to 0, is `en` with probability >= 0.99. The language and its score are
recorded on every kept document. Drop reasons:
  language_undetectable   langdetect found no features (e.g. digits and punctuation only)
  low_language_score      top prediction below `min_score` (checked first, as the reference)
  not_english             (or not_<target>) confident, but another language
"""
from __future__ import annotations

from dataclasses import dataclass

from cleancrawl.corpus.langid import LanguageIdentifier
from cleancrawl.corpus.record import Document, Drop

STAGE = "langid"


@dataclass(frozen=True)
class LanguageConfig:
    target: str = "en"
    min_score: float = 0.99
    seed: int = 0


class LanguageFilter:
    stage = STAGE

    def __init__(self, config: LanguageConfig = LanguageConfig()):
        self.config = config
        self.identifier = LanguageIdentifier(seed=config.seed)
        self.wrong_language = "not_english" if config.target == "en" else f"not_{config.target}"

    def __call__(self, doc: Document) -> Document | Drop:
        result = self.identifier.detect(doc.text)
        if result.error:
            reason = "language_undetectable"
        elif result.probability < self.config.min_score:
            reason = "low_language_score"
        elif result.language != self.config.target:
            reason = self.wrong_language
        else:
            return doc.replace(language=result.language, language_score=result.probability)
        return doc.drop(STAGE, reason, detail=f"{result.language}:{result.probability:.4f}")
