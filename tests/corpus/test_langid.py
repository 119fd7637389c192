"""corpus.langid must decide exactly as langdetect does (C4's language filter).

Every comparison is field by field against `reference_detect` (the plain langdetect call) and
the probability must be the same float to the last bit (compared through float.hex), on:
all 323 pages of the bundled WET sample, raw and C4-cleaned; hand-picked edge cases; random
unicode from hypothesis. Both engines are held to it: the reference path (numpy + Python,
`_fastlangdetect`) and the compiled one (numba, `_langdetect_kernel`; skipped where numba is
not installed). The pieces that make them fast (bulk random draws, the per-word n-gram cache,
numpy's multiply reduce, the kernels' hash table and sums) are also checked against their
langdetect/CPython originals.
"""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import langdetect
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from langdetect import DetectorFactory
from langdetect.detector_factory import init_factory
from warcio.archiveiterator import ArchiveIterator

from cleancrawl.corpus import _fastlangdetect as fast, _langdetect_kernel as kernel, _numba
from cleancrawl.corpus.langid import (
    NO_FEATURES,
    UNDETERMINED,
    LanguageIdentifier,
    LanguageResult,
    reference_detect,
)

SAMPLE_WET = Path(__file__).resolve().parents[2] / "cleancrawl" / "corpus" / "data" / "sample" / "pages.warc.wet.gz"
C4_MIN_PROBABILITY = 0.99


def read_wet_texts(path: Path) -> list[str]:
    with open(path, "rb") as stream:
        return [
            record.content_stream().read().decode("utf-8")
            for record in ArchiveIterator(stream)
            if record.rec_type == "conversion"
        ]


def c4_like_clean(text: str) -> str:
    """C4's line filter, roughly: keep lines ending in terminal punctuation with >= 5 words."""
    lines = (line.strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line.endswith((".", "?", "!", '"')) and len(line.split()) >= 5)


def same_result(expected: LanguageResult, actual: LanguageResult) -> bool:
    return (
        expected.language == actual.language
        and expected.error == actual.error
        and expected.probability.hex() == actual.probability.hex()
    )


def mismatches(identifier: LanguageIdentifier, texts: list[str], expected: list[LanguageResult] | None = None):
    """(index, langdetect's result, identifier's) for each text where they differ."""
    expected = [reference_detect(text) for text in texts] if expected is None else expected
    found = []
    for index, (text, reference) in enumerate(zip(texts, expected)):
        actual = identifier.detect(text)
        if not same_result(reference, actual):
            found.append((index, reference, actual))
    return found


needs_numba = pytest.mark.skipif(not kernel.AVAILABLE, reason="numba is not installed")
ENGINES = ["reference", pytest.param("compiled", marks=needs_numba)]


@pytest.fixture(scope="module")
def identifiers() -> dict[str, LanguageIdentifier]:
    found = {"reference": LanguageIdentifier(compiled=False)}
    if kernel.AVAILABLE:
        found["compiled"] = LanguageIdentifier(compiled=True)
    return found


@pytest.fixture(scope="module", params=ENGINES)
def identifier(request, identifiers) -> LanguageIdentifier:
    return identifiers[request.param]


@pytest.fixture(scope="module")
def raw_pages() -> list[str]:
    return read_wet_texts(SAMPLE_WET)


@pytest.fixture(scope="module")
def raw_reference(raw_pages) -> list[LanguageResult]:
    return [reference_detect(text) for text in raw_pages]


@pytest.fixture(scope="module")
def cleaned_pages(raw_pages) -> list[str]:
    return [c4_like_clean(text) for text in raw_pages]


@pytest.fixture(scope="module")
def cleaned_reference(cleaned_pages) -> list[LanguageResult]:
    return [reference_detect(text) for text in cleaned_pages]


def all_same(identifiers: dict[str, LanguageIdentifier], text: str) -> bool:
    expected = reference_detect(text)
    return all(same_result(expected, identifier.detect(text)) for identifier in identifiers.values())


# ----------------------------------------------------------------------------------------
# Real pages


def test_sample_holds_323_pages_in_several_languages(raw_pages, raw_reference):
    assert len(raw_pages) == 323
    languages = {result.language for result in raw_reference}
    assert {"de", "en"} <= languages and len(languages) >= 4


