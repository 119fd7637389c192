"""storage.py: the one I/O boundary (paths, reads, atomic writes), tested directly.

The output-folder rules built on it (layouts, the lock) are tested in tests/test_output_folder.py;
what crosses the boundary is checked by tests/test_storage_boundary.py."""
import errno
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl import output_folder, storage
from cleancrawl.corpus.errors import UserError


def test_atomic_writer_renames_into_place_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "deep" / "out.bin"  # the folder is made, as Beam's local create makes it
    with storage.atomic_writer(str(path)) as f:
        f.write(b"first")
        assert not path.exists()  # under its temporary name until the block ends
        (tmp,) = [n for n in os.listdir(path.parent)]
        assert storage.temp_name_of(tmp) == "out.bin" and tmp.startswith(".out.bin.tmp-")
    assert path.read_bytes() == b"first"
    storage.write_atomically(str(path), b"second")
    assert path.read_bytes() == b"second" and os.listdir(path.parent) == ["out.bin"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"the last good one")
    with pytest.raises(OSError):
        with storage.atomic_writer(str(path)) as f:
            f.write(b"half")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert path.read_bytes() == b"the last good one" and os.listdir(tmp_path) == ["checkpoint.pt"]


def test_below_a_regular_file_the_error_names_the_path(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError):
        storage.write_atomically(str(tmp_path / "afile" / "out.json"), b"{}")


def test_a_layout_owns_the_temporary_names_of_its_files():
    layout = output_folder.OutputLayout("demo", r"^(stats\.json|_SUCCESS)$", {"train": r"^part-\d{5}\.parquet$"})
    assert layout.owns("stats.json") and layout.owns("train/part-00001.parquet")
    assert (layout.owns(".stats.json.tmp-0123456789abcdef")
            and layout.owns("train/.part-00001.parquet.tmp-deadbeefdeadbeef"))
    assert not layout.owns(".notes.txt.tmp-0123456789abcdef") and not layout.owns("notes.txt")
    assert storage.temp_name_of(".x.tmp-12") is None  # too short to be ours


def test_listing_matching_and_deleting(tmp_path):
    for name in ("a.spill", "b.spill", "keep.txt"):
        (tmp_path / name).write_bytes(b"x" * 3)
    assert storage.match_files(str(tmp_path / "*.spill")) == [(str(tmp_path / "a.spill"), 3),
                                                               (str(tmp_path / "b.spill"), 3)]
    assert (storage.list_dir(str(tmp_path)) == ["a.spill", "b.spill", "keep.txt"]
            and storage.list_dir(str(tmp_path / "no")) == [])
    storage.delete_matching(str(tmp_path / "*.spill"))
    storage.delete_matching(str(tmp_path / "*.spill"))  # none left: nothing to do
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_a_files_signature_changes_when_it_is_replaced(tmp_path):
    path = tmp_path / "part-00000.parquet"
    path.write_bytes(b"one")
    before = storage.file_signature(str(path))
    assert storage.file_signature(str(path)) == before
    replacement = tmp_path / "new"
    replacement.write_bytes(b"one")
    os.replace(replacement, path)  # what build --overwrite does: a new file under the old name
    assert storage.file_signature(str(path)) != before
    path.unlink()
    assert storage.file_signature(str(path)) is None


def test_parquet_footers_and_text_columns_are_checked_in_one_line(tmp_path):
    good, other, binary, fake = (tmp_path / n
                                 for n in ("good.parquet", "other.parquet", "binary.parquet", "fake.parquet"))
    pq.write_table(pa.table({"text": ["a page"], "url": ["https://a.example/"]}), good)
    pq.write_table(pa.table({"content": ["a page"]}), other)
    pq.write_table(pa.table({"text": [b"bytes"]}), binary)
    fake.write_bytes(b"WARC/1.0\r\n" * 10)
    assert storage.parquet_schema(str(good)).names == ["text", "url"]
    storage.check_text_shards([str(good)], required=("text", "url"))
    with pytest.raises(UserError,
                       match=r"other.parquet: no text column 'text' \(set --text-column; its columns: content\)"):
        storage.check_text_shards([str(other)])
    with pytest.raises(UserError, match=r"binary.parquet: column 'text' is binary, not text$"):
        storage.check_text_shards([str(binary)], options=False)
    with pytest.raises(UserError, match=r"fake.parquet: not a readable Parquet file \("):
        storage.parquet_metadata(str(fake))
    assert [b.column(0).to_pylist() for b in storage.iter_batches([str(good)], ["text"])] == [["a page"]]
    assert list(storage.iter_texts([str(good)])) == ["a page"]


def test_paths_join_and_name_alike_locally_and_remotely():
    assert storage.join("s3://bucket/out/", "train", "part.parquet") == "s3://bucket/out/train/part.parquet"
    assert storage.join("out", "train") == os.path.join("out", "train")
    assert storage.basename("gs://b/x/y.gz") == "y.gz" and storage.basename("/x/y.gz") == "y.gz"
    assert storage.is_remote("https://data.commoncrawl.org/x") and not storage.is_remote("/data/x")


def test_an_appended_log_is_local(tmp_path):
    with storage.open_append(str(tmp_path / "metrics.jsonl")) as f:
        f.write('{"step": 1}\n')
    with storage.open_append(str(tmp_path / "metrics.jsonl")) as f:
        f.write('{"step": 2}\n')
    assert (tmp_path / "metrics.jsonl").read_text().splitlines() == ['{"step": 1}', '{"step": 2}']
    with pytest.raises(UserError):
        storage.open_append("s3://bucket/metrics.jsonl")
