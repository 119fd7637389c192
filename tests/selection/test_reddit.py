"""selection.reddit (`cleancrawl reddit-urls`): real Pushshift records → the URL table, one row per
normalised URL, checked against an oracle; --min-score, URL lists, bad inputs and outputs, the command."""
import gzip
import json
import os

import pyarrow.parquet as pq
import pytest

from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.selection.reddit import STATS_FILE, SUBMISSION_SCHEMA, aggregate_submissions
from cleancrawl.selection.reddit_dumps import LinkFilter
from cleancrawl.selection.url_table import URL_TABLE_SCHEMA

from datapaths import DATA_DIR
from reddit_testdata import DUMPS, build, expected_table, records

# ---------------------------------------------------------------------------- the table

def test_url_table_is_one_row_per_normalised_url_with_max_score_count_and_first_submission(tmp_path):
    table, stats = build(tmp_path)
    assert table.schema.names == URL_TABLE_SCHEMA.names
    rows = table.to_pylist()
    assert rows == expected_table(records())
    assert stats["totals"]["urls_kept"] == len(rows) == 837
    assert stats["totals"]["urls"] == 1177 and stats["totals"]["urls_below_min_score"] == 340
    # A URL submitted twice (July 2005): max score, both submissions, the earlier one's time and id.
    twice = [r for r in rows if r["normalized_url"] == "msnbc.msn.com/id/8445696/site/newsweek"]
    subs = sorted((r["created_utc"], r["id"], r["score"]) for r in records()
                  if normalize_url(r["url"]) == "msnbc.msn.com/id/8445696/site/newsweek")
    assert len(subs) == 2
    assert twice == [{**twice[0], "reddit_score": max(s[2] for s in subs), "reddit_submissions": 2,
                      "first_created_utc": subs[0][0], "first_id": subs[0][1]}]
    assert os.path.exists(tmp_path / "urls" / "_SUCCESS")


def test_min_score_option(tmp_path):
    table, stats = build(tmp_path, link_filter=LinkFilter(min_score=10))
    assert table.to_pylist() == expected_table(records(), min_score=10)
    assert all(s >= 10 for s in table["reddit_score"].to_pylist())


def test_url_lists_join_the_dump_counts(tmp_path):
    recs = records()
    listed = [r["url"].replace("&amp;", "&") for r in recs[:5]] + ["https://www.example.org/new-story/"]
    (tmp_path / "urls.txt.gz").write_bytes(gzip.compress(
        ("# OpenWebText-style list\n\n" + "\n".join(listed) + "\n").encode()))
    table, stats = build(tmp_path, url_lists=(str(tmp_path / "urls.txt.gz"),))
    rows = {r["normalized_url"]: r for r in table.to_pylist()}
    new = rows["example.org/new-story"]
    assert new["reddit_score"] is None and new["reddit_submissions"] == 1 and new["subreddits"] == []
    # A listed URL is kept even when its Reddit score is low; the dump's score and the list both count.
    for r in recs[:5]:
        row = rows[normalize_url(r["url"].replace("&amp;", "&"))]
        assert row["reddit_score"] == r["score"] and row["reddit_submissions"] >= 2
    assert stats["files"][str(tmp_path / "urls.txt.gz")]["format"] == "urls-gzip"
    listed_file = stats["files"][str(tmp_path / "urls.txt.gz")]
    assert listed_file["lines"] == 8 and listed_file["blank"] == 2  # the comment and the blank line


def test_aggregate_of_nothing_is_an_empty_table():
    table, counts = aggregate_submissions(SUBMISSION_SCHEMA.empty_table(), 3)
    assert table.num_rows == 0 and table.schema == URL_TABLE_SCHEMA and counts["urls"] == 0


# ---------------------------------------------------------------------------- the command

def test_missing_input_and_existing_output_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no file matches"):
        build(tmp_path, submissions=(str(tmp_path / "RS_*.zst"),))
    build(tmp_path, "out")
    with pytest.raises(UserError, match="--overwrite"):
        build(tmp_path, "out")
    table, _ = build(tmp_path, "out", overwrite=True, link_filter=LinkFilter(min_score=50))
    assert os.listdir(tmp_path / "out") and all(s >= 50 for s in table["reddit_score"].to_pylist())


def test_reddit_urls_command(tmp_path, capsys):
    out = str(tmp_path / "urls")
    assert cli_main(["reddit-urls", "--submissions", os.path.join(DATA_DIR, "reddit", "RS_v2_2005-0*.xz"),
                     "--output", out, "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "read 1182 lines from 2 file(s)" in printed and "kept 837 with score >= 3" in printed
    stats = json.loads((tmp_path / "urls" / STATS_FILE).read_text())
    assert stats["totals"]["urls_kept"] == pq.read_table(out).num_rows == 837
    assert cli_main(["reddit-urls", "--submissions", DUMPS[0], "--output", out]) == 2
    assert "--overwrite" in capsys.readouterr().err
    cut = tmp_path / "cut.xz"
    cut.write_bytes(open(DUMPS[0], "rb").read()[:4000])
    assert cli_main(["reddit-urls", "--submissions", str(cut), "--output", out, "--overwrite", "--strict",
                     "--workers", "1"]) == 1
