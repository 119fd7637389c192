"""HTML → text for WARC `response` records: charset decoding, then main-text extraction.

Decoding order follows what browsers do (the WHATWG encoding standard): a UTF-16 byte order
mark, the HTTP `Content-Type` charset, then a `<meta charset>` in the first bytes, then UTF-8,
then a statistical guess. A `<meta>` that names UTF-16 (or UTF-32) is read as UTF-8, as browsers
do: a page whose `<meta>` could be read byte by byte is not UTF-16. A page whose bytes do not fit
any of them is decoded with replacement characters and reported as repaired, never dropped for
its charset alone.
"""
from __future__ import annotations

import codecs
import re

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_CHARSET_IN_HEADER = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([\w.:-]+)", re.I)


def is_html_content_type(content_type: str) -> bool:
    """True for HTML/XHTML, and for a missing type (many servers send none)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "" or media_type in _HTML_TYPES


def _known_codec(name: str) -> str | None:
    try:
        return codecs.lookup(name.strip().lower()).name
    except (LookupError, ValueError):
        return None


# WHATWG "prescan a byte stream to determine its encoding": a <meta> that names UTF-16BE/LE
# means UTF-8 (its bytes were ASCII-compatible enough to be read). UTF-32 is no web encoding at
# all; the same holds for it.
_WIDE_CODECS = ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def decode_html(payload: bytes, content_type: str = "") -> tuple[str, bool]:
    """Decode HTML bytes; return (text, repaired) where repaired means bytes were replaced."""
    candidates = []
    if payload.startswith(_UTF16_BOMS):  # a byte order mark comes before any declaration
        candidates.append("utf-16")
    header = _CHARSET_IN_HEADER.search(content_type or "")
    if header:
        candidates.append(header.group(1))
    meta = _META_CHARSET.search(payload[:4096])
    if meta:
        declared = meta.group(1).decode("ascii", "ignore")
        candidates.append("utf-8" if _known_codec(declared) in _WIDE_CODECS else declared)
    candidates.append("utf-8")
    tried = set()
    for name in candidates:
        codec = _known_codec(name)
        if codec is None or codec in tried:
            continue
        tried.add(codec)
        try:
            return payload.decode(codec), False
        except UnicodeDecodeError:
            continue
    guess = _guess_charset(payload)
    if guess is not None:
        try:
            return payload.decode(guess), False
        except (UnicodeDecodeError, LookupError):
            pass
    return payload.decode("utf-8", errors="replace"), True


def _guess_charset(payload: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes  # a trafilatura dependency
    except ImportError:  # pragma: no cover
        return None
    best = from_bytes(payload[:200_000]).best()
    return best.encoding if best is not None else None


class _Trafilatura:
    """trafilatura's main-text extraction in one of its modes (see HtmlExtractor)."""

    def __init__(self, mode: str, include_tables: bool, include_comments: bool):
        from trafilatura.settings import use_config

        self._config = use_config()
        self._config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")
        self._options = dict(
            output_format="txt",
            include_tables=include_tables,
            include_comments=include_comments,
            favor_precision=mode == "precision",
            fast=mode == "fast",
            include_images=False,
            include_links=False,
            with_metadata=False,
            deduplicate=False,
        )

    def __call__(self, html: str, url: str) -> str | None:
        import trafilatura

        return trafilatura.extract(html, url=url or None, config=self._config, **self._options)


# resiliparse's main-content mode keeps what no class name marks as boilerplate: related-article
# lists, bylines and teasers that trafilatura drops. Two cheap steps close most of that gap (figures:
# bench/bench_extract.py). 1. Where the page says where its article is (trafilatura's BODY_XPATH,
# reduced to CSS: itemprop, the usual class/id names, <article>, <main>), the first such element with
# at least _MIN_ARTICLE_WORDS words is extracted alone. 2. Before the first and after the last long
# line (menus, share buttons, "Read more" headings), a line stays only if it is long or ends like a
# sentence.
_CONTENT_NAMES = (
    "entry-content", "article-content", "article-body", "articleBody", "article__body", "article__content",
    "post-content", "post_content", "postContent", "post-body", "post-entry", "post-text", "article-text",
    "articleText", "story-body", "story-content", "storyContent", "body-text", "field-body", "single-post",
    "blog-content", "page-content", "text-content",
)
_ARTICLE_SELECTORS = (
    '[itemprop="articleBody"]',
    ", ".join(f'[class*="{name}"], [id*="{name}"]' for name in _CONTENT_NAMES),
    "article",
    'main, [role="main"]',
)
_MIN_ARTICLE_WORDS = 50
_LONG_LINE_WORDS = 15      # a line this long is main text wherever it stands
_END_LINE_WORDS = 8        # before the first / after the last long line, shorter lines need an ending
_SENTENCE_ENDS = (".", "!", "?", '"', "”", "…")
# resiliparse's main-content pass is quadratic in nesting depth (20,000 nested <div>: 50 s). Browsers
# cap the depth at 512 (Chromium's parser); a page nested deeper is given up on, a counted drop.
_MAX_DEPTH = 512
_TOO_DEEP = " > ".join(["*"] * _MAX_DEPTH)


