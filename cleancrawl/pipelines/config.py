"""The build's configuration: a dataclass whose defaults are C4's (no Beam import here, so the
CLI can build its parser quickly)."""
from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field

from cleancrawl.corpus.dedup import DedupConfig
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.extract import EXTRACTION_MODES
from cleancrawl.corpus.filters import CleanConfig
from cleancrawl.corpus.language_filter import LanguageConfig
from cleancrawl.corpus.readers import ReaderConfig
from cleancrawl.pipelines.dedup_config import add_dedup_arguments, dedup_config_from_args
from cleancrawl.pipelines.select_config import SelectConfig, add_select_arguments, select_config_from_args

SAMPLE_CRAWL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "corpus", "data", "sample", "pages.warc.wet.gz")
from cleancrawl.pipelines.stages import SKIPPABLE_STAGES  # noqa: E402 (the stage registry: pipelines.stages)


@dataclass
class BuildConfig:
    """Everything a build needs; defaults are C4's (TFDS `c4/en` v3.1.0)."""

    inputs: list[str] = field(default_factory=list)   # files/globs; none and no input_list: the bundled sample
    input_list: str | None = None          # a Common Crawl *.paths.gz listing
    input_prefix: str = ""                 # joined to each listed path (e.g. s3://commoncrawl/)
    output: str = "cleancrawl-out"
    source: str = "auto"                   # wet | warc | auto
    skip: tuple[str, ...] = ()             # stages turned off: pipelines.stages.SKIPPABLE_STAGES (url-dedup = url_dedup)
    select: SelectConfig = field(default_factory=SelectConfig)  # WebText-like / RealNews-like selection
    dedup: DedupConfig = field(default_factory=DedupConfig)     # c4-lines + minhash by default
    # read
    max_text_chars: int = 190_000
    max_html_bytes: int = 5_000_000
    extraction: str = "full"               # WARC: trafilatura mode (full | fast | precision)
    # clean
    min_words_per_line: int = 5
    min_sentences: int = 3
    max_word_length: int = 1000
    # language ID
    language: str = "en"
    min_language_score: float = 0.99
    langdetect_seed: int = 0
    # write
    num_shards: int = 0                    # train shards; 0 = size by --shard-bytes
    shard_bytes: int = 256 << 20
    validation_modulus: int = 1000
    overwrite: bool = False
    strict: bool = False
    keep_dropped: float = 0.0              # write this fraction of the dropped documents to OUT/dropped/
    keep_dropped_seed: int = 0             # which sample --keep-dropped FRACTION < 1 takes

    def reader_config(self) -> ReaderConfig:
        return ReaderConfig(source=self.source, max_text_chars=self.max_text_chars, max_html_bytes=self.max_html_bytes,
                            extraction=self.extraction)

    def clean_config(self) -> CleanConfig:
        return CleanConfig(self.min_words_per_line, self.min_sentences, self.max_word_length)

    def language_config(self) -> LanguageConfig:
        return LanguageConfig(self.language, self.min_language_score, self.langdetect_seed)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}


# ---------------------------------------------------------------------------- command-line options

