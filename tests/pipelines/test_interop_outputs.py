"""A build's output read by the tools users already have: HF datasets (and streaming), DuckDB, Polars.

Two real builds of the bundled sample, once for the module: the default one (51 train documents,
an empty validation split) and one with `--validation-modulus 4 --num-shards 64` (both splits
hold documents, and about half of the 64 train shards are empty gap shards).
"""
from __future__ import annotations

import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402

from cleancrawl.cli import main as cli_main  # noqa: E402
from cleancrawl.corpus.record import DOCUMENT_SCHEMA, Document  # noqa: E402
from cleancrawl.layout import list_shards  # noqa: E402
from cleancrawl.pipelines.write import encode_table  # noqa: E402

datasets = pytest.importorskip("datasets")
README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("interop") / "out")
    assert cli_main(["build", "--output", out]) == 0
    return out


@pytest.fixture(scope="module")
def split_build(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("interop-splits") / "out")
    assert cli_main(["build", "--output", out, "--validation-modulus", "4", "--num-shards", "64"]) == 0
    return out


def _rows(paths: list[str], column: str = "url") -> list:
    return [v for p in paths for v in pq.read_table(p, columns=[column]).column(0).to_pylist()]


def _load(path: str, tmp_path, **kwargs):
    return datasets.load_dataset(path, cache_dir=str(tmp_path / "hf-cache"), **kwargs)


def test_an_empty_shard_has_no_row_group_but_the_full_schema(sample_build, split_build):
    [empty] = list_shards(sample_build, "validation")
    parquet = pq.ParquetFile(empty)
    assert (parquet.metadata.num_rows, parquet.metadata.num_row_groups) == (0, 0)
    [train] = list_shards(sample_build, "train")  # the same columns and types as a shard with rows
    assert parquet.schema_arrow.equals(pq.ParquetFile(train).schema_arrow, check_metadata=True)
    assert parquet.schema_arrow.names == DOCUMENT_SCHEMA.names
    gaps = [p for p in list_shards(split_build, "train") if pq.ParquetFile(p).metadata.num_rows == 0]
    assert len(gaps) > 16 and all(pq.ParquetFile(p).metadata.num_row_groups == 0 for p in gaps)
    assert open(gaps[0], "rb").read() == open(empty, "rb").read()  # one empty shard, whatever the split


def test_a_zero_row_row_group_is_what_datasets_cannot_read(sample_build, tmp_path):
    """The cause: datasets takes a file's first row group's row count as its batch size."""
    [train] = list_shards(sample_build, "train")
    old_style = str(tmp_path / "old-empty.parquet")
    pq.write_table(DOCUMENT_SCHEMA.empty_table(), old_style)
    assert pq.ParquetFile(old_style).metadata.row_group(0).num_rows == 0
    with pytest.raises(Exception, match="BatchSize must be greater than 0|generating the dataset"):
        _load("parquet", tmp_path / "a", data_files={"train": [train, old_style]})
    new_style = str(tmp_path / "new-empty.parquet")
    with open(new_style, "wb") as f:
        f.write(encode_table([]))
    loaded = _load("parquet", tmp_path / "b", data_files={"train": [train, new_style]})
    assert loaded["train"]["url"] == _rows([train])


def test_datasets_loads_the_default_build_and_streams_it(sample_build, tmp_path):
    train = _rows(list_shards(sample_build, "train"), "text")
    assert len(train) == 51
    loaded = _load(sample_build, tmp_path)
    assert list(loaded) == ["train"]  # the empty validation split is left out, not an error
    assert loaded["train"]["text"] == train
    assert loaded["train"].features["text"].dtype in ("large_string", "string")
    streamed = _load(sample_build, tmp_path, streaming=True)
    assert [row["text"] for row in streamed["train"]] == train
    card = open(os.path.join(sample_build, "README.md"), encoding="utf-8").read()
    assert card.startswith("---\nconfigs:\n") and "validation" in card.split("---")[2]


def test_datasets_loads_both_splits_when_both_hold_documents(split_build, tmp_path):
    expected = {split: _rows(list_shards(split_build, split)) for split in ("train", "validation")}
    assert all(expected.values()) and len(list_shards(split_build, "train")) == 64
    loaded = _load(split_build, tmp_path)
    assert sorted(loaded) == ["train", "validation"]
    for split, urls in expected.items():
        assert loaded[split]["url"] == urls
    streamed = _load(split_build, tmp_path, streaming=True)
    for split, urls in expected.items():
        assert [row["url"] for row in streamed[split]] == urls


def test_duckdb_and_polars_read_every_split(sample_build, split_build):
    duckdb = pytest.importorskip("duckdb")
    pl = pytest.importorskip("polars")
    for out in (sample_build, split_build):
        for split in ("train", "validation"):
            urls = _rows(list_shards(out, split))
            pattern = os.path.join(out, split, "*.parquet")
            got = duckdb.sql(f"SELECT url FROM read_parquet('{pattern}')").fetchall()
            assert sorted(u for (u,) in got) == sorted(urls)
            frame = pl.scan_parquet(pattern).select("url", "text").collect()
            assert sorted(frame["url"].to_list()) == sorted(urls)
            assert frame.height == len(urls)
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{sample_build}/validation/*.parquet')").fetchall()
    assert [row[0] for row in described] == DOCUMENT_SCHEMA.names  # an empty split still has its columns


def _readme_block(marker: str) -> str:
    text = open(README, encoding="utf-8").read()
    match = re.search(r"<!-- " + re.escape(marker) + r" -->\s*```python\n(.*?)```", text, re.S)
    assert match, f"README has no python block after <!-- {marker} -->"
    return match.group(1)


def test_the_readme_one_liners_run_on_a_real_build(sample_build, tmp_path, capsys):
    pytest.importorskip("duckdb")
    pytest.importorskip("polars")
    code = _readme_block("interop: corpus").replace("cleancrawl-out", sample_build)
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the datasets cache the snippet makes stays in the test's folder
    try:
        scope: dict = {}
        exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own lines
    finally:
        os.chdir(cwd)
    assert scope["corpus"]["train"].num_rows == 51
    assert scope["frame"].height == 51
    assert "en" in capsys.readouterr().out  # DuckDB's table of languages


def test_the_card_is_deterministic_and_lists_only_splits_with_documents():
    from cleancrawl.corpus.dataset_card import dataset_card

    both = dataset_card({"train": 10, "validation": 2}).decode()
    assert 'path: "train/*.parquet"' in both and 'path: "validation/*.parquet"' in both
    assert dataset_card({"train": 10, "validation": 2}) == dataset_card({"train": 10, "validation": 2})
    assert not dataset_card({"train": 0, "validation": 0}).decode().startswith("---")


def test_empty_table_encoding_reads_back_as_zero_documents():
    table = pq.read_table(pa.BufferReader(encode_table([])))
    assert table.num_rows == 0 and table.schema.names == DOCUMENT_SCHEMA.names
    one = Document(url="https://a.example/", normalized_url="a.example/", timestamp="t", text="x")
    assert pq.ParquetFile(pa.BufferReader(encode_table([one]))).metadata.num_row_groups == 1
