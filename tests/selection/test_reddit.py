"""Reddit submissions → URL table, on real Pushshift records (June and July 2005, 1,182 submissions)."""
import bz2
import gzip
import io
import json
import lzma
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from cleancrawl.cli import main as cli_main
from datapaths import DATA_DIR
from cleancrawl.corpus.errors import UserError
from cleancrawl.selection.reddit import (
    STATS_FILE, URL_TABLE_SCHEMA, Karma, LinkFilter, UrlTableConfig, aggregate_submissions, build_url_table,
    count_url_table, link_filter_reason, list_url_table, merge_karma, parse_submission, read_submissions,
    read_url_table,
)
from cleancrawl.corpus.urls import normalize_url

DUMPS = [os.path.join(DATA_DIR, "reddit", "RS_v2_2005-06.xz"), os.path.join(DATA_DIR, "reddit", "RS_v2_2005-07.xz")]


def raw_lines(path):
    with lzma.open(path) as f:
        return f.read().splitlines(keepends=True)


def records():
    return [json.loads(line) for path in DUMPS for line in raw_lines(path)]


def build(tmp_path, name="urls", **kwargs):
    kwargs.setdefault("submissions", tuple(DUMPS))
    config = UrlTableConfig(output=str(tmp_path / name), workers=kwargs.pop("workers", 1), **kwargs)
    stats = build_url_table(config)
    return pq.read_table(config.output), stats


def expected_table(recs, min_score=3):
    """The URL table computed the obvious way, as an oracle (media links: the two .jpg posts)."""
    by_url = {}
    for r in recs:
        url = r["url"].replace("&amp;", "&")
        if url.lower().endswith(".jpg"):
            continue
        by_url.setdefault(normalize_url(url), []).append((r["created_utc"], r["id"], url, r))
    rows = []
    for key in sorted(by_url):
        subs = sorted(by_url[key], key=lambda s: s[:3])
        score = max(s[3]["score"] for s in subs)
        if score >= min_score:
            rows.append({
                "normalized_url": key, "url": subs[0][2], "reddit_score": score, "reddit_submissions": len(subs),
                "subreddits": sorted({s[3]["subreddit"] for s in subs}), "first_created_utc": subs[0][0],
                "first_id": subs[0][1], "over_18": any(s[3]["over_18"] for s in subs),
            })
    return rows


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


def test_reddit_html_escaping_is_undone_before_normalising(tmp_path):
    table, _ = build(tmp_path)
    escaped = [r for r in records() if "&amp;" in r["url"] and r["score"] >= 3]
    assert len(escaped) > 10
    urls = dict(zip(table["normalized_url"].to_pylist(), table["url"].to_pylist()))
    for r in escaped:
        key = normalize_url(r["url"].replace("&amp;", "&"))
        assert "&amp;" not in urls[key] and "&" in urls[key]


def test_min_score_option(tmp_path):
    table, stats = build(tmp_path, link_filter=LinkFilter(min_score=10))
    assert table.to_pylist() == expected_table(records(), min_score=10)
    assert all(s >= 10 for s in table["reddit_score"].to_pylist())


# ---------------------------------------------------------------------------- compression formats

def _zstd_long_window(data: bytes) -> bytes:
    """As Pushshift writes them (`zstd --long=31`), in two frames."""
    params = zstandard.ZstdCompressionParameters(window_log=31, enable_ldm=True)
    out = io.BytesIO()
    half = data.rfind(b"\n", 0, len(data) // 2) + 1
    for part in (data[:half], data[half:]):
        with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, closefd=False) as writer:
            writer.write(part)
    return out.getvalue()


