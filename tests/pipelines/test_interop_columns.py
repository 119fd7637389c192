"""`dedup`, `stats`, `tokenizer train` and `tokenize` on Parquet written by other tools.

The input is datatrove-shaped, made here from the 323 real pages of the sample crawl: columns
`text`, `id`, `media` and a `metadata` struct holding `url` (and date, file path, dump), in
files named as datatrove names them. Another shape keeps the text in a struct (`doc.body`).
Each command is compared with the same documents written as cleancrawl's own shards.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.columns import Columns, extract
from cleancrawl.corpus.record import documents_to_table
from cleancrawl.layout import SUCCESS_MARKER, list_shards, shard_name
from cleancrawl.stats.collect import StatsConfig, corpus_stats
from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus
from cleancrawl.tokenizer.token_shards import TokenShard, read_manifest
from cleancrawl.tokenizer.train import TokenizerTrainConfig, train_tokenizer

MEDIA = pa.list_(pa.struct([("type", pa.int64()), ("url", pa.string())]))


def _datatrove_table(docs) -> pa.Table:
    return pa.table({
        "text": [d.text for d in docs],
        "id": [d.record_id for d in docs],
        "media": pa.array([[] for _ in docs], type=MEDIA),
        "metadata": [{"url": d.url, "date": d.timestamp, "file_path": d.source_file, "dump": "CC-MAIN-2024-22"}
                     for d in docs],
    })


@pytest.fixture(scope="module")
def docs(sample_documents):
    return sample_documents  # 322 real pages (one is too long to read)


@pytest.fixture(scope="module")
def datatrove_dir(tmp_path_factory, docs) -> str:
    out = tmp_path_factory.mktemp("datatrove") / "output"
    out.mkdir()
    half = len(docs) // 2
    for i, part in enumerate((docs[:half], docs[half:])):
        pq.write_table(_datatrove_table(part), str(out / f"{i:05d}.parquet"))
    return str(out)


@pytest.fixture(scope="module")
def nested_text_dir(tmp_path_factory, docs) -> str:
    """Text two levels down: `doc.body`; URL in `doc.source.url`."""
    out = tmp_path_factory.mktemp("nested") / "output"
    out.mkdir()
    table = pa.table({"doc": [{"body": d.text, "source": {"url": d.url}} for d in docs]})
    pq.write_table(table, str(out / "part.parquet"))
    return str(out)


@pytest.fixture(scope="module")
def own_dir(tmp_path_factory, docs) -> str:
    """The same documents, in the same order, as a cleancrawl corpus (one train shard, 2 files)."""
    out = tmp_path_factory.mktemp("own")
    (out / "train").mkdir()
    half = len(docs) // 2
    for i, part in enumerate((docs[:half], docs[half:])):
        pq.write_table(documents_to_table(part), str(out / "train" / shard_name(i, 2)))
    (out / SUCCESS_MARKER).write_text("ok")
    return str(out)


def test_columns_resolve_struct_paths_and_prefer_a_real_column():
    table = pa.table({"metadata": [{"url": "https://a.example/", "inner": {"x": "1"}}], "metadata.url": ["literal"]})
    assert extract(table, "metadata.url").to_pylist() == ["literal"]  # a column named with a dot wins
    assert extract(table, "metadata.inner.x").to_pylist() == ["1"]
    renamed = Columns(url="metadata.inner.x").rename(table)
    assert renamed.schema.names == ["url"] and renamed.column(0).to_pylist() == ["1"]


def test_stats_reads_datatrove_output_with_the_url_in_metadata(datatrove_dir, own_dir, docs):
    config = dict(workers=1, progress=False)
    theirs = corpus_stats([datatrove_dir], StatsConfig(columns=Columns(url="metadata.url"), **config))
    ours = corpus_stats([own_dir], StatsConfig(**config))
    a, b = theirs["corpora"][0]["contents"], ours["corpora"][0]["contents"]
    assert a["documents"] == b["documents"] == len(docs)
    for key in ("characters", "bytes", "words", "lines", "lengths", "domains", "tlds"):
        assert a[key] == b[key], key
    assert a["domains"]["distinct"] > 100  # the URLs were read from metadata.url, not left empty
    assert theirs["corpora"][0]["problems"] == []


def test_stats_with_a_wrong_column_name_is_one_line(datatrove_dir, capsys):
    assert cli_main(["stats", datatrove_dir, "--url-column", "metadata.link", "--workers", "1", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metadata.link" in err and "--url-column" in err and "metadata.url" in err


def test_dedup_reads_datatrove_output(datatrove_dir, docs, tmp_path, capsys):
    out = str(tmp_path / "dedup")
    # without the options: datatrove's Parquet has no url column, said in one line
    assert cli_main(["dedup", "--input", datatrove_dir, "--output", out, "--method", "c4-lines"]) == 2
    assert "no url column" in capsys.readouterr().err
    assert cli_main(["dedup", "--input", datatrove_dir, "--output", out, "--method", "c4-lines",
                     "--url-column", "metadata.url", "--id-column", "id"]) == 0
    stats = json.load(open(os.path.join(out, "stats.json")))
    assert stats["totals"]["read"] == len(docs) and stats["totals"]["balanced"]
    assert stats["config"]["columns"] == {"text": "text", "url": "metadata.url", "record_id": "id"}
    kept = pa.concat_tables([pq.read_table(p, columns=["url", "record_id", "text"]) for p in list_shards(out, None)])
    assert kept.num_rows == stats["totals"]["kept"] > len(docs) // 2
    by_id = {d.record_id: d for d in docs}
    for url, record_id in zip(kept["url"].to_pylist(), kept["record_id"].to_pylist()):
        assert by_id[record_id].url == url  # id and URL came from the same datatrove row


def test_tokenizer_and_tokenize_read_text_from_a_struct(nested_text_dir, own_dir, tmp_path, capsys):
    def train(corpus: str, name: str, **options) -> str:
        out = str(tmp_path / name)
        train_tokenizer(TokenizerTrainConfig(corpus=corpus, output=out, kind="byte-bpe", vocab_size=1000,
                                    sample_bytes=None, threads=2, **options), progress=False)
        return out

    theirs = train(nested_text_dir, "theirs", text_column="doc.body")
    ours = train(own_dir, "ours")
    assert open(os.path.join(theirs, "tokenizer.json"), "rb").read() == \
        open(os.path.join(ours, "tokenizer.json"), "rb").read()  # same texts, same order, same tokenizer

    assert cli_main(["tokenize", "--tokenizer", ours, "--corpus", nested_text_dir, "--output",
                     str(tmp_path / "t-theirs"), "--text-column", "doc.body", "--workers", "1"]) == 0
    tokenize_corpus(TokenizeConfig(tokenizer=ours, corpus=own_dir, output=str(tmp_path / "t-ours"), workers=1),
                    progress=False)
    a = np.concatenate([TokenShard(os.path.join(tmp_path / "t-theirs", e["path"])).tokens
                        for e in read_manifest(str(tmp_path / "t-theirs"))["splits"]["train"]])
    b = np.concatenate([TokenShard(os.path.join(tmp_path / "t-ours", e["path"])).tokens
                        for e in read_manifest(str(tmp_path / "t-ours"))["splits"]["train"]])
    assert np.array_equal(a, b)

    capsys.readouterr()
    assert cli_main(["tokenize", "--tokenizer", ours, "--corpus", nested_text_dir, "--output",
                     str(tmp_path / "t-none"), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "doc.body" in err and "--text-column" in err
    assert not os.path.exists(tmp_path / "t-none")
    assert cli_main(["tokenizer", "train", "--corpus", nested_text_dir, "--output", str(tmp_path / "t2"),
                     "--kind", "byte-bpe", "--vocab-size", "1000", "--text-column", "doc.source"]) == 2
    assert "not text" in capsys.readouterr().err  # a struct is not text