def test_identical_on_every_raw_page(identifier, raw_pages, raw_reference):
    assert mismatches(identifier, raw_pages, raw_reference) == []


def test_identical_on_every_cleaned_page(identifier, cleaned_pages, cleaned_reference):
    assert mismatches(identifier, cleaned_pages, cleaned_reference) == []


def test_c4_keep_decisions_identical(identifier, cleaned_pages, cleaned_reference):
    def keep(result: LanguageResult) -> bool:
        return result.language == "en" and result.probability >= C4_MIN_PROBABILITY

    expected = [keep(result) for result in cleaned_reference]
    actual = [keep(identifier.detect(text)) for text in cleaned_pages]
    assert actual == expected
    assert 0 < sum(actual) < len(actual)  # the sample has English pages and others


@pytest.fixture(scope="module")
def raw_ngrams(raw_pages) -> list[list[str]]:
    """The n-grams langdetect's own Detector extracts from each raw page."""
    init_factory()
    factory = langdetect.detector_factory._factory
    found = []
    for text in raw_pages:
        detector = factory.create()
        detector.append(text)
        detector.cleaning_text()
        found.append(detector._extract_ngrams())
    return found


def test_ngrams_identical_to_langdetects_on_every_page(identifier, raw_pages, raw_ngrams):
    gram_of_row = list(identifier._profiles.gram_rows)
    for text, expected in zip(raw_pages, raw_ngrams):
        rows = identifier._engine.ngram_rows(fast.prepare_code_points(text, 10000))
        assert [gram_of_row[row] for row in rows.tolist()] == expected


def test_same_results_after_other_texts_and_with_a_tiny_word_cache(raw_pages, raw_reference, cleaned_pages):
    small_cache = LanguageIdentifier(compiled=False)
    small_cache._engine.extractor = fast.NgramExtractor(small_cache._profiles.gram_rows, max_cached=50)
    texts = cleaned_pages[:60]
    first = [small_cache.detect(text) for text in texts]
    second = [small_cache.detect(text) for text in reversed(texts)][::-1]
    assert first == second
    assert mismatches(small_cache, raw_pages[:20], raw_reference[:20]) == []


def test_library_random_fallback_is_identical_too(raw_pages, raw_reference, cleaned_pages, cleaned_reference):
    with_library = LanguageIdentifier(compiled=False)
    with_library._engine.draws = fast._LibraryDraws(with_library.seed)
    assert mismatches(with_library, cleaned_pages[::6], cleaned_reference[::6]) == []
    assert mismatches(with_library, raw_pages[::12], raw_reference[::12]) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_other_seed_and_text_length(engine, raw_pages):
    compiled = engine == "compiled"
    seeded = LanguageIdentifier(seed=12345, compiled=compiled)
    for text in raw_pages[::25]:
        assert same_result(reference_detect(text, seed=12345), seeded.detect(text))

    short = LanguageIdentifier(max_text_length=300, compiled=compiled)
    init_factory()
    factory = langdetect.detector_factory._factory
    previous_seed, DetectorFactory.seed = DetectorFactory.seed, 0
    try:
        for text in raw_pages[::25]:
            detector = factory.create()
            detector.set_max_text_length(300)
            detector.append(text)
            top = detector.get_probabilities()[0]
            assert same_result(LanguageResult(top.lang, top.prob), short.detect(text))
    finally:
        DetectorFactory.seed = previous_seed


def test_reference_detect_restores_the_factory_seed():
    previous_seed = DetectorFactory.seed
    DetectorFactory.seed = 7
    try:
        reference_detect("Dies ist ein kurzer deutscher Satz über das Wetter.")
        assert DetectorFactory.seed == 7
    finally:
        DetectorFactory.seed = previous_seed


# ----------------------------------------------------------------------------------------
# Edge cases

LONG_ENGLISH = "The committee approved the new budget after a long debate about schools and roads. " * 200

