"""The one eval-text reader (cleancrawl/eval_sets.py) of `overlap --eval`, `build --decontaminate`
and `pretrain --eval`: the same documents from every form of source, each command's choice of a
corpus's splits, one line naming the option and the path for a bad source, and remote paths."""
from __future__ import annotations

import gzip
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl import eval_sets
from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines.overlap import eval_paths
from cleancrawl.pretrain.bpb import PACKAGED_PATHS, parse_eval_spec, read_eval_texts

LINES = ["The first document.", "Ünïcode, the second."]


@pytest.fixture()
def sources(tmp_path):
    text = "\n\n".join(LINES) + "\n  \n"
    (tmp_path / "plain.txt").write_text(text, encoding="utf-8")
    (tmp_path / "packed.txt").write_bytes(gzip.compress(text.encode("utf-8")))  # gzip by its bytes, not its name
    pq.write_table(pa.table({"text": [LINES[0], "", LINES[1]]}), tmp_path / "docs.parquet")
    corpus = tmp_path / "corpus"
    for split, docs in (("train", ["trained on"]), ("validation", ["held out"])):
        os.makedirs(corpus / split)
        pq.write_table(pa.table({"url": ["u"] * len(docs), "text": docs}),
                       corpus / split / "part-00000-of-00001.parquet")
    (corpus / "_SUCCESS").write_bytes(b"cleancrawl: complete\n")
    nested = tmp_path / "nested" / "data"
    os.makedirs(nested)
    pq.write_table(pa.table({"text": LINES}), nested / "train-0.parquet")
    return tmp_path


@pytest.mark.parametrize("name", ["plain.txt", "packed.txt", "docs.parquet"])
def test_every_form_of_source_gives_the_same_documents_to_both_commands(sources, name):
    path = str(sources / name)
    assert list(eval_sets.eval_texts(path)) == LINES                 # overlap, decontaminate
    assert read_eval_texts(path) == LINES                             # bits per byte


def test_a_corpus_is_every_split_for_overlap_and_its_validation_split_for_bits_per_byte(sources):
    corpus = str(sources / "corpus")
    assert list(eval_sets.eval_texts(corpus)) == ["trained on", "held out"]
    assert read_eval_texts(corpus) == ["held out"]
    assert read_eval_texts(str(sources / "nested")) == LINES  # no validation/: every *.parquet under it


def test_names_and_packaged_texts():
    assert eval_sets.parse_eval_spec("wiki=a/b.txt") == ("wiki", "a/b.txt")
    assert eval_sets.parse_eval_spec("a/held.out.txt") == ("held", "a/held.out.txt")
    assert eval_sets.parse_eval_spec("wikitext") == ("wikitext", "wikitext")  # overlap: a path like any other
    assert parse_eval_spec("wikitext") == ("wikitext", PACKAGED_PATHS["wikitext"])  # bits per byte: the packaged text
    with pytest.raises(UserError, match=r"^--decontaminate b=y: the name b is given twice"):
        eval_sets.parse_eval_specs(["b=x", "b=y"], "--decontaminate")


@pytest.mark.parametrize("make, said", [
    (lambda d: d / "missing.txt", "no such file or folder"),
    (lambda d: d.joinpath("bin.txt").write_bytes(b"ok\n\xff\xfe\n") and d / "bin.txt", "not UTF-8 text (byte 3)"),
    (lambda d: pq.write_table(pa.table({"body": ["x"]}), d / "body.parquet") or d / "body.parquet",
     "cannot read a text column: no text column 'text'"),
    (lambda d: d.joinpath("fake.parquet").write_bytes(b"not parquet") and d / "fake.parquet",
     "cannot read a text column: not a readable Parquet file"),
    (lambda d: d.joinpath("blank.txt").write_text("\n \n") and d / "blank.txt", "holds no text"),
    (lambda d: os.makedirs(d / "empty") or d / "empty", "a folder without Parquet shards"),
], ids=["missing", "not-utf8", "no-text-column", "not-parquet", "blank", "empty-folder"])
def test_a_bad_source_is_one_line_naming_the_option_and_the_path(tmp_path, make, said):
    path = str(make(tmp_path))
    for option, read in (("--eval", lambda: read_eval_texts(path)),
                         ("--decontaminate", lambda: eval_paths([path], "--decontaminate", read=True))):
        with pytest.raises(UserError) as caught:
            read()
        line = str(caught.value)
        assert line.startswith(f"{option} {path}: ") and said in line and "\n" not in line, line


def test_a_corpus_whose_build_did_not_finish_names_the_option(sources):
    os.remove(sources / "corpus" / "_SUCCESS")
    with pytest.raises(UserError, match=r"^--eval .*corpus: no _SUCCESS marker"):
        list(eval_sets.eval_texts(str(sources / "corpus")))


def test_remote_sources_are_read_through_storage(sources):
    """A file system under its own scheme, as gs:// or s3:// would be, backed by the local files."""
    from apache_beam.io.localfilesystem import LocalFileSystem

    class PrefixedLocalFileSystem(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "cceval"

        def match(self, patterns, limits=None):
            return super().match([p.removeprefix("cceval://") for p in patterns], limits)

        def open(self, path, *args, **kwargs):
            return super().open(path.removeprefix("cceval://"), *args, **kwargs)

        def exists(self, path):
            return super().exists(path.removeprefix("cceval://"))

    remote = f"cceval://{sources}"
    assert list(eval_sets.eval_texts(f"{remote}/packed.txt")) == LINES
    assert read_eval_texts(f"{remote}/docs.parquet") == LINES
    assert read_eval_texts(f"{remote}/corpus") == ["held out"]
    with pytest.raises(UserError, match="no such file or folder"):
        read_eval_texts(f"{remote}/missing.txt")


def test_the_reader_imports_only_storage_layout_and_errors():
    """A leaf both overlap (pipelines/) and bits per byte (pretrain/) may import: no Beam, no torch."""
    import ast

    with open(eval_sets.__file__, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    project = {name for name in imported if name.startswith("cleancrawl")}
    assert project == {"cleancrawl.layout", "cleancrawl.storage", "cleancrawl.corpus.errors.UserError"}
    assert not {name.split(".")[0] for name in imported} & {"apache_beam", "torch"}
