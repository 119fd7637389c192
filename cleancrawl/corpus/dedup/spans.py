"""C4's three-sentence-span deduplication (the T5 paper; TFDS C4 v1.0.0), for one page.

"We discarded all but one of any three-sentence span occurring more than once in the data
set." As TFDS C4 v1.0.0 did it:

  1. split each line (`str.splitlines`) into Punkt sentences; slide a window of 3
     lowercased sentences over each line (a line with fewer sentences is one window of all
     of them); skip windows made only of end marks (". ! ? \"" alone)     `page_windows`
  2. for every window, the page with the smallest key (C4: MD5(url)) keeps it
  3. every other page removes the sentences of every occurrence of that window
                                                                        `remove_spans`
  4. sentences are rejoined with " " inside a line and "\n" between lines (lines left with
     no sentence disappear); the page is dropped when fewer than `min_sentences` remain

One deliberate difference from TFDS v1.0.0: a window repeated inside the page that keeps
it survives at its first occurrence (the paper's "all but one"); TFDS removed every copy,
the first too, because the keeper's URL appeared twice in the window's URL list. A page
from which nothing is removed is left byte-identical (TFDS rejoined its sentences, which
only changes runs of whitespace between sentences).
"""
from __future__ import annotations

import hashlib
from collections import Counter
from typing import Iterator

from cleancrawl.corpus.dedup import DUPLICATE_SPANS, TOO_FEW_SENTENCES
from cleancrawl.corpus.dedup.lines import PageOutcome
from cleancrawl.corpus.sentences import split_sentences

METHOD = "c4-spans"
END_MARKS = frozenset((".", "?", "!", '"'))
# Counts in stats.json: lines["dedup"]["c4-spans:lines_emptied"], events[...]["c4-spans:sentences_removed"].
SENTENCES_REMOVED = "sentences_removed"
LINES_EMPTIED = "lines_emptied"


def line_sentences(text: str) -> list[list[str]]:
    return [split_sentences(line) for line in text.splitlines()]


def window_key(sentences: list[str]) -> bytes:
    # Sentences come from one line, so they never contain "\n": the join is unambiguous.
    return hashlib.md5("\n".join(s.lower() for s in sentences).encode("utf-8", "surrogatepass")).digest()


def line_windows(sentences: list[str], size: int = 3) -> Iterator[tuple[int, int, bytes]]:
    """(start, length, key) of each window of a line's sentences, end-mark-only ones skipped."""
    length = min(len(sentences), size)
    for start in range(len(sentences) - length + 1):
        window = sentences[start:start + length]
        if all(s in END_MARKS for s in window):
            continue
        yield start, length, window_key(window)


def page_window_keys(text: str, size: int = 3) -> set[bytes]:
    """The distinct window keys a page claims."""
    return {key for sentences in line_sentences(text) for _, _, key in line_windows(sentences, size)}


def remove_spans(text: str, lost=frozenset(), size: int = 3, min_sentences: int = 3,
                 key_bytes: int = 16) -> PageOutcome:
    """Remove the sentences of every window occurrence this page does not keep: those another
    page keeps (their key in `lost`, as its first `key_bytes` bytes) and the repeats of one it keeps."""
    counts: Counter = Counter()
    by_line = line_sentences(text)
    seen: set[bytes] = set()
    kept_lines: list[list[str]] = []
    for sentences in by_line:
        removed: set[int] = set()
        for start, length, key in line_windows(sentences, size):
            if key[:key_bytes] not in lost and key not in seen:
                seen.add(key)          # the one occurrence the corpus keeps
            else:
                removed.update(range(start, start + length))
        counts[SENTENCES_REMOVED] += len(removed)
        kept = [s for i, s in enumerate(sentences) if i not in removed]
        if kept:
            kept_lines.append(kept)
        elif sentences:
            counts[LINES_EMPTIED] += 1
    changed = counts[SENTENCES_REMOVED] > 0
    if sum(len(s) for s in kept_lines) < min_sentences:
        reason = DUPLICATE_SPANS if changed else TOO_FEW_SENTENCES
        return PageOutcome(None, reason, "too_few_sentences", changed, counts)
    if not changed:
        return PageOutcome(text, counts=counts)
    return PageOutcome("\n".join(" ".join(s) for s in kept_lines), changed=True, counts=counts)


def dedup_spans_in_memory(pages: list[tuple[bytes, str]], size: int = 3, min_sentences: int = 3) -> list[PageOutcome]:
    """The whole method over a list of (document_key, text), in one process (tests)."""
    keeper: dict[bytes, bytes] = {}
    for key, text in pages:
        for window in page_window_keys(text, size):
            if window not in keeper or key < keeper[window]:
                keeper[window] = key
    return [remove_spans(text, {w for w in page_window_keys(text, size) if keeper[w] != key}, size, min_sentences)
            for key, text in pages]