EDGE_CASES = {
    "empty": "",
    "whitespace": "   \n\t  \r\n ",
    "digits": "12345 67890 3.14159 2024-05-18",
    "punctuation": "!!! ??? ... ,,, ;;; --- ***",
    "urls_only": "http://example.com/a?b=c https://www.example.org/path#frag http://x.y/z",
    "emails_only": "alice@example.com bob.smith@mail.example.org",
    "url_then_text": "See https://example.com/news for the full report on the election results today.",
    "chinese": "中华人民共和国是世界上人口最多的国家之一，首都是北京。",
    "traditional_chinese": "臺灣是一個位於東亞的島嶼，擁有豐富的文化與歷史。",
    "japanese": "日本語のテキストです。ひらがなとカタカナと漢字が混ざっています。",
    "korean": "한국어는 대한민국과 조선민주주의인민공화국의 공용어이다.",
    "arabic": "اللغة العربية هي أكثر اللغات السامية تحدثا وإحدى أكثر اللغات انتشارا في العالم.",
    "farsi": "زبان فارسی یکی از زبان‌های هندواروپایی است که در ایران و افغانستان صحبت می‌شود.",
    "russian": "Москва является столицей Российской Федерации и крупнейшим городом страны.",
    "greek": "Η Αθήνα είναι η πρωτεύουσα και μεγαλύτερη πόλη της Ελλάδας.",
    "hindi": "हिन्दी भारत की राजभाषा है और विश्व में सबसे अधिक बोली जाने वाली भाषाओं में से एक है।",
    "thai": "ภาษาไทยเป็นภาษาราชการของประเทศไทยและเป็นภาษาแม่ของชาวไทย",
    "vietnamese_combining_marks": ("Tie\u0302\u0301ng Vie\u0323\u0302t la\u0300 ngo\u0302n ngu\u031b\u0303 "
                                   "cu\u0309a ngu\u031bo\u031b\u0300i Vie\u0323\u0302t."),
    "romanian_comma_below": "Aceasta este o propoziție în limba română cu ș și ț.",
    "mixed_latin_minority": "Tokyo 東京は日本の首都であり、世界最大の都市圏の一つです。 Hello world.",
    "mixed_latin_majority": "The city of 東京 is the capital of Japan and a very large metropolitan area.",
    "mixed_cyrillic_english": "Привет, мир! This sentence mixes Russian and English words together.",
    "all_caps": "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AND KEEPS RUNNING AWAY",
    "title_case_german": "Die Bundesregierung Hat Heute Neue Maßnahmen Zum Klimaschutz Beschlossen",
    "spaces_runs": "Das     ist    ein   Satz    mit    vielen     Leerzeichen   dazwischen.",
    "latin1_punctuation": "«Bonjour» ¿Qué tal? ¡Hola! Très bien, merci — à bientôt…",
    "general_punctuation": ("Smart \u201cquotes\u201d and \u2018single\u2019 quotes \u2014 dashes \u2026 "
                            "bullets \u2022 here."),
    "emoji": "I love this 😀😀 so much 🎉 great party with friends 👍",
    "emoji_only": "😀🎉👍🔥",
    "astral_cjk": "𠀀𠀁𠀂 中文 𠀃",
    "lone_surrogates": "abc \ud800 def \udfff ghi Das ist \udc00 gut",
    "surrogate_halves_of_a_pair": "smile \ud83d\ude00 please",
    "control_characters": "Hello\x00world\x07 this\x1b is text\x7f with controls.",
    "long_text": LONG_ENGLISH,
    "long_text_url_at_cut": "a" * 9990 + " https://example.com/" + "b" * 50,
    "single_letter": "a",
    "single_capital": "A",
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_case_identical(identifier, name):
    text = EDGE_CASES[name]
    expected, actual = reference_detect(text), identifier.detect(text)
    assert same_result(expected, actual), (expected, actual)


def test_edge_cases_cover_both_outcomes(identifier):
    results = {name: identifier.detect(text) for name, text in EDGE_CASES.items()}
    assert results["empty"] == LanguageResult(UNDETERMINED, 0.0, NO_FEATURES)
    assert results["urls_only"].error == NO_FEATURES
    assert results["long_text"].language == "en"
    assert results["korean"].language == "ko"
    assert len(LONG_ENGLISH) > 10000


# ----------------------------------------------------------------------------------------
# Fuzz: random unicode (bounded so the file stays well under a minute)

ANY_CHARACTER = st.one_of(
    st.characters(exclude_categories=()),  # every category, surrogates included
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),  # lone surrogates, often
)
WORDS = [
    "the", "und", "der", "la", "est", "и", "в", "的", "是", "の", "に", "한국", "في", "من",
    "Haus", "BIG", "ça", "ñu", "ß", "http://a.b/c", "x@y.z", "123", "...", " ", "  ",
]


