"""corpus.badwords with mC4's soft filter (filter_fraction < 1): TFDS's own test cases and its hash."""
import pytest
from mc4_reference import PageFeatures, get_badwords_filter_fn, load_badwords as reference_badwords

from cleancrawl.corpus.badwords import ALLOWLIST, BadwordsConfig, BadwordsFilter, load_badwords, soft_keep_predicate
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.urls import normalize_url


def doc(text, language, normalized_url="u"):
    return Document(url=normalized_url, normalized_url=normalized_url, timestamp="", text=text, language=language)


def kept(out):
    return isinstance(out, Document)


def test_tfds_badwords_filter_case():
    """TFDS c4_utils_test.test_badwords_filter, against cleancrawl's filter with the same lists."""
    padding_text = """This page starts out with some text.
Everything looks good at first, since these are sentences.
But then, all of a sudden, there's a badword... or not?
"""
    final_sentences = [
        "I asked my friend for assistance polishing my cutlass.",
        "He took the saddle and put it on his ass in preparation for travel.",
        "Ass is one of several species of small, horse-like animals.",
        'Donkey is one synonym for the word "ass".',
        "Ass is not a badword in Spanish.",
        "Culo is though.",
        "Ass and culo aren't badwords in German.",
    ]
    languages = ["en", "en", "en-latin", "en", "es", "es", "de"]
    expected_outputs = [True, False, False, False, True, False, True]
    f = BadwordsFilter("", wordlists={"en": ["ass"], "es": ["culo"]})
    assert [kept(f(doc(padding_text + s, lang))) for s, lang in zip(final_sentences, languages)] == expected_outputs


def test_tfds_soft_badwords_filter_case():
    """TFDS c4_utils_test.test_soft_badwords_filter: filter_fraction 0.5, the URL hash decides."""
    f = BadwordsFilter("", filter_fraction=0.5, wordlists={"": ["bad"]})
    assert kept(f(doc("good page", "", "filtered.url.com")))
    assert not kept(f(doc("bad page", "", "filtered.url.com")))
    assert kept(f(doc("bad page", "", "unfiltered.url.com")))
    assert f.soft_kept == {"": 1}


@pytest.mark.parametrize("fraction", [0.999, 0.5, 0.9, 0.1, 1.0, 0.0, 1 / 3])
def test_soft_keep_is_the_reference_hash(fraction):
    reference = get_badwords_filter_fn({"en": ["bad"]}, filter_fraction=fraction)
    ours = BadwordsFilter("", filter_fraction=fraction, wordlists={"en": ["bad"]})
    for i in range(3000):
        url = normalize_url(f"https://www.example.com/page/{i}?utm_source=x")
        assert kept(ours(doc("a bad page", "en", url))) is reference(
            PageFeatures(text="a bad page", normalized_url=url, language="en")), (fraction, url)


def test_mc4_fraction_keeps_about_one_in_a_thousand():
    keep = soft_keep_predicate(0.999)
    assert 5 <= sum(keep(f"example.org/{i}") for i in range(20_000)) <= 40


def test_shipped_lists_are_what_tfds_loads():
    """The 28 LDNOOBW files as c4.py merges them (fr-CA into fr), minus TFDS's allowlist."""
    reference = reference_badwords()
    assert len(reference) == 27  # 28 files, fr-CA-u-sd-caqc merged into fr
    for lang, words in reference.items():
        assert load_badwords(lang) == frozenset(words), lang
    assert ALLOWLIST == {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}


@pytest.mark.parametrize("language", ["ja", "ja-Latn", "zh", "zh-Latn", "th", "hi-Latn", "ru-Latn", "fil", "no"])
def test_language_suffix_and_unspaced_matching_as_tfds(language):
    """CLD3's `-Latn` labels use their base language's list, and ja/zh/th match inside words."""
    reference = get_badwords_filter_fn(reference_badwords(), filter_fraction=1.0)
    ours = BadwordsFilter("", filter_fraction=1.0)
    base = language.split("-")[0]
    for word in sorted(load_badwords(base))[:40]:
        for text in (f"xx{word}xx", f"a {word} b", word.upper()):
            assert kept(ours(doc(text, language))) is reference(PageFeatures(text=text, language=language)), word


def test_config_checks_the_fraction():
    with pytest.raises(UserError):
        BadwordsConfig(1.5)
    assert BadwordsConfig().filter_fraction == 1.0
