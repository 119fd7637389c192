"""N-gram overlap and decontamination decisions (corpus/ngrams.py) against brute force, on real text.

The corpus side is the bundled sample crawl's 323 real pages; the eval side is WikiText-2
validation lines with passages planted from those pages: verbatim, re-cased and re-punctuated
(must match: the word rule ignores both), with one word changed (the n-grams over that word must
NOT match), and shorter than n (no n-gram at all). Brute force is an independent method: a
substring search of " w1 ... wn " in the corpus's word streams joined per document.
"""
import os

import pytest

from cleancrawl.corpus.ngrams import BloomFilter, Decontaminator, EvalIndex, ngrams, words
from cleancrawl.corpus.record import Drop

from datapaths import DATA_DIR

WIKITEXT = os.path.join(DATA_DIR, "text", "wikitext-2-valid.txt")
EDIT = "zqxjvw"  # a word found in neither the sample crawl nor WikiText (checked below)


def _wikitext_lines(limit):
    lines = [line for line in open(WIKITEXT, encoding="utf-8").read().splitlines() if line.strip()]
    return lines[:limit]


def _joined(texts):
    """Each text's words as ' w1 w2 … ', one text per line: an n-gram is in a text iff ' g ' is in its line."""
    return "\n".join(" " + " ".join(words(t)) + " " for t in texts)


def _brute_found(eval_texts, corpus_texts, n):
    """(positions, found, dirty documents) by substring search, one eval position at a time."""
    corpus = _joined(corpus_texts)
    positions = found = dirty = 0
    for text in eval_texts:
        ws = words(text)
        hits = 0
        for i in range(len(ws) - n + 1):
            positions += 1
            hits += f" {' '.join(ws[i:i + n])} " in corpus
        found += hits
        dirty += hits > 0
    return positions, found, dirty


@pytest.fixture(scope="module")
def corpus_texts(sample_documents):
    return [d.text for d in sample_documents]


@pytest.fixture(scope="module")
def planted(corpus_texts):
    """Eval documents: 60 WikiText lines + passages planted from the crawl (see the module docstring)."""
    long_docs = [words(t) for t in corpus_texts if len(words(t)) > 200][:6]
    verbatim = [" ".join(ws[100:140]) for ws in long_docs[:3]]
    recased = [" -- ".join(ws[50:80]).upper() + "!" for ws in long_docs[3:4]]
    edited = []
    for ws in long_docs[4:6]:
        ws = ws[60:100]
        ws[20] = EDIT
        edited.append(" ".join(ws))
    short = [" ".join(long_docs[0][100:105])]  # 5 words, shorter than 8: no n-gram
    return _wikitext_lines(60), verbatim, recased, edited, short


def test_words_are_lower_cased_runs_of_letters_and_digits():
    assert words("It's 60 cm (24 in) — «Hôtel» snake_case Zürich’s ２０２０") == [
        "it", "s", "60", "cm", "24", "in", "hôtel", "snake", "case", "zürich", "s", "２０２０"]
    assert list(ngrams(["a", "b", "c"], 2)) == [("a", "b"), ("b", "c")]
    assert list(ngrams(["a", "b"], 3)) == []


def test_overlap_equals_brute_force_on_real_text_with_planted_passages(corpus_texts, planted):
    wiki, verbatim, recased, edited, short = planted
    n = 8
    assert EDIT not in _joined(corpus_texts) and EDIT not in _joined(wiki)
    evals = {"wiki": wiki, "verbatim": verbatim, "recased": recased, "edited": edited, "short": short}
    index = EvalIndex(n)
    for name, texts in evals.items():
        index.add(name, texts)
    found = set()
    for text in corpus_texts:  # the corpus streamed past the index, one document at a time
        found |= index.hits(text)
    report = index.report(found)
    for name, texts in evals.items():
        positions, hit, dirty = _brute_found(texts, corpus_texts, n)
        r = report[name]
        assert (r["positions"], r["found"], r["dirty_documents"]) == (positions, hit, dirty), name
        assert r["documents"] == len(texts)
    # What the brute force also says, in plain numbers:
    assert report["verbatim"]["found"] == report["verbatim"]["positions"] == 3 * (40 - n + 1)
    assert report["recased"]["found"] == report["recased"]["positions"] == 30 - n + 1   # case and punctuation ignored
    # An edited word breaks the n n-grams that cover it, and only those.
    assert report["edited"]["positions"] == 2 * (40 - n + 1)
    assert report["edited"]["found"] == 2 * (40 - n + 1 - n)
    assert report["short"] == {"positions": 0, "found": 0, "percent": 0.0, "documents": 1, "dirty_documents": 0}
    assert report["wiki"]["found"] < report["wiki"]["positions"]


