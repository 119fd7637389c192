"""mC4's language ID: CLD3 as TFDS `c4_utils.detect_languages` calls it (C4 v3.1.0).

TFDS asks `gcld3.NNetLanguageIdentifier(min_num_bytes=100, max_num_bytes=10000)` for
`FindLanguage(page.text)`, then:

  not `is_reliable`               -> language `und`, page kept
  probability < 0.95              -> language `und`, page kept
  a language outside `languages`  -> page dropped (reason `ignored_language`)
  otherwise                       -> that language (e.g. `de`, `zh-Latn`), page kept

CLD3 comes from the `cld3-py` package (prebuilt wheels for CPython 3.10-3.14), which installs
the module `gcld3` with TFDS's API, built from the same CLD3 sources and model as Google's
`gcld3` 3.0.13 (the C++ differs only in warnings and declarations; see the README).

Why it is faster than TFDS's call, with the same answer: CLD3 reads at most the first
`kMaxNumInputBytesToConsider` (10,000) UTF-8 bytes of its input (`FindNumValidBytesToProcess`),
whatever `max_num_bytes` is. TFDS hands it the whole page (up to 190,000 characters, encoded
and copied into a std::string) and holds a global lock around the call; here only the first
10,000 characters are passed (they hold the first 10,000 bytes, so CLD3 scans the same bytes
and answers the same; tested on real pages against the whole-text call), and there is no
lock (one detector per filter; cld3-py releases the GIL while it runs). Text with lone
surrogates, which TFDS never sees (its reader decodes strictly) and which gcld3 refuses as
str, is passed as bytes encoded with `surrogatepass`; CLD3 stops at them as at any invalid
UTF-8.
"""
from __future__ import annotations

from dataclasses import dataclass

from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.options import option

UNKNOWN_LANGUAGE = "und"           # CLD3 unreliable, or below the probability threshold: kept, labelled und

# TFDS c4.py MC4_LANGUAGES (4.9.x): CLD3 languages with at least 10k pages in mC4, in its order.
MC4_LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "az", "be", "bg", "bg-Latn", "bn", "ca", "ceb", "co", "cs", "cy", "da", "de",
    "el", "el-Latn", "en", "eo", "es", "et", "eu", "fa", "fi", "fil", "fr", "fy", "ga", "gd", "gl",
    "gu", "ha", "haw", "hi", "hi-Latn", "hmn", "ht", "hu", "hy", "id", "ig", "is", "it", "iw", "ja",
    "ja-Latn", "jv", "ka", "kk", "km", "kn", "ko", "ku", "ky", "la", "lb", "lo", "lt", "lv", "mg",
    "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "ne", "nl", "no", "ny", "pa", "pl", "ps", "pt",
    "ro", "ru", "ru-Latn", "sd", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "st", "su", "sv",
    "sw", "ta", "te", "tg", "th", "tr", "uk", "ur", "uz", "vi", "xh", "yi", "yo", "zh", "zh-Latn",
    "zu",
)

MAX_INPUT_BYTES = 10_000  # CLD3's kMaxNumInputBytesToConsider: it never looks further
ALL_LANGUAGES = "all"     # --languages all: keep every language CLD3 names
MC4 = "mc4"               # --languages mc4: TFDS's MC4_LANGUAGES (the default)


def parse_languages(value: str) -> tuple[str, ...]:
    """`--languages`: `mc4` (TFDS's 107 languages), `all`, or codes as CLD3 writes them (af,am,zh-Latn)."""
    codes = tuple(code.strip() for code in value.split(",") if code.strip())
    if not codes:
        raise UserError("--languages: give mc4, all, or language codes such as de,fr,zh-Latn")
    if len(codes) > 1 and (MC4 in codes or ALL_LANGUAGES in codes):
        raise UserError(f"--languages {value}: {MC4} and {ALL_LANGUAGES} stand alone")
    return codes


