"""C4's badwords filter over the LDNOOBW lists (shipped as package data).

Reference behaviour (TFDS `c4`): the lists of commit 25e679f for `en` and 5faf2ba for the
other languages; a language's list is used for pages identified as that language
(`zh-cn` → `zh`; `fr-CA-u-sd-caqc` is merged into `fr`); the allowlist below removes a few
words for `ja` and `zh`; a page is dropped when its lowercased text matches
`(?:\\W|^)(w1|w2|…)(?:\\W|$)` with the words regex-escaped — or, for `ja`, `th` and `zh`,
which do not separate words with spaces, any occurrence of a word.

mC4 (`filter_fraction` 0.999, TFDS `get_badwords_filter_fn(badwords, filter_fraction)`) drops
only a fraction of the pages with a badword: with `(n, d) = float.as_integer_ratio(fraction)`,
a page with a badword is kept when `int(md5(normalized_url), 16) % d >= n` (the same hash as
the validation split). At 1.0, C4's, `(1, 1)`: every such page is dropped.

Why it is fast: the words are compiled into one trie-shaped alternation instead of a flat
`w1|w2|…` list. Both patterns accept exactly the same strings (a regex search succeeds when
any alternative matches at any position, whatever the alternation's order), so every
decision is the reference's; the trie only stops the engine from retrying hundreds of
alternatives at every character. `tests/corpus/test_badwords.py` checks the equality on
real pages against the reference pattern.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass

from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.corpus.urls import url_hash
from cleancrawl.options import option

BADWORDS_DIR = os.path.join(os.path.dirname(__file__), "data", "badwords")
ALLOWLIST_FILE = os.path.join(os.path.dirname(__file__), "data", "badwords_allowlist.json")
UNSPACED_LANGUAGES = ("ja", "th", "zh")


def _load_allowlist() -> dict[str, frozenset[str]]:
    """TFDS's `_BADWORDS_ALLOWLIST` (package data): {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}."""
    with open(ALLOWLIST_FILE, encoding="utf-8") as f:
        data = json.load(f)
    return {lang: frozenset(words) for lang, words in data.items() if not lang.startswith("_")}


ALLOWLIST = _load_allowlist()


def available_languages() -> list[str]:
    return sorted({name.split("-")[0] for name in os.listdir(BADWORDS_DIR) if name != "LICENSE"})


@functools.lru_cache(maxsize=None)
def load_badwords(language: str) -> frozenset[str]:
    """The word list for a language code (region suffixes ignored); empty if none."""
    language = language.split("-")[0]
    words: set[str] = set()
    for name in os.listdir(BADWORDS_DIR):
        if name != "LICENSE" and name.split("-")[0] == language:
            with open(os.path.join(BADWORDS_DIR, name), encoding="utf-8") as f:
                words.update(line.strip() for line in f)
    return frozenset(words - ALLOWLIST.get(language, set()))


def reference_pattern(words, language: str) -> re.Pattern:
    """The reference's flat regex (kept for tests and the benchmark)."""
    escaped = [re.escape(w) for w in words]
    if language in UNSPACED_LANGUAGES:
        return re.compile("|".join(escaped))
    return re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(escaped)))


def _trie_regex(words) -> str:
    """An alternation over `words` factored by common prefixes: same language, fewer retries."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word

    def render(node: dict) -> str:
        ends_here = "" in node
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char != ""]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends_here:
            # The empty alternative last: both orders accept the same strings.
            body = "(?:" + body + ")?" if len(branches) > 1 or len(branches[0]) > 1 else body + "?"
        return body

    return render(trie)


def fast_pattern(words, language: str) -> re.Pattern:
    words = [w for w in words]
    if "" in words:  # an empty word makes the reference match almost anything: keep that meaning
        return reference_pattern(words, language)
    alternation = _trie_regex(words)
    if language in UNSPACED_LANGUAGES:
        return re.compile(alternation)
    return re.compile(r"(?:\W|^)(?:{})(?:\W|$)".format(alternation))


@dataclass(frozen=True)
class BadwordsConfig:
    """The badwords stage's options: C4 drops every page with a badword, mC4 99.9 % of them."""

    filter_fraction: float = option(1.0, flag="--badwords-filter-fraction", metavar="FRACTION", help=(
        "badwords: the fraction of pages with a badword that are dropped, chosen by a hash of the URL "
        "(C4: 1.0, mC4: 0.999) (default: %(default)s)"))

    def __post_init__(self):
        if not 0.0 <= self.filter_fraction <= 1.0:
            raise UserError(f"--badwords-filter-fraction {self.filter_fraction}: give a fraction from 0.0 to 1.0")


def soft_keep_predicate(filter_fraction: float):
    """TFDS's `keep_badword_page`: normalized URL -> keep this page although it has a badword?"""
    kept_at_or_above, modulus = float.as_integer_ratio(float(filter_fraction))
    return lambda normalized_url: url_hash(normalized_url) % modulus >= kept_at_or_above


class BadwordsFilter:
    """Callable stage: drops a Document whose text has a badword of its own language
    (a `filter_fraction` of them, chosen by URL hash, as mC4; all of them at 1.0, as C4).

    Pages whose language has no list (or no language at all, when language ID was skipped
    and `default_language` is empty) pass, as in the reference. A page kept by the fraction
    is counted in `soft_kept` (per language).
    """

    def __init__(self, default_language: str = "en", filter_fraction: float = 1.0, wordlists=None):
        self.default_language = default_language
        self.filter_fraction = BadwordsConfig(filter_fraction).filter_fraction
        self._keep_anyway = soft_keep_predicate(filter_fraction) if filter_fraction < 1.0 else None
        # {language: words} in place of the shipped lists (tests: the reference's own test cases)
        self._wordlists = None if wordlists is None else {lang: frozenset(w) for lang, w in wordlists.items()}
        self._patterns: dict[str, re.Pattern | None] = {}
        self.soft_kept: dict[str, int] = {}

    def pattern(self, language: str) -> re.Pattern | None:
        language = language.split("-")[0]
        if language not in self._patterns:
            words = load_badwords(language) if self._wordlists is None else self._wordlists.get(language, ())
            self._patterns[language] = fast_pattern(sorted(words), language) if words else None
        return self._patterns[language]

    def has_badword(self, text: str, language: str) -> bool:
        pattern = self.pattern(language)
        return pattern is not None and pattern.search(text.lower()) is not None

    def __call__(self, doc: Document) -> Document | Drop:
        language = doc.language or self.default_language
        if self.has_badword(doc.text, language):  # a language without a list ("", und) has no pattern
            language = language.split("-")[0]
            if self._keep_anyway is not None and self._keep_anyway(doc.normalized_url):
                self.soft_kept[language] = self.soft_kept.get(language, 0) + 1
                return doc
            return doc.drop("badwords", detail=language)
        return doc