def test_every_position_counts_with_multiplicity():
    text = "the cat sat on the mat and the cat sat on the mat"
    index = EvalIndex(3)
    index.add("rep", [text, text, "cat sat"])
    found = index.hits("yesterday the cat sat on a chair")
    report = index.report(found)["rep"]
    # 11 positions a document; "the cat sat" and "cat sat on" at 2 positions each, in each of 2
    # documents: 8 found; "cat sat" (2 words) has no 3-gram
    assert report == {"positions": 22, "found": 8, "percent": round(100 * 8 / 22, 4), "documents": 3,
                      "dirty_documents": 2}


def test_the_index_is_exact_no_hash_can_confuse_two_ngrams():
    index = EvalIndex(2)
    index.add("e", ["alpha beta"])
    # Same characters, other word boundaries; same hash() in a set would still compare the words.
    assert index.hits("alphab eta") == set() and index.hits("alph abeta") == set()
    assert index.hits("Alpha, BETA!") == {0}


def test_decontaminator_drops_exactly_the_documents_sharing_an_ngram(sample_documents, planted):
    wiki, verbatim, recased, edited, short = planted
    n = 13
    eval_texts = wiki + verbatim + recased + edited + short
    index = EvalIndex(n)
    index.add("held", eval_texts)
    stage = Decontaminator(index)
    eval_joined = _joined(eval_texts)
    dropped = kept = 0
    for doc in sample_documents:
        ws = words(doc.text)
        expected = any(f" {' '.join(ws[i:i + n])} " in eval_joined for i in range(len(ws) - n + 1))
        result = stage(doc)
        if isinstance(result, Drop):
            dropped += 1
            assert expected, doc.url
            assert (result.stage, result.reason) == ("", "contaminated")  # the runner stamps the stage
            source_doc, gram = result.detail.split(": ", 1)
            assert source_doc.startswith("held#")
            # The audit names a real shared n-gram and an eval document holding it.
            assert f" {gram} " in " " + " ".join(ws) + " "
            assert f" {gram} " in " " + " ".join(words(eval_texts[int(source_doc[5:])])) + " "
        else:
            kept += 1
            assert result is doc and not expected, doc.url
    # The 6 planted sources (3 verbatim, 1 recased, 2 edited: 20 intact words either side of the
    # edit hold 13-grams), and one more page of the crawl that repeats a planted passage.
    assert dropped == 7 and kept + dropped == len(sample_documents)


def test_bloom_filter_never_misses_and_its_false_positive_rate_is_as_stated(corpus_texts):
    grams = {g for t in corpus_texts[:120] for g in ngrams(words(t), 8)}
    bloom = BloomFilter(bits=len(grams) * 6, hashes=4)  # ~6 bits a gram: a few % false positives
    for g in grams:
        bloom.add(g)
    assert all(g in bloom for g in grams)
    expected, measured = bloom.expected_fpr(len(grams)), bloom.measured_fpr(20_000)
    assert 0.01 < expected < 0.1
    assert abs(measured - expected) < 0.3 * expected
    other = BloomFilter(bits=bloom.bits, hashes=4)
    other.add(("\x00", "x"))
    bloom |= other
    assert ("\x00", "x") in bloom and all(g in bloom for g in grams)
