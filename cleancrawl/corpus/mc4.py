"""mC4's constants and its splits (TFDS `c4/multilingual`, C4 v3.1.0), as data.

TFDS builds mC4 as: URL dedup (newest page) -> `paragraph_filter` -> line dedup without the
minimum-sentences rule -> CLD3 language ID (`corpus.cld3_langid`) -> per-language badwords at
filter fraction 0.999 (`corpus.badwords`) -> one train and one validation split per language
and for `und`. This module holds the split naming and the stages composed in memory; the language list
(`MC4_LANGUAGES`, TFDS's, the default of `--languages`) is `corpus.cld3_langid`'s.
"""
from __future__ import annotations

from cleancrawl.corpus.cld3_langid import MC4_LANGUAGES, UNKNOWN_LANGUAGE, Cld3Config, Cld3LanguageFilter
from cleancrawl.corpus.urls import url_hash

__all__ = ["MC4_LANGUAGES", "UNKNOWN_LANGUAGE", "BADWORDS_FILTER_FRACTION", "split_names", "split_for",
           "mc4_in_memory"]

BADWORDS_FILTER_FRACTION = 0.999   # mC4's soft badwords filter: pages with a badword kept at 0.1 %


def split_names(languages=MC4_LANGUAGES) -> list[str]:
    """Every split TFDS writes for these languages, in its order: `<lang>`, `<lang>-validation`
    for each language and then for `und`."""
    return [name for lang in (*languages, UNKNOWN_LANGUAGE) for name in (lang, f"{lang}-validation")]


def split_for(language: str, normalized_url: str, validation_modulus: int = 1000) -> str:
    """The mC4 split of a page: `<language>` (train) or `<language>-validation`, validation when
    md5(normalized_url) % 1000 == 0, as TFDS's `_filter(page, lang, predicate_fn)`."""
    validation = url_hash(normalized_url) % validation_modulus == 0
    return f"{language}-validation" if validation else language


def mc4_in_memory(docs, languages=("mc4",), filter_fraction: float = BADWORDS_FILTER_FRACTION):
    """mC4's stages over a list of Documents, in one process, in TFDS's order: URL dedup (newest),
    paragraph filter, C4 line dedup without the sentence rule, CLD3, soft badwords. Returns
    (kept documents, each with its mC4 language; drops, stamped with their stage). For tests,
    the benchmark and small corpora; the build runs the same callables as registry stages."""
    from cleancrawl.corpus.badwords import BadwordsFilter
    from cleancrawl.corpus.dedup import document_key
    from cleancrawl.corpus.dedup.lines import dedup_lines_in_memory
    from cleancrawl.corpus.paragraph_filter import ParagraphFilter
    from cleancrawl.corpus.record import Document
    from cleancrawl.corpus.url_dedup import select_newest

    drops = []
    groups: dict[str, list] = {}
    for doc in docs:
        groups.setdefault(doc.normalized_url, []).append(doc)
    pages = []
    for group in groups.values():
        kept, lost = select_newest(group)
        pages.append(kept)
        drops += [drop.at_stage("url_dedup") for drop in lost]

    def run(stage, page_filter, pages):
        kept = []
        for page in pages:
            out = page_filter(page)
            if isinstance(out, Document):
                kept.append(out)
            else:
                drops.append(out.at_stage(stage))
        return kept

    pages = run("paragraph_filter", ParagraphFilter(), pages)
    outcomes = dedup_lines_in_memory([(document_key(p), p.text) for p in pages], min_sentences=0)
    deduped = []
    for page, outcome in zip(pages, outcomes):
        if outcome.text is None:
            drops.append(page.drop(outcome.reason, detail=outcome.detail, stage="dedup"))
        else:
            deduped.append(page.replace(text=outcome.text))
    pages = run("cld3_langid", Cld3LanguageFilter(Cld3Config(languages=tuple(languages))), deduped)
    pages = run("badwords", BadwordsFilter("", filter_fraction), pages)
    return pages, drops
