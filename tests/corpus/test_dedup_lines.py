"""C4 repeated-line removal on real pages: the reference's decisions, ties, in-page repeats,
unicode case, and the page checks."""
from collections import defaultdict

import pytest

from cleancrawl.corpus.dedup import DUPLICATE_LINES, TOO_FEW_SENTENCES, DedupConfig, document_key, parse_methods
from cleancrawl.corpus.dedup.lines import (
    GLOBAL_DUPLICATE,
    LOCAL_DUPLICATE,
    dedup_lines_in_memory,
    line_key,
    remove_lines,
)
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.readers import read_local_file
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.sentences import split_sentences

from c4_reference import _md5, reference_remove_duplicate_text
from datapaths import PAGES_WARC


def _clean(docs):
    cleaner = C4Cleaner()
    return [r for r in (cleaner(d) for d in docs) if isinstance(r, Document)]


@pytest.fixture(scope="module")
def cleaned_pages(sample_documents):
    """Real pages after C4's clean stage: the sample crawl (WET), one record per URL."""
    return _clean(sample_documents)


@pytest.fixture(scope="module")
def warc_pages():
    """40 of the same pages crawled again as WARC (HTML extracted): same URLs, other records."""
    return _clean(d for d in read_local_file(PAGES_WARC) if isinstance(d, Document))


def test_same_decisions_as_the_reference_on_real_pages(cleaned_pages):
    assert len({d.url for d in cleaned_pages}) == len(cleaned_pages)  # the reference needs unique URLs
    outcomes = dedup_lines_in_memory([(document_key(d), d.text) for d in cleaned_pages])
    expected = reference_remove_duplicate_text([(d.url, d.text) for d in cleaned_pages])
    assert {d.url: o.text for d, o in zip(cleaned_pages, outcomes)} == expected
    removed = sum(o.counts[GLOBAL_DUPLICATE] for o in outcomes)
    repeated = sum(o.counts[LOCAL_DUPLICATE] for o in outcomes)
    assert removed > 100 and repeated > 100  # real boilerplate: "Du kommentierst mit ...", TYPO3 footers
    assert sum(o.text is None for o in outcomes) >= 1


def test_the_page_with_the_smallest_md5_url_keeps_a_shared_line(cleaned_pages):
    pages = [d for d in cleaned_pages if "this website is powered by typo3 - inspiring people to share!"
             in d.text.lower()]
    assert len(pages) >= 5
    outcomes = dedup_lines_in_memory([(document_key(d), d.text) for d in pages])
    keepers = [d for d, o in zip(pages, outcomes) if o.text and "powered by TYPO3" in o.text]
    assert [d.url for d in keepers] == [min(pages, key=lambda d: _md5(d.url)).url]


def test_ties_between_records_of_one_url_do_not_depend_on_order(cleaned_pages, warc_pages):
    """Real ties: the same URL read from the WET and the WARC file. The reference keys pages by
    URL and would fail here; the record part of the key breaks the tie, whatever the order."""
    by_url = {d.url: d for d in cleaned_pages}
    pairs = [(by_url[w.url], w) for w in warc_pages if w.url in by_url]
    assert len(pairs) >= 20
    pages = [d for pair in pairs for d in pair]
    forward = dedup_lines_in_memory([(document_key(d), d.text) for d in pages])
    backward = dedup_lines_in_memory([(document_key(d), d.text) for d in reversed(pages)])
    assert [o.text for o in forward] == [o.text for o in reversed(backward)]
    outcome = {(d.url, d.source_file): o for d, o in zip(pages, forward)}
    owners = defaultdict(set)
    for d in pages:
        for line in d.text.split("\n"):
            owners[line_key(line)].add(d.url)
    checked = 0
    for wet, warc in pairs:
        assert document_key(wet)[:16] == document_key(warc)[:16]  # same MD5(url): a tie
        winner, loser = sorted((wet, warc), key=document_key)
        kept = outcome[(winner.url, winner.source_file)].text
        lost = outcome[(loser.url, loser.source_file)].text
        keys = lambda text: {line_key(x) for x in text.split("\n")} if text else set()  # noqa: E731
        twins_only = {k for k in keys(winner.text) & keys(loser.text) if owners[k] == {winner.url}}
        assert not twins_only & keys(lost)          # the loser keeps none of the twins' lines
        if kept is not None:
            assert twins_only <= keys(kept)         # the winner keeps all of them
            checked += 1
    assert checked >= 20
    assert sum(o.text is None for o in forward) >= 10  # most twins share (almost) every line


