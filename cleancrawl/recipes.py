"""TFDS's C4 configs by name, as data: which stages run and with which options (`--recipe NAME`).

A recipe is what TFDS `c4.py` (tensorflow-datasets 4.9.x, C4 v3.1.0) does for one
`C4Config`, in cleancrawl's terms: the registry stages that run, in order (`stages`), the
`--config` keys it sets (`options`, nested as a `--config` file holds them; every one can still
be overridden on the command line), the options a user must supply (`needs`: a URL table, a
domain allowlist), the Common Crawl snapshots TFDS reads (`crawls`), and how the output is split.
This module holds data only; the build applies it.

    recipe  TFDS config   stages (after read, which drops pages over 190,000 characters)
    c4      en            url_dedup, clean, dedup (c4-lines, >= 3 sentences), langid (langdetect en >= 0.99),
                          badwords (fraction 1.0)
    c4-noclean en.noclean url_dedup, langid
    realnewslike          url_dedup, select (RealNews domain allowlist), then as c4
    webtextlike           url_dedup, select (OpenWebText URL table), then as c4; 12 crawls
    mc4     multilingual  url_dedup, paragraph_filter, dedup (c4-lines, no sentence rule),
                          cld3_langid (mC4's 107 languages, >= 0.95 else und), badwords (fraction 0.999);
                          a train and a validation split per language and for und; 86 crawls
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

# TFDS c4.py: DEFAULT_CC_VERSION, OPENWEBTEXT_CC_VERSIONS, ALL_CC_VERSIONS (as of August 1, 2022).
DEFAULT_CRAWLS = ("CC-MAIN-2019-18",)
OPENWEBTEXT_CRAWLS = tuple(f"CC-MAIN-{v}" for v in (
    "2019-18", "2019-30", "2019-26", "2019-22", "2019-13", "2019-09", "2019-04", "2018-51", "2018-47", "2018-43",
    "2018-39", "2018-34"))
ALL_CRAWLS = tuple(f"CC-MAIN-{v}" for v in (
    "2013-20", "2013-48", "2014-10", "2014-15", "2014-23", "2014-35", "2014-41", "2014-42", "2014-49", "2014-52",
    "2015-06", "2015-11", "2015-14", "2015-18", "2015-22", "2015-27", "2015-32", "2015-35", "2015-40", "2015-48",
    "2016-07", "2016-18", "2016-22", "2016-26", "2016-30", "2016-36", "2016-40", "2016-44", "2016-50", "2017-04",
    "2017-09", "2017-13", "2017-17", "2017-22", "2017-26", "2017-30", "2017-34", "2017-39", "2017-43", "2017-47",
    "2017-51", "2018-05", "2018-09", "2018-13", "2018-17", "2018-22", "2018-26", "2018-30", "2018-34", "2018-39",
    "2018-43", "2018-47", "2018-51", "2019-04", "2019-09", "2019-13", "2019-18", "2019-22", "2019-26", "2019-30",
    "2019-35", "2019-39", "2019-43", "2019-47", "2019-51", "2020-05", "2020-10", "2020-16", "2020-24", "2020-29",
    "2020-34", "2020-40", "2020-45", "2020-50", "2021-04", "2021-10", "2021-17", "2021-21", "2021-25", "2021-31",
    "2021-39", "2021-43", "2021-49", "2022-05", "2022-21", "2022-27"))
# TFDS skips this file of CC-MAIN-2017-13 (it raises UnicodeDecodeError).
KNOWN_CORRUPT_WET_FILES = (
    "crawl-data/CC-MAIN-2017-13/segments/1490218203536.73/wet/"
    "CC-MAIN-20170322213003-00052-ip-10-233-31-227.ec2.internal.warc.wet.gz",)
# TFDS's RealNews domain allowlist (Grover's domain_to_allowed_subdomains.json at this commit).
REALNEWS_DOMAINS_URL = ("https://raw.githubusercontent.com/rowanz/grover/38f7184bd87237ae2d3bc330b99f1e2e246f6d51/"
                        "realnews/domain_to_allowed_subdomains.json")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v for k, v in mapping.items()})


@dataclass(frozen=True)
class Recipe:
    name: str                         # --recipe NAME
    tfds_config: str                  # the TFDS builder config it reproduces (tfds.load("c4/<this>"))
    description: str
    stages: tuple[str, ...]           # registry stages that run, in order ("read" first); the others are skipped
    options: Mapping[str, Any] = field(default_factory=dict)  # --config keys, nested by stage
    needs: tuple[str, ...] = ()       # --config keys the user must give (no default reproduces TFDS)
    crawls: tuple[str, ...] = DEFAULT_CRAWLS  # TFDS's cc_versions
    splits: str = "train/validation"  # or "per-language": OUT/<lang>/{train,validation}, und included

    def __post_init__(self):
        object.__setattr__(self, "options", _frozen(self.options))


# What a recipe sets, as `--config` keys; every other option keeps its default, which is C4's. The
# C4 configs keep the build's MinHash near-dedup beside C4's line dedup (one deliberate difference from
# TFDS, README "Fidelity"; `--dedup c4-lines` is TFDS exactly). Line dedup's minimum-sentences rule is
# clean's `--min-sentences` when clean runs and none when it does not, as in TFDS (pipelines.config).
_C4_OPTIONS = {"max_text_chars": 190_000, "per_language": False}
_C4_STAGES = ("read", "url_dedup", "clean", "dedup", "langid", "badwords")

RECIPES: Mapping[str, Recipe] = MappingProxyType({r.name: r for r in (
    Recipe("c4", "en", "English C4 (the default build)", _C4_STAGES, _C4_OPTIONS),
    Recipe("c4-noclean", "en.noclean", "English, no cleaning: no clean, line dedup or badwords",
           ("read", "url_dedup", "langid"), _C4_OPTIONS),
    Recipe("realnewslike", "realnewslike", "C4 restricted to the RealNews domains (Zellers et al., 2019)",
           ("read", "url_dedup", "select", "clean", "dedup", "langid", "badwords"), _C4_OPTIONS,
           needs=("select.domains",)),
    Recipe("webtextlike", "webtextlike", "C4 restricted to the OpenWebText URLs, from 12 crawls",
           ("read", "url_dedup", "select", "clean", "dedup", "langid", "badwords"), _C4_OPTIONS,
           needs=("select.urls",), crawls=OPENWEBTEXT_CRAWLS),
    Recipe("mc4", "multilingual", "Multilingual C4 (mC4): 107 CLD3 languages and und, from 86 crawls",
           ("read", "url_dedup", "paragraph_filter", "dedup", "cld3_langid", "badwords"),
           {"max_text_chars": 190_000, "per_language": True,
            "paragraph_filter": {"min_paragraphs": 3, "min_paragraph_len": 200},
            "dedup": {"methods": ["c4-lines"]},
            "cld3_langid": {"languages": ["mc4"], "min_probability": 0.95, "min_num_bytes": 100,
                            "max_num_bytes": 10_000},
            "badwords": {"filter_fraction": 0.999}},
           crawls=ALL_CRAWLS, splits="per-language"),
)})
DEFAULT_RECIPE = "c4"
RECIPE_STAGES = frozenset(name for r in RECIPES.values() for name in r.stages)  # the stages recipes decide on


def recipe(name: str) -> Recipe:
    """The recipe called `name` (KeyError naming the known ones otherwise)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise KeyError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}") from None
