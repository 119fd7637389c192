"""corpus.cld3_langid labels pages as TFDS `detect_languages` does (gcld3, min 100 / max 10,000
bytes; unreliable or < 0.95 -> und, kept; a reliable language outside the list -> dropped), and
its shortcut (only the 10,000 bytes CLD3 reads are encoded and passed) changes no answer."""
import gzip
import json
import os

import gcld3
import pytest
from mc4_reference import PageFeatures, detect_languages, split_wet_file

from cleancrawl.corpus.cld3_langid import (
    MAX_INPUT_BYTES,
    Cld3Config,
    Cld3Identifier,
    Cld3LanguageFilter,
    parse_languages,
    resolve_languages,
)
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.mc4 import MC4_LANGUAGES
from cleancrawl.corpus.record import Document

from datapaths import DATA_DIR

UDHR = os.path.join(DATA_DIR, "mc4", "udhr.jsonl.gz")


def udhr_texts():
    with gzip.open(UDHR, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def doc(text, url="u"):
    return Document(url=url, normalized_url=url, timestamp="", text=text)


def whole_text_answer(text):
    """TFDS's call: the whole page, as str."""
    r = gcld3.NNetLanguageIdentifier(min_num_bytes=100, max_num_bytes=10000).FindLanguage(text)
    return (r.language, r.probability, r.is_reliable, r.proportion)


def test_tfds_fixture_pages():
    """TFDS's c4 fixture labels: the de pages are de, the repetitive pages und."""
    f = Cld3LanguageFilter(Cld3Config(languages=("en", "de")))
    path = os.path.join(DATA_DIR, "warc-edge-cases", "tfds-c4-cc_0.warc.wet.gz")
    pages = {p.url: p.text for p in split_wet_file(path)}
    assert f(doc(pages["http://fake.com/url/de"])).language == "de"
    assert f(doc(pages["http://fake.com/url/de-786"])).language == "de"
    assert f(doc(pages["http://fake.com/url/und"])).language == "und"
    assert f(doc(pages["http://fake.com/url/und-27"])).language == "und"
    assert f(doc(pages["http://fake.com/url/1"])).language == "en"


def _long_texts():
    records = udhr_texts()
    texts = [r["text"] for r in records]
    # pages longer than what CLD3 reads, in several scripts, and mixtures
    texts += [r["text"] * 3 for r in records[::7]]
    texts += [a["text"] + "\n" + b["text"] for a, b in zip(records[::5], records[1::5])]
    # a multi-byte character straddling byte 10,000, and runs of punctuation CLD3 cleans away
    for filler, char in (("a", "é"), ("b ", "字"), ("c", "😀"), ("д ", "ж"), ("1 ", "ñ")):
        for shift in range(-4, 5):
            head = (filler * MAX_INPUT_BYTES)[: MAX_INPUT_BYTES - 2 + shift]
            texts.append(head + char * 5 + " " + records[0]["text"])
    texts.append("!!! ??? ... " * 2000 + records[3]["text"])
    return texts


def test_truncated_call_gives_the_whole_text_answer(sample_documents):
    identifier = Cld3Identifier()
    texts = [d.text for d in sample_documents] + _long_texts()
    assert sum(len(t.encode()) > MAX_INPUT_BYTES for t in texts) > 150
    for text in texts:
        r = identifier.detect(text)
        assert (r.language, r.probability, r.is_reliable, r.proportion) == whole_text_answer(text), text[:80]


def test_short_and_empty_text_is_und():
    f = Cld3LanguageFilter()
    for text in ("", "Hallo Welt", "x" * 99, "12345 " * 100):
        out = f(doc(text))
        assert out.language == "und"


def test_labels_as_tfds_on_real_pages(sample_documents):
    """Every sample page and UDHR declaration, several language lists: same kept pages and labels."""
    texts = [d.text for d in sample_documents] + [r["text"] for r in udhr_texts()]
    for languages in (MC4_LANGUAGES, ("en", "de"), ("fr", "pl", "ru", "zh", "ja")):
        reference = {p.url: p.language for p in detect_languages(
            [PageFeatures(url=str(i), text=t) for i, t in enumerate(texts)], languages)}
        f = Cld3LanguageFilter(Cld3Config(languages=tuple(languages)))
        ours = {}
        for i, t in enumerate(texts):
            out = f(doc(t, str(i)))
            if isinstance(out, Document):
                ours[str(i)] = out.language
            else:
                assert out.reason == "ignored_language"
        assert ours == reference
        assert "und" in ours.values()


def test_language_options():
    assert parse_languages("mc4") == ("mc4",)
    assert parse_languages("de, fr,zh-Latn") == ("de", "fr", "zh-Latn")
    assert resolve_languages(("mc4",)) == frozenset(MC4_LANGUAGES) and len(MC4_LANGUAGES) == 107
    assert resolve_languages(("all",)) is None
    with pytest.raises(UserError):
        parse_languages("all,de")
    with pytest.raises(UserError):
        parse_languages(" , ")
    # all: nothing is dropped for its language
    f = Cld3LanguageFilter(Cld3Config(languages=("all",)))
    for record in udhr_texts():  # Tibetan, Cherokee, Scots, Breton, ...: kept, with CLD3's label
        assert isinstance(f(doc(record["text"])), Document)


def test_filter_pickles_without_its_detector():
    import pickle

    german = next(r["text"] for r in udhr_texts() if r["bcp47"] == "de-1996")
    f = Cld3LanguageFilter()
    assert f(doc(german)).language == "de"
    g = pickle.loads(pickle.dumps(f))
    assert g(doc(german)).language == "de"


def test_lone_surrogates_are_read_up_to_where_they_start():
    """TFDS never sees them (gcld3 refuses such a str); CLD3 is given the UTF-8 bytes with the
    surrogate encoded as such, where it stops, as at any invalid byte."""
    german = next(r["text"] for r in udhr_texts() if r["bcp47"] == "de-1996")
    ours = Cld3Identifier().detect(german[:3000] + "\udc80" + german[3000:])
    r = gcld3.NNetLanguageIdentifier(min_num_bytes=100, max_num_bytes=10000).FindLanguage(german[:3000])
    assert (ours.language, ours.probability, ours.is_reliable) == (r.language, r.probability, r.is_reliable)
    assert Cld3LanguageFilter()(doc("\udc80" + german)).language == "und"
