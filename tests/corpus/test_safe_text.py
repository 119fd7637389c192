"""Crawl data never drives the terminal: a WET record whose URL host carries escape sequences
(colours, a window-title OSC, a C1 CSI, a bidi override) and an input file whose name carries
one go through `cleancrawl build` and `cleancrawl stats` (tables and HTML) in real processes;
no control byte reaches stdout or stderr, and what they hold is shown as visible escapes."""
from __future__ import annotations

import io
import subprocess
import sys

import pytest
from warcio.warcwriter import WARCWriter

from cleancrawl.corpus.badwords import BadwordsFilter
from cleancrawl.corpus.filters import C4Cleaner
from cleancrawl.corpus.language_filter import LanguageFilter
from cleancrawl.corpus.record import Document
from cleancrawl.corpus.safe_text import is_safe, safe

HOSTILE_URLS = [
    "http://\x1b[41mRED\x1b[0m.com/page",                 # colours
    "http://title\x1b]0;pwned\x07.example.org/page",      # OSC: sets the window title
    "http://c1\u009b31m.example.net/page",                 # C1 CSI
    "http://example.info/\u202egnp.exe",                   # right-to-left override
    "http://spaced.example.com/a b\x1b[2J",               # warcio logs URLs with spaces
]
FORBIDDEN = [b"\x1b", b"\x07", "\u009b".encode(), "\u202e".encode()]


def _english_pages(sample_documents, n):
    """Real sample pages that every stage keeps (so their URLs reach the domain tables)."""
    clean, language, badwords = C4Cleaner(), LanguageFilter(), BadwordsFilter("en")
    found = []
    for doc in sample_documents:
        out = clean(doc)
        if (isinstance(out, Document) and isinstance(out := language(out), Document)
                and isinstance(badwords(out), Document)):
            found.append(doc)
            if len(found) == n:
                return found
    raise AssertionError("not enough English sample pages")


def write_hostile_wet(path, pages):
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for url, doc in zip(HOSTILE_URLS, pages):
            headers = {"WARC-Date": "2024-05-18T00:00:00Z", "Content-Type": "text/plain"}
            record = writer.create_warc_record(url, "conversion", payload=io.BytesIO(doc.text.encode("utf-8")),
                                               warc_headers_dict=headers)
            writer.write_record(record)


def cleancrawl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cleancrawl", *args], capture_output=True, timeout=600, cwd=cwd)


def assert_no_control_bytes(result):
    for stream in (result.stdout, result.stderr):
        for byte in FORBIDDEN:
            assert byte not in stream, (byte, stream[-3000:])


def test_safe_escapes_controls_and_bidi_and_keeps_other_text():
    assert safe("\x1b[41mRED\x1b[0m.com") == "\\x1b[41mRED\\x1b[0m.com"
    assert safe("a\tb\nc\x7f\u009b\u202e\u2066\u200f") == "a\\x09b\\x0ac\\x7f\\x9b\\u202e\\u2066\\u200f"
    assert safe("Café – 東京.jp") == "Café – 東京.jp" and is_safe("Café")
    assert safe(3) == "3"


@pytest.fixture(scope="module")
def hostile_build(sample_documents, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    inputs = base / "in"
    inputs.mkdir()
    write_hostile_wet(inputs / "pages.warc.wet.gz", _english_pages(sample_documents, len(HOSTILE_URLS)))
    (inputs / "empty\x1b[31m.warc.wet.gz").write_bytes(b"")   # a file error whose name carries an escape
    out = base / "out"
    result = cleancrawl("build", "--input", str(inputs / "*.gz"), "--output", str(out), "--keep-dropped")
    return out, result, inputs


def test_build_messages_carry_no_escape_sequences(hostile_build):
    out, result, _ = hostile_build
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_control_bytes(result)
    assert b"empty\\x1b[31m.warc.wet.gz" in result.stdout         # the file error, named visibly


def test_stats_tables_and_report_carry_no_escape_sequences(hostile_build, tmp_path):
    out, _, _ = hostile_build
    result = cleancrawl("stats", str(out), "--workers", "1", "--no-progress", "--html", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_control_bytes(result)
    text = result.stdout.decode("utf-8")
    assert "\\x1b[41mred\\x1b[0m.com" in text.lower()           # the host, shown as what it is
    page = (tmp_path / "report" / "index.html").read_bytes()
    for byte in FORBIDDEN:
        assert byte not in page
    assert b"\\x1b[41m" in page.lower()
    assert page.count(b"<script") == 1                            # only the report's own script


@pytest.mark.parametrize("workers", ["1", "2"])
def test_verbose_logs_of_libraries_carry_no_escape_sequences(hostile_build, tmp_path, workers):
    # With -v, warcio logs "Replacing spaces in invalid WARC-Target-URI: <the URL>", escapes and all,
    # in this process or (--workers 2) in Beam's worker processes, through Beam's own log handlers.
    _, _, inputs = hostile_build
    result = cleancrawl("build", "-v", "--workers", workers, "--input", str(inputs / "pages.warc.wet.gz"),
                        "--output", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert b"Replacing spaces in invalid WARC-Target-URI: http://spaced.example.com/a b\\x1b[2J" in result.stderr
    assert_no_control_bytes(result)
