"""The build's configuration: a dataclass whose defaults are C4's (no Beam import here, so the
CLI can build its parser quickly).

    BuildConfig(output="out", clean=CleanConfig(min_sentences=4), langid=LanguageConfig(target="de"))

`BuildConfigBase` holds the build's own options (input, output, select, dedup, read, write);
each stage of the registry that has options (`Stage("clean", filter=C4Cleaner, config=CleanConfig)`)
adds its group as a nested field named after the stage (`config_class(stages)`), so its fields
are command-line flags (`--min-sentences`, their help from the fields) and `--config` keys.
`BuildConfig` is the class of the default registry, `pipelines.stages.STAGES`.

A stage's group is recorded flat in stats.json, each option under its flag's name
(`"min_sentences": 3`, `"language": "en"`), as builds always recorded them; `--config` reads
those keys and nested ones (`clean: {min_sentences: 4}`) alike.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass

from cleancrawl import options, storage
from cleancrawl.corpus.badwords import BadwordsConfig
from cleancrawl.corpus.dedup import DedupConfig
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.extract import EXTRACTION_MODES
from cleancrawl.corpus.readers import ReaderConfig
from cleancrawl.options import option
from cleancrawl.pipelines import snapshot
from cleancrawl.pipelines.select_config import SelectConfig
from cleancrawl.recipes import DEFAULT_RECIPE, RECIPES, recipe

SAMPLE_CRAWL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus", "data", "sample",
                            "pages.warc.wet.gz")
from cleancrawl.pipelines.stages import SKIPPABLE_STAGES, STAGES as REGISTRY  # noqa: E402 (the stage registry)


@dataclass
class BuildConfigBase:
    """Everything a build needs but the stages' own options (`config_class` adds those); defaults
    are C4's (TFDS `c4/en` v3.1.0)."""

    OPTION_GROUPS = (IO := "input and output",
                     SELECT := "selection (WebText-like / RealNews-like; before the C4 filters)",
                     DEDUP := "deduplication (after clean, before language ID)", STAGES := "stages (defaults are C4's)")
    _GROUPS = ()  # (stage name, options class, title) of each stage's option group: set by config_class

    inputs: list[str] = option(  # files/globs; none and no input_list: the bundled sample
        flag="--input", list="repeat", metavar="PATH_OR_GLOB", group=IO, default_factory=list, help=(
            "WARC/WET file(s), gzip or plain; local, gs://, s3://; repeatable "
            "(default: the bundled sample crawl, 323 real pages as WET)"))
    input_list: str | None = option(None, group=IO, help=(
        "a Common Crawl *.paths(.gz) listing, one relative path a line"))
    input_prefix: str = option("", group=IO, help="prefix joined to each listed path, e.g. s3://commoncrawl/")
    crawl: str | None = option(None, group=IO, metavar="CC-MAIN-YYYY-WW", help=(
        "a Common Crawl snapshot by name: its wet.paths.gz (warc.paths.gz with --source warc) under --cc-base"))
    cc_base: str = option(snapshot.CC_BASE, group=IO, help=(
        "where --crawl's listing and files are (default: %(default)s; s3://commoncrawl/ inside AWS)"))
    files: str | None = option(None, metavar="START:END", group=IO, help=(
        "build this slice of the input files, in the listing's order (--crawl, --input-list), e.g. 0:1000"))
    sample: int = option(0, metavar="N", group=IO, help="build a seeded sample of N of those files")
    sample_seed: int = option(0, group=IO, help="which sample --sample takes (default: %(default)s)")
    piece: bool = option(False, group=IO, help=(
        "build one piece of a larger build (e.g. with --files): the pages and what the per-page stages decided, "
        "for `cleancrawl finish` to join into the corpus the whole build would write; rerun, a finished piece is "
        "left as it is"))
    max_failed_files: float = option(0.05, metavar="FRACTION", group=IO, help=(
        "exit 1 without _SUCCESS when more than this fraction of the input files (or every one) cannot "
        "be read (default: %(default)s); below it the failed files are listed in stats.json; --strict: any"))
    output: str = option("cleancrawl-out", group=IO, help="output directory (default: %(default)s)")
    source: str = option("auto", choices=("auto", "wet", "warc"), group=IO, help=(
        "which records become documents: WET conversion records, WARC HTML responses, "
        "or whichever each file holds (default: %(default)s)"))
    recipe: str = option(DEFAULT_RECIPE, choices=tuple(RECIPES), group=STAGES, help=(
        "a TFDS C4 config by name: its stages and options (c4 = en, today's default; c4-noclean = en.noclean; "
        "realnewslike; webtextlike; mc4 = multilingual, per language); any option given here wins "
        "(default: %(default)s)"))
    skip: tuple[str, ...] = option((), group=STAGES, help=(  # stages turned off
        "comma-separated stages to turn off: " + ",".join(SKIPPABLE_STAGES) + " (url-dedup = url_dedup;"
        + " clean,dedup,badwords: the T5 paper's 'C4, unfiltered'; dedup here equals --dedup none)"))
    select: SelectConfig = option(default_factory=SelectConfig, group=SELECT,
                                  help="WebText-like / RealNews-like selection")
    dedup: DedupConfig = option(  # c4-lines + minhash by default; --min-sentences is the clean stage's
        default_factory=DedupConfig, group=DEDUP, exclude=("min_sentences",),
        help="the dedup methods and their options")
    badwords: BadwordsConfig = option(default_factory=BadwordsConfig, group=STAGES, flat=True,
                                      help="the badwords stage's options")
    # read
    max_text_chars: int = option(190_000, group=STAGES, help="drop pages with longer text (default: %(default)s)")
    max_html_bytes: int = option(5_000_000, group=STAGES, help=(
        "WARC: do not parse larger HTML payloads (default: %(default)s)"))
    extraction: str = option("full", choices=EXTRACTION_MODES, group=STAGES, help=(  # WARC: the HTML extractor
        "WARC: trafilatura with its fallbacks (full), without them (fast), favouring precision, or resiliparse "
        "(10x the pages per CPU-second, F1 0.01-0.04 lower; README 'HTML extraction') (default: %(default)s)"))
    decontaminate: list[str] = option(flag="--decontaminate", list="repeat", metavar="PATH", group=STAGES,
                                      default_factory=list, help=(
        "after langid, drop every document sharing one n-gram with these eval documents (NAME=PATH or PATH: a "
        "text file, one document a line; Parquet with a text column; a corpus); audit in OUTPUT/contamination/; "
        "repeatable"))
    decontaminate_ngram: int = option(13, group=STAGES, help="--decontaminate: words per n-gram (default: %(default)s)")
    # write
    num_shards: int = option(0, group=IO, help=(  # 0 = size by --shard-bytes
        "train shards (default 0: one per --shard-bytes of text); validation is sized by bytes"))
    shard_bytes: int = option(256 << 20, group=IO, help="target text bytes a shard (default: %(default)s)")
    per_language: bool = option(False, group=IO, help=(
        "write each language's pages to OUTPUT/<language>/{train,validation}/ (mC4's layout), with the "
        "funnel and the dataset card per language"))
    validation_modulus: int = option(1000, group=STAGES, help=(
        "validation split when md5(normalized_url) %% N == 0 (default: %(default)s)"))
    overwrite: bool = option(False, group=IO, help="replace an existing output directory")
    strict: bool = option(False, group=IO, help="exit 1 when any input file was unreadable (the run still completes)")
    keep_dropped: float = option(0.0, nargs="?", const=1.0, metavar="FRACTION", group=IO, help=(
        "also write the dropped documents, with stage, reason and detail, to OUTPUT/dropped/ "
        "(Parquet); FRACTION < 1 keeps a deterministic sample (default without a value: 1.0)"))
    keep_dropped_seed: int = option(0, group=IO, help="which sample --keep-dropped FRACTION takes")
    # then, in BuildConfig, each stage's options: `clean: CleanConfig`, `langid: LanguageConfig`, …

    def __post_init__(self):
        if not 0 <= self.keep_dropped <= 1:
            raise UserError(f"--keep-dropped {self.keep_dropped:g}: give a fraction between 0 and 1")
        if not 0 <= self.max_failed_files <= 1:
            raise UserError(f"--max-failed-files {self.max_failed_files:g}: give a fraction between 0 and 1")
        if self.crawl and (self.inputs or self.input_list):
            raise UserError("--crawl names the files to read: give it without --input and --input-list")
        if self.recipe not in RECIPES:
            raise UserError(f"--recipe {self.recipe}: choose from {', '.join(RECIPES)}")
        for need in recipe(self.recipe).needs:  # e.g. select.domains: TFDS downloads it, a build is given it
            group, _, name = need.partition(".")
            if not getattr(getattr(self, group), name):
                flag = "--" + need.replace(".", "-").replace("_", "-")
                raise UserError(f"--recipe {self.recipe} needs {flag} (TFDS's {self.recipe} config reads it; "
                                "see the README, 'WebText-like and RealNews-like builds')")

    @classmethod
    def from_options(cls, values: dict) -> "BuildConfigBase":
        """From command-line / --config values: --min-sentences (clean's) is also the C4 dedup methods';
        a recipe without clean (mC4) has line dedup without the sentence rule, as TFDS."""
        if "dedup" in values and "clean" in values:
            cleans = "clean" in recipe(values.get("recipe", DEFAULT_RECIPE)).stages
            values = {**values, "dedup": dataclasses.replace(
                values["dedup"], min_sentences=values["clean"].min_sentences if cleans else 0)}
        return cls(**values)

    def reader_config(self) -> ReaderConfig:
        return ReaderConfig(source=self.source, max_text_chars=self.max_text_chars, max_html_bytes=self.max_html_bytes,
                            extraction=self.extraction)

    def to_dict(self) -> dict:
        """The config as stats.json records it (and `--config` reads it back); a local path whose
        name is not UTF-8 is recorded with those bytes shown as `\\xff`, as the reader shows it."""
        return _shown(options.as_dict(self))

    def __reduce__(self):
        """Pickled as its stages' groups and its values: the class `config_class` made is rebuilt
        from them where it is unpickled (a worker cannot import it, and pickling the class itself
        by value would not keep dataclasses' MISSING)."""
        return _rebuild, (self._GROUPS, {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def _shown(value):
    """Every string in a recorded config as `storage.shown_path` shows a path."""
    if isinstance(value, str):
        return storage.shown_path(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_shown(v) for v in value)
    return value


def config_class(stages: tuple = REGISTRY) -> type:
    """The build's config class for the stage registry `stages`: `BuildConfigBase` and, for each
    stage with options (`Stage(config=...)`), a field named after the stage holding them."""
    own = {f.name for f in dataclasses.fields(BuildConfigBase)}
    for stage in stages:
        if stage.config is not None and stage.name in own:
            raise ValueError(f"stage {stage.name!r}: its options would replace the build's option {stage.name!r}")
    return _with_groups(tuple((s.name, s.config, s.title) for s in stages if s.config is not None))


@functools.lru_cache(maxsize=None)
def _with_groups(groups: tuple) -> type:
    fields = [(name, kind, option(default_factory=kind, group=BuildConfigBase.STAGES, flat=True,
                                  help=f"the {title} stage's options")) for name, kind, title in groups]
    return dataclasses.make_dataclass("BuildConfig", fields, bases=(BuildConfigBase,), namespace={
        "__module__": __name__, "_GROUPS": groups,
        "__doc__": "Everything a build needs, its stages' options included; defaults are C4's."})


def _rebuild(groups: tuple, values: dict) -> BuildConfigBase:
    return _with_groups(groups)(**values)


BuildConfig = config_class()


def recipe_values(name: str) -> dict:
    """What `--recipe NAME` sets, as `--config` keys: its options (its stages are the recipe's own,
    `Stage.in_recipe`; `--skip` stays the user's)."""
    return {**_plain(recipe(name).options), "recipe": name}


def _plain(mapping) -> dict:
    return {k: _plain(v) if hasattr(v, "items") else (list(v) if isinstance(v, tuple) else v)
            for k, v in mapping.items()}
