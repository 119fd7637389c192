"""C4 three-sentence spans (TFDS C4 v1.0.0) on real pages: windows, end marks, keepers, the
one documented difference, rejoining and the page check."""
import hashlib
from collections import defaultdict

import pytest

from cleancrawl.corpus.dedup import DUPLICATE_SPANS, document_key
from cleancrawl.corpus.dedup.spans import (
    SENTENCES_REMOVED,
    dedup_spans_in_memory,
    line_windows,
    page_window_keys,
    remove_spans,
    window_key,
)
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.sentences import split_sentences

END_MARKS = (".", "?", "!", '"')


@pytest.fixture(scope="module")
def cleaned_pages(sample_documents):
    cleaner = C4Cleaner()
    return [r for r in (cleaner(d) for d in sample_documents) if isinstance(r, Document)]


def _md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _sentences_by_line(text, lower=False):
    return [[s.lower() if lower else s for s in split_sentences(line)] for line in text.splitlines()]


def reference_v1(pages, window=3, min_sentences=3, keeper_keeps_first=False):
    """TFDS C4 v1.0.0 `remove_duplicate_text` (sentence windows) without Beam, pages with
    unique URLs. `keeper_keeps_first`: cleancrawl's one change (see corpus.dedup.spans)."""
    urls_of = defaultdict(list)
    for url, text in pages:
        for sentences in _sentences_by_line(text, lower=True):
            solo = [s in END_MARKS for s in sentences]
            for i in range(len(sentences) - min(len(sentences), window) + 1):
                if not all(solo[i:i + window]):
                    urls_of[tuple(sentences[i:i + window])].append(url)
    to_remove = defaultdict(set)
    for sentences, urls in urls_of.items():
        ranked = sorted(urls, key=_md5)
        del ranked[:1]
        for url in ranked:
            to_remove[url].add(sentences)
    result = {}
    for url, text in pages:
        by_line, seen = [], set()
        for line_sentences_ in _sentences_by_line(text):
            removed = set()
            for i in range(len(line_sentences_) - min(len(line_sentences_), window) + 1):
                w = tuple(s.lower() for s in line_sentences_[i:i + window])
                owner_first = keeper_keeps_first and w in urls_of and sorted(urls_of[w], key=_md5)[0] == url
                if w in to_remove[url] and not (owner_first and w not in seen):
                    removed.update(range(i, i + len(w)))
                seen.add(w)
            kept = [s for i, s in enumerate(line_sentences_) if i not in removed]
            if kept:
                by_line.append(kept)
        if sum(len(s) for s in by_line) < min_sentences:
            result[url] = None
        else:
            result[url] = "\n".join(" ".join(s) for s in by_line)
    return result


def _rejoined(text):
    return "\n".join(" ".join(s) for s in _sentences_by_line(text) if s)


def test_windows_skip_end_marks_and_cover_short_lines():
    # The TFDS test's line: only the first window has a real sentence in it.
    sentences = split_sentences("Another sentence. . . ? ? ! ! !")
    assert [(start, length) for start, length, _ in line_windows(sentences)] == [(0, 3)]
    windows = list(line_windows(split_sentences("Sentence 1. Sentence 2. Sentence 3. Sentence 4.")))
    assert [(s, n) for s, n, _ in windows] == [(0, 3), (1, 3)]
    assert windows[0][2] == window_key(["sentence 1.", "SENTENCE 2.", "Sentence 3."])  # lowercased
    one = split_sentences("A line with only one sentence in it.")
    assert [(s, n) for s, n, _ in line_windows(one)] == [(0, 1)]


def test_same_decisions_as_tfds_v1_on_real_pages(cleaned_pages):
    outcomes = dedup_spans_in_memory([(document_key(d), d.text) for d in cleaned_pages])
    expected = reference_v1([(d.url, d.text) for d in cleaned_pages], keeper_keeps_first=True)
    removed = 0
    for doc, outcome in zip(cleaned_pages, outcomes):
        want = expected[doc.url]
        if outcome.text is not None and not outcome.changed:
            # unchanged pages are left byte-identical; TFDS re-joined their sentences
            assert outcome.text == doc.text and _rejoined(doc.text) == want
        else:
            assert outcome.text == want
        removed += outcome.counts[SENTENCES_REMOVED]
    assert removed > 300 and sum(o.text is None for o in outcomes) >= 1


def test_the_keeper_keeps_the_first_copy_of_a_window_it_repeats(cleaned_pages):
    """The documented difference: TFDS v1.0.0 removed every copy from the keeper too."""
    page = next(d for d in cleaned_pages if len(split_sentences(d.text)) >= 8)
    first = page.text.split("\n")[0]
    text = page.text + "\n" + first
    ours = remove_spans(text, set())
    assert ours.text.split("\n")[0] == " ".join(split_sentences(first))
    assert ours.text.count(split_sentences(first)[0]) == 1
    tfds = reference_v1([(page.url, text)])[page.url]
    assert tfds is None or split_sentences(first)[0] not in tfds


def test_a_shared_span_stays_with_the_smallest_md5_url(cleaned_pages):
    a, b = sorted(cleaned_pages[:2], key=lambda d: _md5(d.url))
    shared = "Wir verwenden Cookies. Sie helfen uns sehr. Vielen Dank für Ihr Verständnis."
    pages = [(document_key(b), b.text + "\n" + shared.upper()), (document_key(a), a.text + "\n" + shared)]
    kept_b, kept_a = dedup_spans_in_memory(pages)
    assert shared in kept_a.text  # smaller MD5(url), and case does not matter
    assert "WIR VERWENDEN" not in (kept_b.text or "")


def test_removal_rejoins_and_drops_short_pages(cleaned_pages):
    page, index = next((d, i) for d in cleaned_pages for i, x in enumerate(d.text.split("\n"))
                       if len(split_sentences(x)) >= 5 and d.text.count(split_sentences(x)[0]) == 1)
    sentences = split_sentences(page.text.split("\n")[index])
    outcome = remove_spans(page.text, {window_key(sentences[:3])})
    assert outcome.changed and outcome.counts[SENTENCES_REMOVED] == 3
    lines = outcome.text.split("\n")
    assert len(lines) == len(page.text.split("\n"))
    assert lines[index] == " ".join(sentences[3:])  # sentences rejoined with one space
    dropped = remove_spans(page.text, page_window_keys(page.text))
    assert (dropped.text, dropped.reason, dropped.detail) == (None, DUPLICATE_SPANS, "too_few_sentences")
