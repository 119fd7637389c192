"""selection.reddit_dumps on real Pushshift records: every submission read and counted, Reddit's
HTML escaping undone, Parquet dumps, malformed lines and truncated files, and the link filters."""
import json
import lzma

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl.corpus.urls import normalize_url
from cleancrawl.selection.reddit_dumps import LinkFilter, link_filter_reason, parse_submission, read_submissions

from reddit_testdata import DUMPS, build, expected_table, raw_lines, records

# ---------------------------------------------------------------------------- reading dumps

def test_every_real_submission_is_read_and_counted():
    totals = {"lines": 0, "eligible": 0, "eligible_min_score": 0}
    filtered = {}
    for path in DUMPS:
        with open(path, "rb") as f:
            subs, report = read_submissions(f, path)
            subs = list(subs)
        assert report.format == "jsonl-xz" and report.error is None and not report.skipped
        assert len(subs) == report.eligible
        for key in totals:
            totals[key] += getattr(report, key)
        for reason, n in report.filtered.items():
            filtered[reason] = filtered.get(reason, 0) + n
    recs = records()
    assert totals["lines"] == len(recs) == 1182
    assert sum(r["score"] >= 3 for r in recs) == 840
    # Two image links are filtered (one scored 8, one 2): 839 counted submissions score >= 3.
    assert filtered == {"media_link": 2}
    assert totals["eligible"] == 1180 and totals["eligible_min_score"] == 839


def test_reddit_html_escaping_is_undone_before_normalising(tmp_path):
    table, _ = build(tmp_path)
    escaped = [r for r in records() if "&amp;" in r["url"] and r["score"] >= 3]
    assert len(escaped) > 10
    urls = dict(zip(table["normalized_url"].to_pylist(), table["url"].to_pylist()))
    for r in escaped:
        key = normalize_url(r["url"].replace("&amp;", "&"))
        assert "&amp;" not in urls[key] and "&" in urls[key]


def test_parquet_submissions_give_the_same_table(tmp_path):
    recs = records()
    fields = ["id", "url", "score", "created_utc", "is_self", "over_18", "subreddit", "title"]
    pq.write_table(pa.Table.from_pylist([{k: r[k] for k in fields} for r in recs]), tmp_path / "RS.parquet")
    table, stats = build(tmp_path, submissions=(str(tmp_path / "RS.parquet"),))
    assert table.to_pylist() == expected_table(recs)
    assert stats["files"][str(tmp_path / "RS.parquet")]["format"] == "parquet"


# ---------------------------------------------------------------------------- malformed input