@settings(max_examples=300, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=ANY_CHARACTER, max_size=60))
def test_fuzz_random_unicode(identifiers, text):
    assert all_same(identifiers, text)


@settings(max_examples=300, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(alphabet=ANY_CHARACTER, max_size=4)), max_size=40))
def test_fuzz_word_soup(identifiers, words):
    assert all_same(identifiers, " ".join(words))


# ----------------------------------------------------------------------------------------
# The parts that make it fast, against what they replace


def test_stream_draws_equal_random_random_for_many_lengths_and_trials():
    """Bulk draws (incl. re-scans at every chunk boundary) equal random.Random's, call for call."""
    plan = random.Random(2024)
    for case in range(400):
        n = plan.choice([1, 2, 3, 4, 5, 8, 9, 16, 17, 1000, 1024, 1025, plan.randint(1, 30000)])
        seed = plan.choice([0, 0, 1, 99])
        rows = np.arange(n, dtype=np.int32) * 7
        library = fast._LibraryDraws(seed)
        stream = fast._StreamDraws(seed, initial_scan=plan.choice([1, 2, 3, 8, 64, 1024]))
        for _detection in range(2):  # a reused stream starts each detection afresh
            library.start(rows)
            stream.start(rows)
            for _trial in range(fast.N_TRIAL):
                assert library.gauss() == stream.gauss(), case
                for count in [1] + [5] * plan.choice([0, 1, 3, 20, 120]):
                    assert library.take(count) == stream.take(count).tolist(), case
    assert fast.stream_draws_match_library(0)


def test_multiply_reduce_is_sequential_like_langdetects_loop():
    values = np.random.default_rng(5)
    for _ in range(300):
        rows = values.integers(2, 7)
        block = values.random((rows, 55)) * 10.0 ** values.integers(-30, 5, size=(rows, 55))
        out = np.empty(55)
        np.multiply.reduce(block, axis=0, out=out)
        expected = block[0].tolist()
        for factors in block[1:].tolist():
            expected = [p * f for p, f in zip(expected, factors)]
        assert out.tolist() == expected


def test_normalize_equals_langdetects():
    detector = _reference_detector()
    values = np.random.default_rng(6)
    for _ in range(200):
        prob = values.random(55) * 10.0 ** values.integers(-40, 0, size=55)
        expected = prob.tolist()
        expected_max = detector._normalize_prob(expected)
        assert fast._normalize(prob) == expected_max
        assert prob.tolist() == expected


def test_rank_languages_equals_sort_probability_with_ties_and_flat_vectors():
    detector = _reference_detector()
    languages = tuple(detector.langlist)
    n = len(languages)
    vectors = [np.full(n, 1.0 / n), np.zeros(n)]
    tied = np.zeros(n)
    tied[[3, 10, 40]] = 1.0 / 3
    vectors.append(tied)
    vectors += [np.random.default_rng(seed).dirichlet(np.ones(n) * 0.2) for seed in range(50)]
    for vector in vectors:
        expected = [(lang.lang, lang.prob) for lang in detector._sort_probability(vector.tolist())]
        assert fast.rank_languages(vector, languages) == expected


def _reference_detector():
    init_factory()
    return langdetect.detector_factory._factory.create()


def test_profiles_read_directly_equal_the_factorys_bit_for_bit(tmp_path):
    direct, factory = fast.load_profiles(), fast.load_profiles_through_factory()
    assert direct.languages == factory.languages
    assert list(direct.gram_rows) == list(factory.gram_rows)  # same grams, same rows
    assert direct.probabilities.tobytes() == factory.probabilities.tobytes()

    # Hidden files are skipped but widen the table, as in the factory.
    import shutil
    for name in ("en", "de", "fr"):
        shutil.copy(Path(fast.PROFILES_DIRECTORY) / name, tmp_path / name)
    (tmp_path / ".hidden").write_text("not a profile")
    direct, factory = fast.load_profiles(str(tmp_path)), fast.load_profiles_through_factory(str(tmp_path))
    assert direct.languages == factory.languages and direct.probabilities.shape == (len(direct.gram_rows), 4)
    assert direct.probabilities.tobytes() == factory.probabilities.tobytes()


# ----------------------------------------------------------------------------------------
# The compiled engine: its parts against the reference's, and the fall-back to the reference


