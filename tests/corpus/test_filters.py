"""C4 line and page filters: the rules one by one, then agreement with a literal reading of
the reference `clean_page` (Punkt on every kept line, no shortcuts) on every real page."""
import pytest

from cleancrawl.corpus.filters import POLICY_SUBSTRINGS, C4Cleaner, CleanConfig

from c4_reference import reference_clean_page, reference_counters

GOOD = "This is a perfectly ordinary sentence of text."


def clean(text, **kw):
    return C4Cleaner(CleanConfig(**kw)).clean_text(text)


def page(*lines):
    return "\n".join(lines)


def test_keeps_lines_with_end_marks_and_enough_words():
    text, reason = clean(page(GOOD, "Menu", "Another fine line of prose here!", 'He said "this is fine to keep."',
                              "Ask me a question here please?"))
    assert reason == ""
    assert text.splitlines() == [GOOD, "Another fine line of prose here!", 'He said "this is fine to keep."',
                                 "Ask me a question here please?"]


@pytest.mark.parametrize("line,rule", [
    ("Too short line.", "too_few_words"),
    ("No end mark on this line at all", "no_end_mark"),
    ("This line trails off with an ellipsis...", "no_end_mark"),
    ("Please enable JavaScript to view this page properly.", "javascript"),
    ("By using this site you agree to our Terms of Use today.", "policy"),
    ("This website uses cookies to improve your experience.", "policy"),
    ("Read the privacy policy before you sign up here.", "policy"),
    ("See our cookie policy for the details of this.", "policy"),
    ("We use of cookies sparingly on this site, truly.", "policy"),
    ("Exactly five words here: Cookies!", "kept"),
    ("Five words and a word count.", "kept"),
    ("A line with a " + "x" * 1001 + " token in it.", "too_long_word"),
])
def test_line_rules_drop_and_count(line, rule):
    cleaner = C4Cleaner()
    text, reason = cleaner.clean_text(page(GOOD, line, GOOD, GOOD))
    assert reason == ""
    assert (line in text.splitlines()) == (rule == "kept")
    assert cleaner.line_counts[rule] == (4 if rule == "kept" else 1)


def test_the_policy_shortcut_covers_every_phrase():
    """clean_text tests "terms of use" and "privacy policy", and the other phrases only where
    "cookie" is: each of those must hold it."""
    assert {p for p in POLICY_SUBSTRINGS if "cookie" not in p} == {"terms of use", "privacy policy"}


def test_citations_are_removed_before_the_end_mark_check():
    text, _ = clean(page("Paris is the capital of France.[1]", "It is a large city[citation needed] in Europe.[edit]",
                         GOOD))
    assert text.splitlines()[:2] == ["Paris is the capital of France.", "It is a large city in Europe."]


def test_words_are_counted_after_citation_removal():
    cleaner = C4Cleaner()
    _, reason = cleaner.clean_text(page("Four words here [1] [2].", GOOD, GOOD, GOOD))
    assert reason == "" and cleaner.line_counts["too_few_words"] == 1


def test_page_rules():
    assert clean(page(GOOD, "Lorem Ipsum dolor sit amet, consectetur adipiscing.", GOOD, GOOD)) == (None, "lorem_ipsum")
    # no end mark: only the line goes
    assert clean(page(GOOD, "function f() { return this is code; }", GOOD, GOOD))[1] == ""
    assert clean(page(GOOD, "var x = { a: 1, b: 2 } is an object here.", GOOD, GOOD)) == (None, "curly_bracket")
    assert clean(page(GOOD, GOOD)) == (None, "too_few_sentences")


def test_a_line_dropped_earlier_is_not_seen_by_later_rules():
    # "{" on a line without end punctuation: the line goes, the page stays.
    text, reason = clean(page(GOOD, "var x = { a: 1 }", GOOD, GOOD))
    assert reason == "" and "{" not in text
    # "lorem ipsum" on a short line: the line goes, the page stays.
    text, reason = clean(page(GOOD, "Lorem ipsum.", GOOD, GOOD))
    assert reason == ""
    # "javascript" wins over "{" on the same line (javascript comes first).
    text, reason = clean(page(GOOD, "Enable javascript { please } to continue reading.", GOOD, GOOD))
    assert reason == ""


