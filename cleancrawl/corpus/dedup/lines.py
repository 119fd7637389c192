"""C4's repeated-line removal (TFDS C4 v2.2+ / v3.1 `remove_duplicate_text`), for one page.

The method, over the whole corpus:

  1. key every line of every page by MD5(line.strip().lower())       `line_key`
  2. for every key, the page with the smallest key (C4: MD5(url) hex) keeps the line;
     the pipeline finds it with a combine per line key (min of `document_key`)
  3. each page keeps the lines whose key it won, each only at its first occurrence, and
     loses every other line (given the keys it lost: the sparse side)  `remove_lines`
  4. the page is dropped when nothing is left, or when the rest has fewer than
     `min_sentences` Punkt sentences (counted on the joined text, as the reference does)

Lines are split on "\n" exactly like the reference (`text.split("\n")`), so a blank line is
a line like any other (after C4's clean stage there are none). Case folding is Python's
`str.lower()`, as in the reference: "ÜBER" and "über" are the same line, "STRASSE" and
"straße" are not.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from cleancrawl.corpus.dedup import DUPLICATE_LINES, TOO_FEW_SENTENCES
from cleancrawl.corpus.record import utf8_len
from cleancrawl.corpus.sentences import count_sentences

METHOD = "c4-lines"
LINE_DELIMITER = "\n"
# Names of the line counts in stats.json: stats["lines"]["dedup"]["c4-lines:<rule>"].
GLOBAL_DUPLICATE = "duplicate"            # another page keeps this line
LOCAL_DUPLICATE = "repeated_in_page"      # this page already kept it higher up
KEPT = "kept"


@dataclass
class PageOutcome:
    """What a dedup method did to one page: new text, or the reason it is dropped."""

    text: str | None                     # None: the page is dropped
    reason: str = ""                     # drop reason when text is None
    detail: str = ""
    changed: bool = False
    counts: Counter = field(default_factory=Counter)  # rule -> lines (or sentences) removed / kept


def line_key(line: str) -> bytes:
    """The reference's `_hash_text(line.strip().lower())`, as the 16 digest bytes."""
    return _digest(line.strip().lower())


def _digest(normalized: str) -> bytes:
    return hashlib.md5(normalized.encode("utf-8", "surrogatepass")).digest()


def page_line_keys(text: str) -> set[bytes]:
    """The distinct line keys a page claims (one claim per key, however often it repeats)."""
    return {_digest(normalized) for normalized in {line.strip().lower() for line in text.split(LINE_DELIMITER)}}


def remove_lines(text: str, lost=frozenset(), min_sentences: int = 3, key_bytes: int = 16) -> PageOutcome:
    """Keep each line once, at its first occurrence, unless another page keeps it (its key is
    in `lost`, as the first `key_bytes` bytes of `line_key`); then C4's page checks.

    A line repeated inside the page is recognised by its normalised text (`line.strip().lower()`,
    what `line_key` hashes), so a page that lost nothing is rewritten without hashing a line.
    """
    counts: Counter = Counter()
    kept_lines: list[str] = []
    seen: set[str] = set()
    for line in text.split(LINE_DELIMITER):
        normalized = line.strip().lower()
        if lost and _digest(normalized)[:key_bytes] in lost:
            counts[GLOBAL_DUPLICATE] += 1
        elif normalized in seen:
            counts[LOCAL_DUPLICATE] += 1
        else:
            counts[KEPT] += 1
            kept_lines.append(line)
            seen.add(normalized)
    changed = counts[GLOBAL_DUPLICATE] + counts[LOCAL_DUPLICATE] > 0
    new_text = LINE_DELIMITER.join(kept_lines) if changed else text
    reason = DUPLICATE_LINES if changed else TOO_FEW_SENTENCES
    if not new_text:
        return PageOutcome(None, reason, "empty", changed, counts)
    if min_sentences and count_sentences(new_text, at_most=min_sentences) < min_sentences:
        return PageOutcome(None, reason, "too_few_sentences", changed, counts)
    return PageOutcome(new_text, changed=changed, counts=counts)


def removed_bytes(before: str, after: str) -> int:
    return utf8_len(before) - utf8_len(after)


def dedup_lines_in_memory(pages: list[tuple[bytes, str]], min_sentences: int = 3) -> list[PageOutcome]:
    """The whole method over a list of (document_key, text), in one process.

    For tests and small corpora; the pipeline (`pipelines.dedup.C4LineDedup`) makes the same
    decisions without ever holding every line in one place.
    """
    keeper: dict[bytes, bytes] = {}
    for key, text in pages:
        for line in page_line_keys(text):
            if line not in keeper or key < keeper[line]:
                keeper[line] = key
    return [remove_lines(text, {line for line in page_line_keys(text) if keeper[line] != key}, min_sentences)
            for key, text in pages]
