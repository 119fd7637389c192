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
from cleancrawl.options import option


@dataclass(frozen=True)
class LanguageConfig:
    """The language-ID stage's options; defaults are C4's."""

    target: str = option("en", flag="--language", help="target language (default: %(default)s)")
    min_score: float = option(0.99, flag="--min-language-score", help=(
        "langid: keep pages whose language probability is at least this (default: %(default)s)"))
    seed: int = option(0, flag="--langdetect-seed", help="langid: langdetect's seed (default: %(default)s)")


class LanguageFilter:
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
        return doc.drop(reason, detail=f"{result.language}:{result.probability:.4f}")