def test_sentence_count_uses_punkt_not_lines():
    # Two kept lines, but four Punkt sentences: the page passes.
    text, reason = clean(page("The cat sat on the mat. Then it left the room.",
                              "The dog barked at the door. It wanted to go out."))
    assert reason == "" and len(text.splitlines()) == 2
    # Abbreviations are not sentence ends for Punkt: one sentence only, so the page drops.
    assert (clean(page("Dr. Smith and Mr. Jones met at the U.S. embassy yesterday.", GOOD))
            == (None, "too_few_sentences"))


def test_thresholds_are_options():
    assert clean(page(GOOD, GOOD), min_sentences=2)[1] == ""
    assert clean(page("Short but fine line.", GOOD, GOOD), min_words_per_line=4)[0].count("\n") == 2


def test_unicode_line_breaks_split_lines_as_the_reference_does():
    # str.splitlines() also splits on U+2028, form feed, etc.; so does the reference.
    text, reason = clean(GOOD + "\u2028" + GOOD + "\x0c" + GOOD)
    assert reason == "" and text.count("\n") == 2


# ------------------------------------------------------------------ agreement with the reference

def test_agrees_with_reference_on_every_real_sample_page(sample_documents):
    cleaner = C4Cleaner()
    kept = 0
    for doc in sample_documents:
        ours, _ = cleaner.clean_text(doc.text)
        assert ours == reference_clean_page(doc.text), doc.url
        kept += ours is not None
    assert len(sample_documents) == 322 and kept == 315


def test_agrees_with_reference_on_pages_with_few_lines(sample_documents):
    # Where the shortcut cannot decide: pages cut to their first 1-3 kept-looking lines.
    cleaner = C4Cleaner()
    checked = 0
    for doc in sample_documents:
        lines = [line for line in doc.text.splitlines()
                 if line.strip().endswith((".", "!", "?")) and len(line.split()) >= 5]
        for n in (1, 2):
            text = "\n".join(lines[:n])
            assert cleaner.clean_text(text)[0] == reference_clean_page(text), doc.url
            checked += 1
    assert checked == 2 * len(sample_documents)


# ------------------------------------------------------------------ line counters (C4's `line-passed` etc.)

# Our rule names → the reference's counter names (TFDS c4_utils.clean_page, v3.1.0).
REFERENCE_COUNTER = {"too_long_word": "line-filtered:too_long_word", "no_end_mark": "line-filtered:no_endmark",
                     "too_few_words": "line-filtered:too_short", "javascript": "line-filtered:javascript",
                     "policy": "line-filtered:policy", "kept": "line-passed"}


def _as_reference(line_counts):
    return {REFERENCE_COUNTER[rule]: n for rule, n in line_counts.items() if n}


def _reference_line_counters(texts):
    return {k: n for k, n in reference_counters(texts).items() if k.startswith("line-")}


@pytest.mark.parametrize("breaker", ["Lorem ipsum dolor sit amet, consectetur adipiscing.",
                                     "var x = { a: 1, b: 2 } is an object here."])
def test_lines_passed_before_a_page_drop_count_as_kept(breaker):
    cleaner = C4Cleaner()
    text = page(GOOD, "Menu", GOOD, breaker, GOOD, "After the drop: never seen")
    assert cleaner.clean_text(text)[0] is None
    # Two lines passed and one was filtered before the page-dropping line; nothing after it counts.
    assert dict(cleaner.line_counts) == {"kept": 2, "no_end_mark": 1}
    assert _as_reference(cleaner.line_counts) == _reference_line_counters([text])


def test_line_counters_equal_the_references_on_every_real_sample_page(sample_documents):
    cleaner = C4Cleaner()
    texts = [d.text for d in sample_documents]
    # The real pages, plus each of them broken mid-scan by a "{" or "lorem ipsum" line after half its lines.
    for doc in sample_documents[:60]:
        lines = doc.text.splitlines()
        half = len(lines) // 2
        texts.append("\n".join(lines[:half] + ["Here is { some code } in a sentence."] + lines[half:]))
        texts.append("\n".join(lines[:half] + ["Lorem ipsum dolor sit amet, consectetur elit."] + lines[half:]))
    for text in texts:
        cleaner.clean_text(text)
    assert _as_reference(cleaner.line_counts) == _reference_line_counters(texts)
    assert cleaner.line_counts["kept"] > 0
