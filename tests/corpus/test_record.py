"""The record (corpus/record.py): a filter's Drop names only the reason, the runner stamps the
stage (`Drop.at_stage`) and refuses another; `CountsLines` is the line-counting filter's protocol."""
import pytest

from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.language_filter import LanguageFilter
from cleancrawl.corpus.record import CountsLines, Document


def _doc(text="Some text here."):
    return Document(url="u", normalized_url="u", timestamp="", text=text, source_file="f.wet")


def test_a_filter_names_the_reason_and_the_runner_stamps_the_stage():
    drop = _doc().drop("too_few_words", detail="3 words")
    assert ((drop.stage, drop.reason, drop.detail, drop.text_bytes, drop.source_file)
            == ("", "too_few_words", "3 words", 15, "f.wet"))
    stamped = drop.at_stage("min_words")
    assert stamped.stage == "min_words" and stamped.document is drop.document and stamped == drop.at_stage("min_words")
    assert stamped.at_stage("min_words") is stamped
    assert stamped.at_stage("") is stamped  # a runner without a name passes a named Drop on


def test_a_drop_naming_another_stage_or_none_at_all_is_refused():
    with pytest.raises(ValueError, match="stage 'min_words' returned a Drop of stage 'clean'"):
        _doc().drop("too_short", stage="clean").at_stage("min_words")
    with pytest.raises(ValueError, match="names no stage"):
        _doc().drop("too_short").at_stage("")
    with pytest.raises(TypeError):  # the old spelling doc.drop(STAGE, reason) cannot pass silently
        _doc().drop("clean", "too_short")


def test_line_counting_filters_declare_it():
    assert isinstance(C4Cleaner(), CountsLines)
    assert not isinstance(LanguageFilter(), CountsLines)
    assert not isinstance(lambda doc: doc, CountsLines)
