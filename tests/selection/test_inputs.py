"""selection.inputs: every container (zstd with Pushshift's long window, bz2, gzip, plain) gives the
same table, and a stream that cannot seek is read all the same."""
import bz2
import gzip
import io

import pytest
import zstandard

from cleancrawl.selection.reddit_dumps import read_submissions

from reddit_testdata import DUMPS, build, raw_lines, zstd_long_window


def test_every_compression_gives_the_same_table(tmp_path):
    data = b"".join(raw_lines(DUMPS[1]))
    zst = zstd_long_window(data)
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


@pytest.mark.parametrize("compress", [zstd_long_window, lambda data: data])
def test_a_stream_that_cannot_seek(compress):
    data = b"".join(raw_lines(DUMPS[1]))
    subs, report = read_submissions(_Pipe(compress(data)), "pipe")
    assert sum(1 for _ in subs) == report.eligible == 1077 and report.lines == 1079