def resolve_languages(languages: tuple[str, ...]) -> frozenset[str] | None:
    """The language codes a page may have (None: any)."""
    if languages == (ALL_LANGUAGES,):
        return None
    if languages == (MC4,):
        return frozenset(MC4_LANGUAGES)
    return frozenset(languages)


@dataclass(frozen=True)
class Cld3Config:
    """mC4's language-ID options; defaults are TFDS's."""

    languages: tuple[str, ...] = option((MC4,), type=parse_languages, metavar="all|mc4|af,am,...", help=(
        "CLD3 language ID: keep pages in these languages (mc4: TFDS's 107 mC4 languages; all: any); "
        "pages CLD3 is unsure of are kept as und (default: mc4)"))
    min_probability: float = option(0.95, flag="--min-cld3-probability", help=(
        "CLD3 language ID: below this probability a page is und (default: %(default)s)"))
    min_num_bytes: int = option(100, cli=False, help="CLD3's min_num_bytes (TFDS: 100)")
    max_num_bytes: int = option(10_000, cli=False, help="CLD3's max_num_bytes (TFDS: 10000)")


@dataclass(frozen=True, slots=True)
class Cld3Result:
    language: str        # CLD3's language ("und" when it has none)
    probability: float
    is_reliable: bool
    proportion: float


class Cld3Identifier:
    """One CLD3 detector; `detect(text)` is TFDS's `FindLanguage(text)` on the bytes CLD3 reads."""

    def __init__(self, min_num_bytes: int = 100, max_num_bytes: int = 10_000):
        self.min_num_bytes = min_num_bytes
        self.max_num_bytes = max_num_bytes
        self._detector = None

    def __getstate__(self):  # the C++ detector is made again where it is used
        return {"min_num_bytes": self.min_num_bytes, "max_num_bytes": self.max_num_bytes, "_detector": None}

    def __setstate__(self, state):
        self.__dict__.update(state)

    @property
    def detector(self):
        if self._detector is None:
            import gcld3  # from cld3-py

            self._detector = gcld3.NNetLanguageIdentifier(min_num_bytes=self.min_num_bytes,
                                                          max_num_bytes=self.max_num_bytes)
        return self._detector

    def find_language(self, text: str):
        """gcld3's Result for `text`, as `FindLanguage(text)` gives it, reading only what CLD3 reads:
        the first 10,000 characters hold at least the first 10,000 bytes (or all of the text)."""
        head = text[:MAX_INPUT_BYTES] if len(text) > MAX_INPUT_BYTES else text
        try:
            return self.detector.FindLanguage(head)
        except TypeError:  # gcld3 refuses a str with lone surrogates; CLD3 stops at them as at invalid UTF-8
            return self.detector.FindLanguage(head.encode("utf-8", "surrogatepass"))

    def detect(self, text: str) -> Cld3Result:
        result = self.find_language(text)
        return Cld3Result(result.language, result.probability, result.is_reliable, result.proportion)


class Cld3LanguageFilter:
    """Labels every page with its mC4 language (`und` included); drops confident other languages."""

    def __init__(self, config: Cld3Config = Cld3Config()):
        self.config = config
        self.allowed = resolve_languages(config.languages)
        self.identifier = Cld3Identifier(config.min_num_bytes, config.max_num_bytes)

    def language_of(self, text: str):
        """(mC4 label, CLD3's Result); the label is None for a confident language not allowed."""
        result = self.identifier.find_language(text)
        if not result.is_reliable or result.probability < self.config.min_probability:
            return UNKNOWN_LANGUAGE, result
        if self.allowed is not None and result.language not in self.allowed:
            return None, result
        return result.language, result

    def __call__(self, doc: Document) -> Document | Drop:
        language, result = self.language_of(doc.text)
        if language is None:
            return doc.drop("ignored_language", detail=f"{result.language}:{result.probability:.4f}")
        # language_score: CLD3's probability of its best language (for und: the one it was unsure of)
        return doc.replace(language=language, language_score=result.probability)
