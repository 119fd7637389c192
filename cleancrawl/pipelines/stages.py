"""The build's stages, in order: the one list the pipeline, `--skip`, the funnel, the report and
the build's options use.

    STAGES = (Stage("read", ...), Stage("url_dedup", ...), Stage("select", ...), Stage("clean", ...), ...)

Each `Stage` names itself once: its name is the `stats.json` key, the `--skip` value, the
`Drop.stage` of what it drops (the runner stamps it: a filter names only the reason) and, for a
stage with options, the `BuildConfig` field holding them; `title` is the report's label;
`enabled(config)` says whether a build config runs it (and `in_recipe`, whether its `--recipe`
does); `build(config)` makes its Beam transform, whose outputs are the `pipelines.accounting`
triple `kept` / `dropped` / `tally`. `replayed` / `keeps_text` say what a build in pieces may do
with it (`pipelines.pieces`).

A page filter — a `corpus` callable `Document -> Document | Drop` — needs no Beam code at all:
`Stage("name", filter=MyFilter, config=MyConfig)` runs `MyFilter(config.name)` through
`ApplyStage`, which counts it, and `MyConfig` (a dataclass whose fields are declared with
`cleancrawl.options.option`, help included) becomes the build's option group `config.name`, so
its fields are command-line flags and `--config` keys (`pipelines.config.config_class`). A filter
without options: `Stage("name", filter=lambda config: MyFilter(...))`, given the build config.

Adding a filter, with or without options, is one file in `corpus/` and one line here (README,
"Stages"). This module imports no Beam, so the CLI's parser stays quick to import; the built-in
stages' Beam builders import their (heavier) modules when a pipeline is built.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import Callable

from cleancrawl.corpus.badwords import BadwordsFilter
from cleancrawl.corpus.cld3_langid import Cld3Config, Cld3LanguageFilter
from cleancrawl.corpus.filters import C4Cleaner, CleanConfig
from cleancrawl.corpus.language_filter import LanguageConfig, LanguageFilter
from cleancrawl.corpus.paragraph_filter import ParagraphConfig, ParagraphFilter


def _always(config) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    name: str                                   # stats.json key, --skip value, Drop.stage, BuildConfig field
    title: str = ""                             # the report's label (default: the name, spaced)
    build: Callable | None = None               # BuildConfig -> PTransform (kept, dropped, tally)
    filter: Callable | None = None              # or: its options (else the BuildConfig) -> a page filter, on workers
    config: type | None = None                  # the filter's options: a dataclass of option() fields
    skippable: bool = True                      # may be turned off with --skip
    enabled: Callable = _always                 # BuildConfig -> runs in this build?
    label: str = ""                             # Beam label (default: CamelCase of the name)
    aliases: tuple[str, ...] = ()               # other --skip spellings
    writes: Callable | None = None              # (outputs, config) -> PCollection _SUCCESS waits for
    # A snapshot built in pieces (pipelines.pieces): a filter stage whose result depends on the
    # page alone is computed by each piece and replayed by the finish (`replayed`); a stage that
    # never changes a page's text (`keeps_text`) may run at the finish before a replayed one.
    replayed: bool = False
    keeps_text: bool = False

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"stage name {self.name!r}: lower case, digits and _ only (it is a stats.json key)")
        if self.config is not None and not dataclasses.is_dataclass(self.config):
            raise ValueError(f"stage {self.name!r}: config= is the class of its options, a dataclass")
        if self.replayed and self.filter is None:
            raise ValueError(f"stage {self.name!r}: only a filter stage (filter=) can be replayed from a piece")
        if self.title == "":
            object.__setattr__(self, "title", self.name.replace("_", " "))
        if self.label == "":
            object.__setattr__(self, "label", "".join(part.capitalize() for part in self.name.split("_")))

    def options(self, config):
        """The options this stage's filter is made with: its own group `config.<name>` (the
        defaults where `config` was made for a registry without this stage), or, for a stage
        with no `config=` class, the build config itself."""
        if self.config is None:
            return config
        options = getattr(config, self.name, None)
        return self.config() if options is None else options

    def transform(self, config):
        """The Beam transform of this stage for `config`."""
        if self.build is not None:
            return self.build(config)
        if self.filter is not None:
            from cleancrawl.pipelines.accounting import ApplyStage

            return ApplyStage(functools.partial(self.filter, self.options(config)), self.name)
        raise ValueError(f"stage {self.name!r} has neither build nor filter")

    def runs(self, config, skip: set[str]) -> bool:
        return self.in_recipe(config) and self.enabled(config) and not (self.skippable and self.name in skip)

    def in_recipe(self, config) -> bool:
        """Does the build's recipe (`--recipe`, cleancrawl.recipes) run this stage? A stage that
        some recipe lists runs only where the build's does (mC4's paragraph filter and CLD3 in
        `mc4`, clean and langdetect in the C4 recipes); one no recipe names (decontaminate, a
        user's own), or one that is not skippable (select: on when given a URL table), is not
        the recipe's to turn off. `--skip` then turns off what the user asks, on top."""
        from cleancrawl.recipes import DEFAULT_RECIPE, RECIPE_STAGES, recipe

        if not self.skippable or self.name not in RECIPE_STAGES:
            return True
        return self.name in recipe(getattr(config, "recipe", DEFAULT_RECIPE)).stages


# ---------------------------------------------------------------------------- the built-in stages

def _url_dedup(config):
    from cleancrawl.pipelines.url_dedup import DedupUrls

    return DedupUrls(config.output, partition_bytes=config.dedup.shuffle_partition_bytes)


def _select(config):
    from cleancrawl.pipelines.select import SelectDocuments

    return SelectDocuments(config.select, config.output)


def _dedup(config):
    from cleancrawl.pipelines.dedup import DedupDocuments

    # dropped pages keep their text only for --keep-dropped (on a crawl of copies nearly every page is dropped)
    return DedupDocuments(config.dedup, config.output, drop_documents=bool(config.keep_dropped))


def _write_duplicates(outputs, config):
    from cleancrawl.pipelines.dedup import DUPLICATES, WriteDuplicates

    return outputs[DUPLICATES] | "WriteDuplicates" >> WriteDuplicates(config.output)


def _badwords(config):  # pages without a language (language ID skipped): the target language's list
    return BadwordsFilter(config.langid.target, config.badwords.filter_fraction)


def _decontaminate(config):  # --decontaminate: its eval index is loaded on the workers, in setup
    from cleancrawl.pipelines.decontaminate import Decontaminate

    return Decontaminate(config.decontaminate, config.decontaminate_ngram)


def _write_contamination(outputs, config):
    from cleancrawl.pipelines.decontaminate import CONTAMINATION, WriteContamination

    return outputs[CONTAMINATION] | "WriteContamination" >> WriteContamination(config.output, config.shard_bytes)


STAGES: tuple[Stage, ...] = (
    Stage("read", "read", skippable=False),  # the source: built by build_pipeline from the input files
    Stage("url_dedup", "URL dedup", build=_url_dedup, label="DedupUrls", aliases=("url-dedup",), keeps_text=True),
    Stage("select", "select", build=_select, skippable=False, enabled=lambda c: c.select.enabled,
          keeps_text=True),  # WebText / RealNews
    Stage("paragraph_filter", "paragraph filter", filter=ParagraphFilter, config=ParagraphConfig,
          replayed=True),  # mC4's, in place of clean
    Stage("clean", "clean", filter=C4Cleaner, config=CleanConfig, replayed=True),
    Stage("dedup", "dedup", build=_dedup, enabled=lambda c: bool(c.dedup.methods), writes=_write_duplicates),
    Stage("langid", "language ID", filter=LanguageFilter, config=LanguageConfig, label="IdentifyLanguage",
          replayed=True),
    Stage("cld3_langid", "language ID (CLD3)", filter=Cld3LanguageFilter, config=Cld3Config,
          label="IdentifyLanguageCld3", replayed=True),  # mC4's, in place of langid
    Stage("decontaminate", "decontamination", build=_decontaminate, skippable=False,
          enabled=lambda c: bool(c.decontaminate), writes=_write_contamination),  # OUT/contamination/
    Stage("badwords", "badwords", filter=_badwords, label="FilterBadwords"),
)

STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)           # the funnel's order
STAGE_TITLES: dict[str, str] = {s.name: s.title for s in STAGES}       # the report's labels


def skippable_stages(stages=STAGES) -> tuple[str, ...]:
    """The names `--skip` accepts (aliases not included)."""
    return tuple(s.name for s in stages if s.skippable)


SKIPPABLE_STAGES = skippable_stages()


def resolve_skip(names, stages=STAGES) -> frozenset[str]:
    """--skip values → stage names (`url-dedup` → `url_dedup`); an unknown name is one UserError line."""
    from cleancrawl.corpus.errors import UserError

    spelling = {alias: s.name for s in stages if s.skippable for alias in (s.name, *s.aliases)}
    unknown = sorted(set(names) - set(spelling))
    if unknown:
        raise UserError(f"--skip: unknown stage(s) {', '.join(unknown)}; "
                        f"choose from {', '.join(skippable_stages(stages))}")
    return frozenset(spelling[n] for n in names)


def with_stage(stage: Stage, after: str, stages=STAGES) -> tuple[Stage, ...]:
    """A copy of `stages` with `stage` inserted after the stage named `after` (tests, experiments)."""
    names = [s.name for s in stages]
    if stage.name in names:
        raise ValueError(f"stage {stage.name!r} is already registered")
    i = names.index(after) + 1
    return (*stages[:i], stage, *stages[i:])
