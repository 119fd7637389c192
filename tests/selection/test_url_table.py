"""selection.url_table: reading a URL table back for the build's join, whatever wrote it (reddit-urls
with any partitions and workers, a plain list, another tool's Parquet)."""
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.urls import normalize_url
from cleancrawl.selection.url_table import Karma, count_url_table, list_url_table, merge_karma, read_url_table

from reddit_testdata import build, expected_table, records


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
        # host case kept, as C4
        assert [k for k, _ in read_url_table(f)] == ["Example.com/a", "example.com/a", "example.com/b"]
    assert (merge_karma([Karma(5, 1, ("a",)), Karma(None, None, None), Karma(9, 2, ("b", "a"))])
            == Karma(9, 3, ("a", "b")))