_DEFAULTS = BuildConfig()


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The build's own options (shared by the CLI and `BuildOptions`)."""
    io = parser.add_argument_group("input and output")
    io.add_argument("--input", action="append", dest="inputs", metavar="PATH_OR_GLOB",
                    help="WARC/WET file(s), gzip or plain; local, gs://, s3://; repeatable "
                         "(default: the bundled sample crawl, 323 real pages as WET)")
    io.add_argument("--input-list", help="a Common Crawl *.paths(.gz) listing, one relative path a line")
    io.add_argument("--input-prefix", default="", help="prefix joined to each listed path, e.g. s3://commoncrawl/")
    io.add_argument("--output", default=_DEFAULTS.output, help="output directory (default: %(default)s)")
    io.add_argument("--source", choices=("auto", "wet", "warc"), default="auto",
                    help="which records become documents: WET conversion records, WARC HTML responses, "
                         "or whichever each file holds (default: %(default)s)")
    io.add_argument("--num-shards", type=int, default=0,
                    help="train shards (default 0: one per --shard-bytes of text); validation is sized by bytes")
    io.add_argument("--shard-bytes", type=int, default=_DEFAULTS.shard_bytes, help="target text bytes a shard (default: %(default)s)")
    io.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    io.add_argument("--strict", action="store_true",
                    help="exit 1 when any input file was unreadable (the run still completes)")
    io.add_argument("--keep-dropped", type=float, nargs="?", const=1.0, default=0.0, metavar="FRACTION",
                    help="also write the dropped documents, with stage, reason and detail, to OUTPUT/dropped/ "
                         "(Parquet); FRACTION < 1 keeps a deterministic sample (default without a value: 1.0)")
    io.add_argument("--keep-dropped-seed", type=int, default=0, help="which sample --keep-dropped FRACTION takes")

    add_select_arguments(parser)
    add_dedup_arguments(parser)

    stages = parser.add_argument_group("stages (defaults are C4's)")
    stages.add_argument("--skip", default="",
                        help="comma-separated stages to turn off: " + ",".join(SKIPPABLE_STAGES) + " (url-dedup = url_dedup)"
                             + " (clean,dedup,badwords: the T5 paper's 'C4, unfiltered'; dedup here equals --dedup none)")
    stages.add_argument("--max-text-chars", type=int, default=_DEFAULTS.max_text_chars,
                        help="drop pages with longer text (default: %(default)s)")
    stages.add_argument("--max-html-bytes", type=int, default=_DEFAULTS.max_html_bytes,
                        help="WARC: do not parse larger HTML payloads (default: %(default)s)")
    stages.add_argument("--extraction", choices=EXTRACTION_MODES, default=_DEFAULTS.extraction,
                        help="WARC: trafilatura with its fallbacks (full), without them (fast: 1.1-1.7x faster, "
                             "less text on some pages), or favouring precision (default: %(default)s)")
    stages.add_argument("--min-words-per-line", type=int, default=_DEFAULTS.min_words_per_line)
    stages.add_argument("--min-sentences", type=int, default=_DEFAULTS.min_sentences)
    stages.add_argument("--max-word-length", type=int, default=_DEFAULTS.max_word_length)
    stages.add_argument("--language", default=_DEFAULTS.language, help="target language (default: %(default)s)")
    stages.add_argument("--min-language-score", type=float, default=_DEFAULTS.min_language_score)
    stages.add_argument("--langdetect-seed", type=int, default=_DEFAULTS.langdetect_seed)
    stages.add_argument("--validation-modulus", type=int, default=_DEFAULTS.validation_modulus,
                        help="validation split when md5(normalized_url) %% N == 0 (default: %(default)s)")


def config_from_args(args: argparse.Namespace) -> BuildConfig:
    return BuildConfig(
        inputs=args.inputs or [],
        input_list=args.input_list,
        input_prefix=args.input_prefix,
        output=args.output,
        source=args.source,
        skip=tuple(s.strip() for s in args.skip.split(",") if s.strip()),
        select=select_config_from_args(args),
        dedup=dedup_config_from_args(args),
        max_text_chars=args.max_text_chars,
        max_html_bytes=args.max_html_bytes,
        extraction=args.extraction,
        min_words_per_line=args.min_words_per_line,
        min_sentences=args.min_sentences,
        max_word_length=args.max_word_length,
        language=args.language,
        min_language_score=args.min_language_score,
        langdetect_seed=args.langdetect_seed,
        num_shards=args.num_shards,
        shard_bytes=args.shard_bytes,
        validation_modulus=args.validation_modulus,
        overwrite=args.overwrite,
        strict=args.strict,
        keep_dropped=_fraction("--keep-dropped", args.keep_dropped),
        keep_dropped_seed=args.keep_dropped_seed,
    )


def _fraction(option: str, value: float) -> float:
    if not 0 <= value <= 1:
        raise UserError(f"{option} {value:g}: give a fraction between 0 and 1")
    return value
