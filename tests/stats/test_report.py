"""stats.report and `cleancrawl stats`: terminal tables, the JSON document, the sections that get
a plot, and the HTML report opened in headless Chromium (every image must load; a screenshot is kept)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from cleancrawl.cli import main
from cleancrawl.stats import report
from cleancrawl.stats.collect import SCHEMA_VERSION, StatsConfig, corpus_stats

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "artifacts")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def test_terminal_tables_show_both_corpora_side_by_side(stats_doc):
    text = report.render_text(stats_doc)
    c4, wt = stats_doc["corpora"]
    # Every table's header row names both corpora (the funnel: only the one that has one).
    for section in report.sections(stats_doc):
        for table in section.tables:
            if table.title.startswith(("Funnel", "Drop reasons", "Lines removed", "Problems", "Sample documents")):
                continue
            assert table.headers[-2:] == ["c4like", "webtextlike"], table.title
            assert len(table.rows[0]) == len(table.headers)
    overview = re.search(r"^documents\s+(\S+)\s+(\S+)$", text, re.M)
    assert overview.groups() == (f"{c4['contents']['documents']:,}", f"{wt['contents']['documents']:,}")
    language_id = re.search(r"^language ID\s+(\d+)\s+(\d+)\s+(\d+)\s+\S+%\s+([\d,]+)\s+yes$", text, re.M)
    step = next(s for s in c4["funnel"]["stages"] if s["stage"] == "langid")
    assert tuple(map(int, language_id.groups()[:3])) == (step["in"], step["dropped"], step["out"])
    assert int(language_id.group(4).replace(",", "")) == step["bytes_out"] > 0  # text bytes leaving the stage
    for title in ("Overview", "Funnel: documents at each stage", "Drop reasons", "Lines removed per line rule",
                  "Document lengths", "Languages", "Top domains", "Top-level domains", "Documents by month",
                  "Duplicate clusters", "Reddit score", "Top subreddits", "Tokens"):
        assert f"\n{title}" in text, title


def test_cli_writes_json_and_html_and_prints_tables(two_corpora, tmp_path, capsys):
    json_path, html_dir = tmp_path / "stats.json", tmp_path / "report"
    code = main(["stats", *two_corpora, "--json", str(json_path), "--html", str(html_dir), "--workers", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Funnel: documents at each stage" in out and "webtextlike" in out
    doc = json.loads(json_path.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and [c["name"] for c in doc["corpora"]] == ["c4like", "webtextlike"]
    assert doc == corpus_stats(list(two_corpora), StatsConfig(workers=1, progress=False))
    assert json.loads((html_dir / "stats.json").read_text()) == doc
    pngs = sorted(p.name for p in html_dir.glob("*.png"))
    assert pngs == sorted(f"{s.key}.png" for s in report.sections(doc) if s.plot)
    assert {"funnel.png", "lengths.png", "domains.png", "reddit.png", "duplicates.png", "tokens.png"} <= set(pngs)
    page = (html_dir / "index.html").read_text()
    assert page.count("<img ") == len(pngs)
    # Nothing to fetch: opens offline (URLs of the sample documents appear as text only).
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", page, re.I)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such corpus directory" in err[0]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is needed to check the HTML report: install Debian's package with "
                "`apt-get install chromium` (the Makefile's test target does this)")


def _run_chromium(args: list[str], profile: str) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=60)


def test_html_report_opens_in_headless_chromium_with_every_image(stats_doc, tmp_path):
    folder = tmp_path / "report"
    index = report.write_html(stats_doc, str(folder))
    url = "file://" + os.path.abspath(index)

    dom = _run_chromium(["--virtual-time-budget=10000", "--dump-dom", url], str(tmp_path / "profile1"))
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, f"no DOM from chromium: {dom.stderr[-2000:]}"
    images = int(re.search(r'data-images="(\d+)"', body.group(1)).group(1))
    loaded = int(re.search(r'data-images-loaded="(\d+)"', body.group(1)).group(1))
    assert images == len(list(folder.glob("*.png"))) >= 7
    assert loaded == images

    screenshot = tmp_path / "report.png"
    shot = _run_chromium([f"--screenshot={screenshot}", "--window-size=1280,2000", url], str(tmp_path / "profile2"))
    assert screenshot.exists() and screenshot.stat().st_size > 20_000, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    os.makedirs(ARTIFACTS, exist_ok=True)
    shutil.copy(screenshot, os.path.join(ARTIFACTS, "stats-report.png"))


# ---------------------------------------------------------------------------- what the plots show

def test_no_empty_or_single_category_plots(two_corpora, tmp_path, capfd):
    c4like, _ = two_corpora
    doc = corpus_stats([c4like], StatsConfig(workers=1, progress=False))
    by_key = {s.key: s for s in report.sections(doc)}
    # The sample build's dedup side output has no clusters: a line, not an empty plot with an empty legend.
    assert doc["corpora"][0]["duplicates"]["sizes"] == {}
    assert by_key["duplicates"].plot is None and by_key["duplicates"].lines
    # 100% en, one crawl month, every language score in one bin: one line each, no plot.
    assert by_key["languages"].plot is None
    assert "Every document has language en." in by_key["languages"].lines
    assert by_key["months"].plot is None and by_key["months"].lines == ["Every document was crawled in 2024-05."]
    capfd.readouterr()
    report.write_html(doc, str(tmp_path / "report"))
    err = capfd.readouterr().err
    assert "Warning" not in err and "legend" not in err, err              # matplotlib has nothing to complain about
    assert not (tmp_path / "report" / "duplicates.png").exists()
    page = (tmp_path / "report" / "index.html").read_text()
    assert "Every document was crawled in 2024-05." in page


def test_report_names_the_build_version_date_and_config(stats_doc):
    text = report.render_text(stats_doc)
    c4 = stats_doc["corpora"][0]
    assert c4["build"]["cleancrawl_version"] == __import__("importlib.metadata").metadata.version("cleancrawl")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", c4["build"]["finished_at"])
    assert re.search(r"^build finished \(UTC\)\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+–$", text, re.M)
    assert re.search(r"^min_sentences\s+3\s+–$", text, re.M) and "\nBuild\n" in text
    assert "Sample documents" in text and "kept" in text               # kept examples even without --keep-dropped
    assert "build with --keep-dropped to see what each reason removed" in text
