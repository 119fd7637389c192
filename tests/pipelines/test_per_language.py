"""`--per-language`: OUT/<language>/{train,validation}/, on the bundled sample's real pages; read
back by list_shards, stats and Hugging Face `datasets` by config name; owned like the splits."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from cleancrawl import layout
from cleancrawl.cli import main
from cleancrawl.pipelines.build import run_build
from cleancrawl.pipelines.config import BuildConfig


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("per-language") / "out"
    stats = run_build(BuildConfig(output=str(out), per_language=True))
    return out, stats


def test_each_language_has_its_splits_and_the_funnel_counts_them(corpus):
    out, stats = corpus
    assert set(stats["splits"]) == {"en/train", "en/validation"}
    assert not (out / "train").exists()
    shards = layout.list_shards(str(out), "train")
    assert [s.rsplit("/", 3)[-3:-1] for s in shards] == [["en", "train"]]
    rows = sum(pq.read_metadata(s).num_rows for s in layout.list_shards(str(out), None))
    assert rows == stats["totals"]["kept"] > 0
    assert {t["language"] for t in pq.read_table(shards[0], columns=["language"]).to_pylist()} == {"en"}
    card = (out / "README.md").read_text()
    assert "- config_name: en" in card and 'path: "en/train/*.parquet"' in card


def test_stats_and_datasets_read_a_per_language_corpus(corpus, capsys):
    out, stats = corpus
    assert main(["stats", str(out)]) == 0
    text = capsys.readouterr().out
    assert "language folders" in text and "train: documents (shards), all languages" in text
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_dataset(str(out), "en")
    assert loaded["train"].num_rows == stats["splits"]["en/train"]["documents"]


def test_a_users_file_in_a_language_folder_is_never_deleted(tmp_path, capsys):
    out = tmp_path / "out"
    run_build(BuildConfig(output=str(out), per_language=True))
    (out / "en" / "notes.txt").write_text("mine")
    assert main(["build", "--per-language", "--output", str(out), "--overwrite"]) == 2
    assert "en/notes.txt" in capsys.readouterr().err and (out / "en" / "notes.txt").exists()
    (out / "en" / "notes.txt").unlink()
    assert main(["build", "--per-language", "--output", str(out), "--overwrite"]) == 0
