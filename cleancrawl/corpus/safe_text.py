"""Crawl data made safe to print: control characters and bidi overrides shown as escapes.

A URL, host, file name, subreddit or drop detail comes from someone else's bytes. Printed raw,
`\\x1b[41mRED\\x1b[0m.com` colours the terminal, `\\x1b]0;title\\x07` retitles the window, and
U+202E turns the rest of a line around. `safe(text)` replaces every such character by a
visible escape (`\\x1b`, `\\u202e`), so the line shows what the data holds and does nothing:

    C0 controls U+0000–U+001F (tab and newline too: a table cell stays one cell, a message one line)
    DEL U+007F and C1 controls U+0080–U+009F (U+009B is a one-byte CSI on some terminals)
    bidi embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069, the marks U+200E,
    U+200F, U+061C, and the line/paragraph separators U+2028, U+2029

Everything else, including non-ASCII letters, is printed as it is. Used by every terminal
table and message built from data (`cleancrawl.stats.report`, the build/dedup/reddit summaries, the
CLI's one-line errors); the HTML report uses it too, before escaping HTML. `one_line(err)` is an
exception made so for a drop's detail: its type and words on one line, bounded.
"""
from __future__ import annotations

import logging
import re

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text) -> str:
    """`text` (any value: str() of it) with every control and bidi character as a visible escape."""
    text = text if isinstance(text, str) else str(text)
    return _UNSAFE.sub(_escape, text)


def is_safe(text: str) -> bool:
    return _UNSAFE.search(text) is None


def one_line(err: BaseException, limit: int = 300) -> str:
    """An exception as `Type: its words`, on one line (runs of whitespace made one space), made
    `safe`, and cut to `limit` characters: for a drop's detail or an error summary."""
    words = " ".join(str(err).split())
    return safe(f"{type(err).__name__}: {words}")[:limit]


def safe_lines(text: str) -> str:
    """`safe`, keeping newlines: for multi-line messages (a log record with its traceback)."""
    return "\n".join(safe(line) for line in text.split("\n"))


class SafeFormatter(logging.Formatter):
    """A logging formatter whose output carries no control sequence: libraries log crawl data
    too (warcio: "Replacing spaces in invalid WARC-Target-URI: <the URL>")."""

    def format(self, record: logging.LogRecord) -> str:
        return safe_lines(super().format(record))


def install_log_escaping() -> None:
    """Every log record of this process gets its message escaped (`safe_lines`) when it is made,
    whatever handler later prints it: also in Beam worker processes, whose handlers are Beam's.
    Records below the loggers' level are never made, so this costs nothing for them."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "cleancrawl_safe", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return record
        if not is_safe(message.replace("\n", "")):
            record.msg, record.args = safe_lines(message), None
        return record

    factory.cleancrawl_safe = True
    logging.setLogRecordFactory(factory)
