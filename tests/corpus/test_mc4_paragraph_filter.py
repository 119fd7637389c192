"""corpus.paragraph_filter decides as TFDS `c4_utils.paragraph_filter` (the oracle in tests/mc4_reference.py)."""
import pytest
from mc4_reference import PageFeatures, paragraph_filter

from cleancrawl.corpus.paragraph_filter import ParagraphConfig, ParagraphFilter
from cleancrawl.corpus.record import Document, Drop


def doc(text):
    return Document(url="u", normalized_url="u", timestamp="", text=text)


def test_tfds_own_test_case():
    """TFDS c4_utils_test.test_paragraph_filter, against cleancrawl's filter."""
    text = """This line is long enough to be a paragraph.
This one is not.
This one is. I promise!
"""
    additional_paragraph = "If we add this paragraph, the page should pass."
    assert isinstance(ParagraphFilter(ParagraphConfig(2, 20))(doc(text)), Drop)
    assert isinstance(ParagraphFilter(ParagraphConfig(3, 20))(doc(text)), Drop)
    assert isinstance(ParagraphFilter(ParagraphConfig(3, 20))(doc(text + additional_paragraph)), Document)


@pytest.mark.parametrize("text", [
    "", "\n", "\n\n", "a" * 200, ("a" * 200 + "\n") * 2, ("a" * 200 + "\n") * 3, ("a" * 200 + "\n") * 2 + "a" * 199,
    ("a" * 200 + "\n") * 2 + "a" * 200, "x\n" + ("a" * 250 + "\n") * 3, ("é" * 200 + "\r\n") * 3,  # \r counts
    ("字" * 200 + "\n") * 3, ("a" * 200 + "\u2028") * 3,  # split on \n only, not splitlines
    "\n".join(["b" * 300, "c" * 10, "d" * 199, "e" * 201]),
])
@pytest.mark.parametrize("min_paragraphs,min_len", [(3, 200), (2, 200), (1, 1), (5, 200), (3, 0)])
def test_same_decision_as_the_reference(text, min_paragraphs, min_len):
    expected = paragraph_filter(PageFeatures(text=text), min_paragraphs=min_paragraphs, min_paragraph_len=min_len)
    out = ParagraphFilter(ParagraphConfig(min_paragraphs, min_len))(doc(text))
    assert isinstance(out, Document) is expected
    if not expected:
        assert out.reason == "too_few_paragraphs" and out.stage == ""


def test_real_pages_same_decisions(sample_documents):
    f = ParagraphFilter()
    for d in sample_documents:
        assert isinstance(f(d), Document) is paragraph_filter(PageFeatures(text=d.text)), d.url


def test_kept_page_is_unchanged():
    d = doc(("a" * 200 + "\n") * 3)
    assert ParagraphFilter()(d) is d
