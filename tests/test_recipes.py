"""cleancrawl.recipes: TFDS's C4 configs as data, consistent with the stages' own defaults."""
import pytest

from cleancrawl.corpus.badwords import BadwordsConfig
from cleancrawl.corpus.cld3_langid import Cld3Config
from cleancrawl.corpus.filters import CleanConfig
from cleancrawl.corpus.language_filter import LanguageConfig
from cleancrawl.corpus.mc4 import BADWORDS_FILTER_FRACTION
from cleancrawl.corpus.paragraph_filter import ParagraphConfig
from cleancrawl.recipes import ALL_CRAWLS, DEFAULT_RECIPE, OPENWEBTEXT_CRAWLS, RECIPES, recipe

KNOWN_STAGES = {"read", "url_dedup", "select", "paragraph_filter", "clean", "dedup", "langid", "cld3_langid",
                "badwords"}


def test_the_five_tfds_configs():
    assert {name: r.tfds_config for name, r in RECIPES.items()} == {
        "c4": "en", "c4-noclean": "en.noclean", "realnewslike": "realnewslike", "webtextlike": "webtextlike",
        "mc4": "multilingual"}
    assert DEFAULT_RECIPE == "c4"
    assert len(ALL_CRAWLS) == 86 and len(set(ALL_CRAWLS)) == 86 and len(OPENWEBTEXT_CRAWLS) == 12
    assert RECIPES["webtextlike"].crawls == OPENWEBTEXT_CRAWLS and RECIPES["mc4"].crawls == ALL_CRAWLS
    assert RECIPES["c4"].crawls == ("CC-MAIN-2019-18",)


@pytest.mark.parametrize("name", list(RECIPES))
def test_stages_are_known_and_ordered(name):
    r = RECIPES[name]
    assert r.stages[0] == "read" and set(r.stages) <= KNOWN_STAGES
    order = ["read", "url_dedup", "select", "paragraph_filter", "clean", "dedup", "langid", "cld3_langid", "badwords"]
    assert list(r.stages) == sorted(r.stages, key=order.index)
    assert r.options["max_text_chars"] == 190_000


def test_mc4_is_tfds_multilingual():
    r = recipe("mc4")
    assert r.stages == ("read", "url_dedup", "paragraph_filter", "dedup", "cld3_langid", "badwords")
    assert r.options["dedup"] == {"methods": ["c4-lines"]}
    assert r.options["paragraph_filter"] == {"min_paragraphs": 3, "min_paragraph_len": 200}
    assert Cld3Config(**{**r.options["cld3_langid"], "languages": ("mc4",)}) == Cld3Config()
    assert ParagraphConfig(**r.options["paragraph_filter"]) == ParagraphConfig()
    assert r.options["badwords"]["filter_fraction"] == BADWORDS_FILTER_FRACTION == 0.999
    assert r.splits == "per-language" and r.options["per_language"] is True


def test_c4_recipes_are_the_default_options():
    for name in ("c4", "c4-noclean", "realnewslike", "webtextlike"):
        assert RECIPES[name].options == {"max_text_chars": 190_000, "per_language": False}
    assert RECIPES["realnewslike"].needs == ("select.domains",) and RECIPES["webtextlike"].needs == ("select.urls",)
    assert recipe("c4-noclean").stages == ("read", "url_dedup", "langid")
    assert CleanConfig() and LanguageConfig() and BadwordsConfig().filter_fraction == 1.0


def test_unknown_recipe_and_immutability():
    with pytest.raises(KeyError, match="known: c4"):
        recipe("c5")
    with pytest.raises(TypeError):
        RECIPES["mc4"].options["badwords"]["filter_fraction"] = 1.0


def test_a_recipe_runs_its_own_stages_and_skip_takes_more_away():
    from cleancrawl.pipelines.config import BuildConfig
    from cleancrawl.pipelines.stages import STAGES, resolve_skip

    def running(**values):
        config = BuildConfig(**values)
        return [s.name for s in STAGES if s.name != "read" and s.runs(config, resolve_skip(config.skip))]

    assert running() == ["url_dedup", "clean", "dedup", "langid", "badwords"]
    assert running(recipe="mc4") == ["url_dedup", "paragraph_filter", "dedup", "cld3_langid", "badwords"]
    assert running(recipe="mc4", skip=("badwords",)) == ["url_dedup", "paragraph_filter", "dedup", "cld3_langid"]
    assert running(recipe="c4-noclean") == ["url_dedup", "langid"]
    assert running(decontaminate=["evals.txt"], recipe="mc4")[-2] == "decontaminate"  # no recipe's to turn off
