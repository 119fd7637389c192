"""The thin Beam wrappers: a stage's kept/dropped/tally outputs, and errors counted, not raised."""
import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from cleancrawl.corpus.accounting import summarize
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.record import Document
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, ApplyStage


def _doc(url, text):
    return Document(url=url, normalized_url=url, timestamp="", text=text, source_file="f.wet")


GOOD = ("A perfectly ordinary sentence is here.\nAnother perfectly ordinary sentence is here.\n"
        "A third ordinary sentence is here.")


class ExplodesOnce:
    """A stage that fails on one page, as a library might on a strange page."""

    def __call__(self, doc):
        if doc.url == "boom":
            raise UnicodeError("surprise")
        return doc


def test_clean_stage_outputs(sample_documents):
    docs = [_doc("a", GOOD), _doc("b", "Menu\nHome"), _doc("c", GOOD + "\nvar a = { b: 1 } is code here.")]
    with TestPipeline() as p:
        out = p | beam.Create(docs) | ApplyStage(C4Cleaner, "clean")
        assert_that(out[KEPT] | "KeptUrls" >> beam.Map(lambda d: d.url), equal_to(["a"]), label="kept")
        assert_that(out[DROPPED] | "Reasons" >> beam.Map(lambda d: (d.url, d.reason)),
                    equal_to([("b", "too_few_sentences"), ("c", "curly_bracket")]), label="dropped")
        lines = (out[TALLY] | beam.Filter(lambda kv: kv[0][0] == "lines")
                 | beam.CombinePerKey(lambda pairs: tuple(map(sum, zip(*pairs))))
                 | beam.Map(lambda kv: (kv[0][2], kv[1][0])))
        # C4's `line-passed`: c's three lines before its "{" line count as kept too (a: 3, c: 3).
        assert_that(lines, equal_to([("kept", 6), ("no_end_mark", 2)]), label="lines")
        flow = (out[TALLY] | "Flow" >> beam.Filter(lambda kv: kv[0][0] == "stage")
                | "SumFlow" >> beam.CombinePerKey(lambda pairs: tuple(map(sum, zip(*pairs))))
                | "FlowCounts" >> beam.Map(lambda kv: (kv[0][2], kv[1][0])))
        assert_that(flow, equal_to([("in", 3), ("out", 1)]), label="flow")


def test_a_stage_exception_becomes_a_counted_drop():
    with TestPipeline() as p:
        out = p | beam.Create([_doc("ok", "x"), _doc("boom", "y")]) | ApplyStage(ExplodesOnce, "langid")
        assert_that(out[KEPT] | "Urls" >> beam.Map(lambda d: d.url), equal_to(["ok"]), label="kept")
        assert_that(out[DROPPED] | beam.Map(lambda d: (d.stage, d.reason, d.detail)),
                    equal_to([("langid", "stage_error", "UnicodeError: surprise")]), label="dropped")


class DropsShort:
    """A filter that names only its reasons; the runner stamps the stage."""

    def __init__(self, stage: str = ""):
        self.stage = stage

    def __call__(self, doc):
        return doc.drop("short", detail=doc.url, stage=self.stage) if len(doc.text) < 3 else doc


def test_the_runner_stamps_its_stage_on_every_drop():
    with TestPipeline() as p:
        out = p | beam.Create([_doc("ok", "long enough"), _doc("a", "y")]) | ApplyStage(DropsShort, "min_words")
        assert_that(out[DROPPED] | beam.Map(lambda d: (d.stage, d.reason, d.detail)),
                    equal_to([("min_words", "short", "a")]), label="dropped")


def test_a_drop_naming_another_stage_fails_the_pipeline():
    with pytest.raises(Exception, match="stage 'min_words' returned a Drop of stage 'clean'"):
        with TestPipeline() as p:
            _ = p | beam.Create([_doc("a", "y")]) | ApplyStage(lambda: DropsShort("clean"), "min_words")


def test_summarize_balances_per_file_and_flags_a_leak():
    tallies = [
        (("read", "a.wet"), (3, 0)),
        (("drop", "clean", "too_few_sentences", "a.wet"), (2, 100)),
        (("kept", "train", "a.wet"), (1, 50)),
        (("read", "b.wet"), (2, 0)),
        (("kept", "train", "b.wet"), (1, 10)),  # one record of b.wet went nowhere
        (("lines", "clean", "no_end_mark"), (7, 0)),
    ]
    stats = summarize(tallies)
    assert stats["files"]["a.wet"]["balanced"] and not stats["files"]["b.wet"]["balanced"]
    assert stats["unbalanced_files"] == ["b.wet"] and not stats["totals"]["balanced"]
    clean = next(s for s in stats["funnel"] if s["stage"] == "clean")
    assert (clean["in"], clean["dropped"], clean["out"]) == (5, 2, 3)
    assert stats["dropped"]["clean"]["too_few_sentences"] == {"documents": 2, "bytes": 100}
    assert stats["lines"] == {"clean": {"no_end_mark": 7}}