def test_default_engine_is_the_compiled_one_when_numba_is_there():
    assert LanguageIdentifier().compiled == kernel.AVAILABLE
    assert not LanguageIdentifier(compiled=False).compiled


def test_without_numba_the_reference_path_runs(monkeypatch):
    monkeypatch.setattr(kernel, "AVAILABLE", False)
    identifier = LanguageIdentifier()
    assert not identifier.compiled
    assert identifier.detect(LONG_ENGLISH).language == "en"
    with pytest.raises(RuntimeError, match="compiled language ID unavailable"):
        LanguageIdentifier(compiled=True)


@needs_numba
def test_a_compiled_engine_that_disagrees_at_start_up_is_not_used(monkeypatch, caplog):
    monkeypatch.setattr(kernel, "agrees_with", lambda engine, reference: False)
    assert not LanguageIdentifier().compiled
    assert "differs from the reference" in caplog.text


@needs_numba
def test_a_numba_that_cannot_compile_the_kernels_counts_as_none(monkeypatch, caplog):
    def fails(*args):
        raise TypeError("Failed in nopython mode pipeline (step: nopython frontend)")

    monkeypatch.setattr(kernel, "extract_rows", fails)
    identifier = LanguageIdentifier()
    assert not identifier.compiled and "TypeError" in caplog.text
    assert identifier.detect(LONG_ENGLISH).language == "en"


@needs_numba
def test_kernels_compile_without_a_writable_numba_cache(monkeypatch):
    """numba refuses cache=True where it finds no writable folder; the kernels then compile uncached."""
    njit = _numba.numba.njit

    def njit_without_cache_folder(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return njit(*args, **kwargs)

    monkeypatch.setattr(_numba.numba, "njit", njit_without_cache_folder)
    add_one = _numba.jit(lambda x: x + 1)
    assert add_one(1) == 2 and type(add_one._cache).__name__ == "NullCache"


@needs_numba
def test_numba_starts_without_importing_scipy():
    """scipy in sys.modules would make corpus.sentences import NLTK's scipy.stats: ~0.5 s per worker."""
    script = ("import sys\n"
              "from cleancrawl.corpus.langid import LanguageIdentifier\n"
              "assert LanguageIdentifier().compiled\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] == 'scipy'))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


@needs_numba
def test_gram_table_finds_every_emittable_gram_and_nothing_else():
    profiles = fast.load_profiles()
    table = kernel.GramTable(profiles.gram_rows)
    for gram, row in profiles.gram_rows.items():
        assert table.lookup(gram) == (row if gram != " " else -1), gram
    for absent in ("qqq", "\U0001F600", "a\U0001F600", "\U0001F600\U0001F600\U0001F600", "\uffff", "  "):
        assert absent not in profiles.gram_rows and table.lookup(absent) == -1


@needs_numba
@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.lists(st.floats(min_value=0.0, max_value=1e300, allow_subnormal=True), min_size=1, max_size=80))
def test_kernel_sum_is_pythons_builtin_sum(values):
    compensated = kernel.builtin_sum_is_compensated()
    assert kernel._python_sum(np.array(values), compensated) == sum(values)


@needs_numba
def test_kernel_sum_follows_either_summation():
    values = np.array([1.0, 1e100, 1.0, -1e100])
    assert kernel._python_sum(values, False) == 0.0  # sequential, as Python <= 3.11
    assert kernel._python_sum(values, True) == 2.0   # Neumaier, as Python >= 3.12


@needs_numba
def test_compiled_trials_equal_the_reference_for_many_row_counts_and_a_short_stream():
    """Random gram rows of many lengths, with a stream and gauss weights that start tiny, so that
    trials run out of both and are run again."""
    profiles = fast.load_profiles()
    plan = np.random.default_rng(11)
    reference = fast.ReferenceEngine(profiles, 0, draws=fast._LibraryDraws(0))
    compiled = kernel.CompiledTrials(profiles.probabilities, 0, kernel.builtin_sum_is_compensated(),
                                     initial_words=4, initial_positions=1)
    for n in [1, 2, 3, 7, 64, 65, 1000, 4097, 30000]:
        rows = plan.integers(0, len(profiles.gram_rows), size=n).astype(np.int32)
        expected = reference.language_probabilities(rows)
        assert compiled.estimate(rows).tobytes() == expected.tobytes(), n