class _Resiliparse:
    """resiliparse's main-content heuristics over its lexbor DOM (what DCLM and dolma run), narrowed.

    See the comment above for what is added to resiliparse's own pass. Tables are always kept
    (resiliparse has no switch for them). Lines are stripped and blank ones dropped, so the text has
    one block a line, as trafilatura's does.
    """

    def __init__(self, mode: str, include_tables: bool, include_comments: bool):
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        self._parse = HTMLTree.parse
        self._extract = extract_plain_text
        self._options = dict(preserve_formatting=True, main_content=True, list_bullets=False, alt_texts=False,
                             links=False, form_fields=False, noscript=False, comments=include_comments,
                             post_meta=False)

    def _lines(self, tree) -> list[str]:
        return [line for line in map(str.strip, self._extract(tree, **self._options).splitlines()) if line]

    def __call__(self, html: str, url: str) -> str | None:
        tree = self._parse(html)
        body = tree.body
        if body is None or body.query_selector(_TOO_DEEP) is not None:
            return None
        lines = None
        for selector in _ARTICLE_SELECTORS:
            node = body.query_selector(selector)
            if node is not None:
                article = self._lines(self._parse(node.html))
                if sum(len(line.split()) for line in article) >= _MIN_ARTICLE_WORDS:
                    lines = article
                    break
        return "\n".join(_trim_ends(self._lines(tree) if lines is None else lines))


def _trim_ends(lines: list[str]) -> list[str]:
    long = [i for i, line in enumerate(lines) if len(line.split()) >= _LONG_LINE_WORDS]
    if not long:
        return lines
    first, last = long[0], long[-1]

    def kept(line: str) -> bool:
        return len(line.split()) >= _END_LINE_WORDS or line.endswith(_SENTENCE_ENDS)
    return [line for line in lines[:first] if kept(line)] + lines[first:last + 1] + [
        line for line in lines[last + 1:] if kept(line)]


# mode → its extractor: a new mode is one entry here (options and --extraction read the names).
_EXTRACTORS = {
    "full": _Trafilatura,
    "fast": _Trafilatura,
    "precision": _Trafilatura,
    "resiliparse": _Resiliparse,
}
EXTRACTION_MODES = tuple(_EXTRACTORS)


class HtmlExtractor:
    """Main-text extraction (boilerplate, menus and comments removed), one mode for every worker.

    Options are fixed here so that every worker extracts alike: text output with one
    paragraph a line (what the C4 line filters expect), tables kept, comments dropped,
    no signal-based timeout (it only works in a main thread, and Beam workers use threads).
    Every mode is given the text that `decode_html` made of the bytes.

    `mode` (figures: bench/bench_extract.py, the README's "HTML extraction"):
    "full" (trafilatura's default: its own extraction, then readability/jusText as
    fallbacks when that finds little), "fast" (no fallbacks: 1.1-1.7x faster, the same text on
    38 of 40 test pages and much less on the other 2), "precision" (favor_precision: less
    boilerplate, some text lost; datatrove's default), "resiliparse" (resiliparse's main-content
    pass, DCLM's and dolma's extractor, narrowed to the article: 10x the pages per CPU-second of
    "full", F1 0.01-0.04 lower, more boilerplate kept).
    """

    def __init__(self, mode: str = "full", include_tables: bool = True, include_comments: bool = False):
        if mode not in _EXTRACTORS:
            raise ValueError(f"extraction mode {mode!r}: choose from {', '.join(EXTRACTION_MODES)}")
        self.mode = mode
        self._extract = _EXTRACTORS[mode](mode, include_tables, include_comments)

    def extract(self, html: str, url: str = "") -> str | None:
        """The page's main text, "" when it has none, None when the extractor gives up on it."""
        try:
            return self._extract(html, url)
        except Exception:  # lxml/trafilatura/lexbor give up on some malformed documents: a counted drop
            return None