def test_malformed_lines_are_counted_and_listed_with_file_and_line(tmp_path):
    good = raw_lines(DUMPS[0])
    rec = json.loads(good[0])
    lines = [
        good[0],                                                          # 1 ok
        b'{"url": "http://example.com/a", "score": \n',                   # 2 malformed_json
        json.dumps({**rec, "score": "lots"}).encode() + b"\n",            # 3 bad_score
        json.dumps({k: v for k, v in rec.items() if k != "url"}).encode() + b"\n",  # 4 missing_url
        b"[1, 2, 3]\n",                                                   # 5 not_an_object
        json.dumps({**json.loads(good[1]), "score": "12"}).encode() + b"\n",          # 6 ok: numeric string
        json.dumps({**json.loads(good[2]), "created_utc": "1119552400"}).encode() + b"\n",  # 7 ok
        b"\n",                                                            # 8 blank: ignored
        json.dumps({**json.loads(good[3]), "created_utc": None}).encode() + b"\n",   # 9 missing_created_utc
        b'{"url": "http://example.com/\xff\xfe", "score": 5}\n',          # 10 malformed_json (not UTF-8)
        good[4][: len(good[4]) // 2] + b"\n",                             # 11 malformed_json (cut short)
        json.dumps({**json.loads(good[5]), "score": True}).encode() + b"\n",         # 12 bad_score
        json.dumps({**json.loads(good[6]), "url": 42}).encode() + b"\n",              # 13 bad_url
        good[7],                                                          # 14 ok
    ]
    path = tmp_path / "RS_bad.json"
    path.write_bytes(b"".join(lines))
    table, stats = build(tmp_path, submissions=(str(path),))
    listed = [(s["file"], s["line"], s["reason"]) for s in stats["skipped_lines"]]
    assert listed == [(str(path), n, reason) for n, reason in [
        (2, "malformed_json"), (3, "bad_score"), (4, "missing_url"), (5, "not_an_object"),
        (9, "missing_created_utc"), (10, "malformed_json"), (11, "malformed_json"), (12, "bad_score"), (13, "bad_url"),
    ]]
    assert stats["skipped"] == {"bad_score": 2, "bad_url": 1, "malformed_json": 3, "missing_created_utc": 1,
                                "missing_url": 1, "not_an_object": 1}
    assert stats["totals"]["lines"] == 14 and stats["totals"]["eligible_submissions"] == 4
    # Every line is accounted for: counted, filtered, skipped as malformed, or blank.
    assert stats["totals"]["blank_lines"] == 1 == stats["files"][str(path)]["blank"]
    assert stats["totals"]["lines"] == (stats["totals"]["eligible_submissions"]
                                        + stats["totals"]["filtered_submissions"]
                                        + stats["totals"]["skipped_lines"] + stats["totals"]["blank_lines"])
    kept = set(table["normalized_url"].to_pylist())
    ok = [json.loads(good[i]) for i in (0, 1, 2, 7)]
    assert kept == {normalize_url(r["url"]) for r, score in zip(ok, [rec["score"], 12, ok[2]["score"], ok[3]["score"]])
                    if score >= 3}
    assert stats["file_errors"] == []


def test_a_truncated_dump_keeps_what_was_read_and_reports_the_file(tmp_path):
    whole = lzma.compress(b"".join(raw_lines(DUMPS[1])))
    cut = tmp_path / "RS_cut.xz"
    cut.write_bytes(whole[: len(whole) // 2])
    table, stats = build(tmp_path, submissions=(str(cut), DUMPS[0]))
    (error,) = stats["file_errors"]
    assert error["file"] == str(cut) and error["reason"] == "truncated_file"
    read_lines = stats["files"][str(cut)]["lines"]
    assert 0 < read_lines < 1079 and f"after line {read_lines}" in error["detail"]
    assert stats["files"][DUMPS[0]]["error"] is None and table.num_rows > 80


# ---------------------------------------------------------------------------- filters

def _variant(**changes):
    return parse_submission({**records()[0], **changes})


@pytest.mark.parametrize("changes, reason, option", [
    ({"is_self": True, "url": "http://www.reddit.com/r/reddit.com/comments/87/x/"}, "self_post", "keep_self_posts"),
    ({"url": "https://www.reddit.com/r/science/comments/abc/title/"}, "reddit_link", "keep_reddit_links"),
    ({"url": "https://redd.it/abc"}, "reddit_link", "keep_reddit_links"),
    ({"url": "https://i.imgur.com/XYZ.png"}, "media_link", "keep_media_links"),
    ({"url": "https://www.youtube.com/watch?v=abc"}, "media_link", "keep_media_links"),
    ({"url": "http://example.org/video.MP4?x=1"}, "media_link", "keep_media_links"),
    ({"over_18": True}, None, None),
])
def test_link_filters_and_the_options_that_turn_them_off(changes, reason, option):
    sub = _variant(**changes)
    assert link_filter_reason(sub, LinkFilter()) == reason
    if option:
        assert link_filter_reason(sub, LinkFilter(**{option: True})) is None


def test_nsfw_is_kept_by_default_and_dropped_on_request():
    sub = _variant(over_18=True)
    assert link_filter_reason(sub, LinkFilter(drop_over_18=True)) == "over_18"
    assert link_filter_reason(_variant(url="ftp://example.org/file"), LinkFilter()) == "not_http_url"


def test_a_news_site_whose_name_contains_reddit_is_not_a_reddit_link():
    assert link_filter_reason(_variant(url="http://notreddit.com/story"), LinkFilter()) is None
    assert link_filter_reason(_variant(url="http://imgur.com.example.org/story"), LinkFilter()) is None