def test_a_line_repeated_inside_one_page_keeps_its_first_occurrence(cleaned_pages):
    page = next(d for d in cleaned_pages if d.text.count("\n") >= 4)
    lines = page.text.split("\n")
    text = "\n".join(lines + [lines[1].upper(), lines[1]])
    outcome = remove_lines(text, set())
    assert outcome.text == page.text
    assert outcome.counts[LOCAL_DUPLICATE] == 2 and outcome.counts[GLOBAL_DUPLICATE] == 0
    # Another page (smaller key) owning that line takes every occurrence away from this one.
    outcome = remove_lines(text, {line_key(lines[1])})
    assert lines[1] not in outcome.text.split("\n") and outcome.counts[GLOBAL_DUPLICATE] == 3


def test_case_is_folded_with_str_lower_as_in_the_reference(sample_documents):
    lines = [line.strip() for d in sample_documents for line in d.text.split("\n")]
    umlaut = next(line for line in lines if "Lüderitzstrasse" in line)
    eszett = next(line for line in lines if "Speicherbarkeit" in line and "ß" in line)
    assert line_key(umlaut.upper()) == line_key(umlaut) == line_key("  " + umlaut.lower() + " ")
    # "ß".upper() is "SS", whose lower() is "ss": a different line under str.lower().
    assert line_key(eszett.upper()) != line_key(eszett)
    assert line_key(eszett.upper()) == line_key(eszett.replace("ß", "ss"))


def test_page_checks_name_the_reason(cleaned_pages):
    page = next(d for d in cleaned_pages if len(split_sentences(d.text)) > 5)
    emptied = remove_lines(page.text, {line_key(line) for line in page.text.split("\n")})
    assert (emptied.text, emptied.reason, emptied.detail) == (None, DUPLICATE_LINES, "empty")
    # Nothing removed, but the re-count on the joined text is under 3: C4 drops it here too.
    short = "This is one sentence with words.\nAnd here is a second one."
    outcome = remove_lines(short, set())
    assert (outcome.text, outcome.reason, outcome.detail) == (None, TOO_FEW_SENTENCES, "too_few_sentences")
    assert not outcome.changed
    kept = remove_lines(page.text)
    assert kept.text == page.text and not kept.changed


def test_methods_parse_and_validate():
    assert parse_methods("c4-lines,minhash") == ("c4-lines", "minhash")
    assert parse_methods("none") == () == parse_methods("")
    assert DedupConfig(methods=("minhash", "c4-lines")).methods == ("c4-lines", "minhash")  # run order
    with pytest.raises(UserError, match="unknown dedup method"):
        parse_methods("c4-lines,simhash")
    with pytest.raises(UserError, match="bands x rows"):
        DedupConfig(bands=20, rows=8)
    with pytest.raises(UserError, match="partition_bytes must be"):
        DedupConfig(partition_bytes=3)  # a --config file can set it: 0, 1 or 2 only
    assert DedupConfig().for_inputs(64).partition_bytes == 1 and DedupConfig().for_inputs(65).partition_bytes == 2
    assert DedupConfig(partition_bytes=2).for_inputs(1).partition_bytes == 2  # chosen by hand: kept
    with pytest.raises(UserError, match="none cannot be combined"):
        parse_methods("none,minhash")
