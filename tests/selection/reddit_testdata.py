"""Real Pushshift records for the selection tests (June and July 2005, 1,182 submissions), the URL
table built from them, and the table computed the obvious way as an oracle."""
import io
import json
import lzma
import os

import pyarrow.parquet as pq
import zstandard

from cleancrawl.corpus.urls import normalize_url
from cleancrawl.selection.reddit import UrlTableConfig, build_url_table

from datapaths import DATA_DIR

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


def zstd_long_window(data: bytes) -> bytes:
    """As Pushshift writes them (`zstd --long=31`), in two frames."""
    params = zstandard.ZstdCompressionParameters(window_log=31, enable_ldm=True)
    out = io.BytesIO()
    half = data.rfind(b"\n", 0, len(data) // 2) + 1
    for part in (data[:half], data[half:]):
        with zstandard.ZstdCompressor(compression_params=params).stream_writer(out, closefd=False) as writer:
            writer.write(part)
    return out.getvalue()