def test_every_compression_gives_the_same_table(tmp_path):
    data = b"".join(raw_lines(DUMPS[1]))
    zst = _zstd_long_window(data)
    with pytest.raises(zstandard.ZstdError):  # the default window limit cannot read Pushshift's dumps
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(zst)).read()
    variants = {"RS.zst": zst, "RS.bz2": bz2.compress(data), "RS.gz": gzip.compress(data), "RS.json": data}
    reference, _ = build(tmp_path, "xz", submissions=(DUMPS[1],))
    for name, blob in variants.items():
        (tmp_path / name).write_bytes(blob)
        table, stats = build(tmp_path, name + "-out", submissions=(str(tmp_path / name),))
        assert table.equals(reference), name
        assert stats["totals"]["lines"] == 1079
    assert stats["files"][str(tmp_path / "RS.json")]["format"] == "jsonl-plain"


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
    assert stats["totals"]["lines"] == (stats["totals"]["eligible_submissions"] + stats["totals"]["filtered_submissions"]
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


def test_missing_input_and_existing_output_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no file matches"):
        build(tmp_path, submissions=(str(tmp_path / "RS_*.zst"),))
    build(tmp_path, "out")
    with pytest.raises(UserError, match="--overwrite"):
        build(tmp_path, "out")
    table, _ = build(tmp_path, "out", overwrite=True, link_filter=LinkFilter(min_score=50))
    assert os.listdir(tmp_path / "out") and all(s >= 50 for s in table["reddit_score"].to_pylist())


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


# ---------------------------------------------------------------------------- URL lists, reading back

def test_url_lists_join_the_dump_counts(tmp_path):
    recs = records()
    listed = [r["url"].replace("&amp;", "&") for r in recs[:5]] + ["https://www.example.org/new-story/"]
    (tmp_path / "urls.txt.gz").write_bytes(gzip.compress(("# OpenWebText-style list\n\n" + "\n".join(listed) + "\n").encode()))
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


def test_reading_the_table_back_for_the_join(tmp_path):
    table, _ = build(tmp_path, workers=2, partitions=3)
    files = list_url_table(str(tmp_path / "urls"))
    assert [os.path.basename(f) for f in files] == [f"part-0000{i}-of-00003.parquet" for i in range(3)]
    rows = {}
    for path in files:
        with open(path, "rb") as f:
            assert count_url_table(f) == pq.ParquetFile(path).metadata.num_rows
        with open(path, "rb") as f:
            rows.update(read_url_table(f))
    oracle = expected_table(records())
    assert len(rows) == len(oracle)  # partitions and workers do not change the table
    assert all(rows[r["normalized_url"]] == Karma(r["reddit_score"], r["reddit_submissions"], tuple(r["subreddits"]))
               for r in oracle)
    os.remove(tmp_path / "urls" / "_SUCCESS")
    with pytest.raises(UserError, match="did not finish"):
        list_url_table(str(tmp_path / "urls"))


def test_a_plain_list_and_a_foreign_parquet_table_read_as_url_sources(tmp_path):
    urls = ["http://www.Example.com/a/", "https://example.com/a?utm_source=x", "http://example.com/b"]
    (tmp_path / "list.txt").write_text("\n".join(urls) + "\n")
    with open(tmp_path / "list.txt", "rb") as f:
        assert list(read_url_table(f)) == [(normalize_url(u), Karma(None, None, None)) for u in urls]
    pq.write_table(pa.table({"url": urls, "score": [1, 2, 3]}), tmp_path / "foreign.parquet")
    with open(tmp_path / "foreign.parquet", "rb") as f:
        assert [k for k, _ in read_url_table(f)] == ["Example.com/a", "example.com/a", "example.com/b"]  # host case kept, as C4
    assert merge_karma([Karma(5, 1, ("a",)), Karma(None, None, None), Karma(9, 2, ("b", "a"))]) == Karma(9, 3, ("a", "b"))


def test_aggregate_of_nothing_is_an_empty_table():
    from cleancrawl.selection.reddit import SUBMISSION_SCHEMA
    table, counts = aggregate_submissions(SUBMISSION_SCHEMA.empty_table(), 3)
    assert table.num_rows == 0 and table.schema == URL_TABLE_SCHEMA and counts["urls"] == 0


# ---------------------------------------------------------------------------- the command

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


class _Pipe(io.RawIOBase):
    """A stream that cannot seek, like a pipe or an HTTP body."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("compress", [_zstd_long_window, lambda data: data])
def test_a_stream_that_cannot_seek(compress):
    data = b"".join(raw_lines(DUMPS[1]))
    subs, report = read_submissions(_Pipe(compress(data)), "pipe")
    assert sum(1 for _ in subs) == report.eligible == 1077 and report.lines == 1079
