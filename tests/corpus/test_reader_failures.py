"""Damaged crawl files, made in the test from real WARC/WET bytes: a wrong Content-Length, a
cut gzip member, a file gzipped whole, a file that is no WARC. Every record ends as a document
or a named drop, no byte of one record reaches another's text, and no detail quotes the file."""
import dataclasses
import gzip
import io
import re
import zlib
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from datapaths import COMMONCRAWL, DATA_DIR, SAMPLE_WET
from cleancrawl.corpus.readers import FILE_ERROR_REASONS, FILE_LOSS_REASONS, read_crawl_file
from cleancrawl.corpus.record import Document, Drop

WARC_SAMPLE = f"{COMMONCRAWL}/CC-MAIN-2020-34-sample.warc.gz"
BOTCHAN = f"{DATA_DIR}/text/botchan.txt"
_HEADER = re.compile(rb"WARC/1\.\d\r\n")


def read(data: bytes, name="f.warc"):
    return list(read_crawl_file(io.BytesIO(data), name))


def outcomes(items):
    return Counter("document" if isinstance(x, Document) else x.reason for x in items)


def plain(path) -> bytes:
    return gzip.decompress(open(path, "rb").read())


def members(path) -> list[bytes]:
    """The gzip members of a Common Crawl file, one record each."""
    data, out = open(path, "rb").read(), []
    while data:
        inflater = zlib.decompressobj(31)
        inflater.decompress(data)
        size = len(data) - len(inflater.unused_data)
        out.append(data[:size])
        data = data[size:]
    return out


def record_starts(data: bytes) -> list[int]:
    return [m.start() for m in _HEADER.finditer(data) if m.start() == 0 or data[m.start() - 4:m.start()] == b"\r\n\r\n"]


def with_length(record: bytes, delta: int) -> bytes:
    """The record (header and block) with its WARC Content-Length changed by delta."""
    head, _, rest = record.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
    return head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % (length + delta)) + b"\r\n\r\n" + rest


def change_length(data: bytes, k: int, delta: int) -> bytes:
    starts = record_starts(data) + [len(data)]
    return data[:starts[k]] + with_length(data[starts[k]:starts[k + 1]], delta) + data[starts[k + 1]:]


def unplaced(items):
    """The items without their byte offsets (a changed length can shift them by a digit)."""
    return [dataclasses.replace(x, source_offset=0) if isinstance(x, Document) else x for x in items]


def texts(items):
    return {x.record_id: x.text for x in items if isinstance(x, Document)}


def assert_no_record_inside_another(items):
    for doc in (x for x in items if isinstance(x, Document)):
        assert "WARC-Record-ID:" not in doc.text and "WARC/1.0" not in doc.text, doc.url


# ---------------------------------------------------------------------------- item 3: over-stated lengths

@pytest.mark.parametrize("path,k,delta", [
    (SAMPLE_WET, 100, 300),        # a WET page runs 300 bytes into the next record's header
    (SAMPLE_WET, 100, 40_000),     # ... through several records
    (WARC_SAMPLE, 3, 2_000),       # a WARC response runs into the metadata record after it
])
def test_overstated_length_in_a_plain_file_drops_that_record_and_recovers_the_rest(path, k, delta):
    data = plain(path)
    clean = read(data)
    items = read(change_length(data, k, delta))
    assert_no_record_inside_another(items)
    (bad,) = [x for x in items if isinstance(x, Drop) and x.reason in FILE_LOSS_REASONS]
    assert bad.reason == "truncated_record" and f"record at byte {record_starts(data)[k]} " in bad.detail
    # Every other record: exactly as read from the intact file.
    assert len(items) == len(clean)
    assert [x for i, x in enumerate(unplaced(items)) if i != k] == [x for i, x in enumerate(unplaced(clean)) if i != k]


def test_overstated_length_in_a_gzip_member_is_caught_by_the_next_member():
    parts = members(SAMPLE_WET)
    k = 50
    parts[k] = gzip.compress(with_length(gzip.decompress(parts[k]), 5_000))
    items = read(b"".join(parts), "f.warc.wet.gz")
    clean = list(read_crawl_file(open(SAMPLE_WET, "rb"), "f.warc.wet.gz"))
    assert outcomes(items) == outcomes(clean) - Counter({"document": 1}) + Counter({"truncated_record": 1})
    assert texts(items) == {rid: t for rid, t in texts(clean).items() if rid != clean[k].record_id}
    assert_no_record_inside_another(items)


def test_length_past_the_end_of_the_file_is_a_truncated_file_named_with_its_offset():
    data = plain(SAMPLE_WET)
    last = record_starts(data)[-1]
    damaged = change_length(data, len(record_starts(data)) - 1, 10_000)
    items = read(damaged)
    assert items[-1].reason == "truncated_file"
    assert f"inside the record at byte {last}" in items[-1].detail and f"ends at byte {len(damaged)}" in items[-1].detail
    assert len(items) == len(read(data))


# ---------------------------------------------------------------------------- item 8: under-stated lengths

@pytest.mark.parametrize("gzipped", [False, True])
def test_understated_length_drops_the_record_instead_of_cutting_its_text(gzipped):
    data = plain(SAMPLE_WET)
    clean = read(data)
    k = 7
    assert isinstance(clean[k], Document)
    damaged = change_length(data, k, -200)
    if gzipped:  # one member per record, as Common Crawl writes them
        starts = record_starts(damaged) + [len(damaged)]
        damaged = b"".join(gzip.compress(damaged[a:b]) for a, b in zip(starts, starts[1:]))
    items = read(damaged)
    assert items[k].reason == "bytes_after_record" and items[k].url == clean[k].url
    assert "204 more bytes follow it" in items[k].detail  # the 200 and the record's blank line
    if not gzipped:
        assert [x for i, x in enumerate(items) if i != k] == [x for i, x in enumerate(clean) if i != k]
    assert texts(items) == {rid: t for rid, t in texts(clean).items() if rid != clean[k].record_id}


# ---------------------------------------------------------------------------- item 4: a gzip file cut short

@pytest.mark.parametrize("path", [SAMPLE_WET, WARC_SAMPLE, f"{COMMONCRAWL}/whirlwind.warc.wet.gz"])
def test_a_gzip_file_cut_inside_a_member_is_a_truncated_file_with_the_byte_where_reading_stopped(path):
    data = open(path, "rb").read()
    parts = members(path)
    cut = sum(map(len, parts[:len(parts) // 2])) + len(parts[len(parts) // 2]) // 2  # mid-member
    items = read(data[:cut], "cut.warc.gz")
    clean = read(data, "cut.warc.gz")
    assert outcomes(items)["truncated_file"] == 1 and items[-1].reason == "truncated_file"
    assert f"ends at byte {cut}, inside the gzip member that begins at byte" in items[-1].detail
    assert "truncated_record" not in outcomes(items)
    assert items[:-1] == clean[:len(items) - 1]  # everything before the cut, as read whole


# ---------------------------------------------------------------------------- item 7: gzipped as one stream

@pytest.mark.parametrize("path", [SAMPLE_WET, WARC_SAMPLE])
def test_a_file_gzipped_as_one_stream_reads_every_record(path):
    data = plain(path)
    whole = read(gzip.compress(data), "recompressed.warc.gz")
    per_record = list(read_crawl_file(open(path, "rb"), "recompressed.warc.gz"))
    assert outcomes(whole) == outcomes(per_record) and not set(outcomes(whole)) & set(FILE_LOSS_REASONS)
    assert texts(whole) == texts(per_record)
    # Offsets are in the decompressed bytes: seek there in `zcat`'s output and read the record.
    for doc in [x for x in whole if isinstance(x, Document)][::25]:
        record = next(iter(ArchiveIterator(io.BytesIO(data[doc.source_offset:]))))
        assert record.rec_headers.get_header("WARC-Record-ID") == doc.record_id


def test_concatenated_gzip_streams_read_as_one_file():
    data = plain(SAMPLE_WET)
    starts = record_starts(data)
    middle = starts[len(starts) // 2]
    items = read(gzip.compress(data[:middle]) + gzip.compress(data[middle:]), "cat.warc.gz")
    assert outcomes(items) == outcomes(read(data))


# ---------------------------------------------------------------------------- items 5 and 11: not WARC

@pytest.mark.parametrize("gzipped", [False, True])
def test_a_text_file_is_not_warc_and_its_text_is_never_quoted(gzipped):
    text = open(BOTCHAN, "rb").read()
    items = read(gzip.compress(text) if gzipped else text, "botchan.warc.gz")
    assert [(x.stage, x.reason) for x in items] == [("read", "not_warc")]
    first_words = text.split(b"\n")[0].strip().decode()[:20]
    assert first_words and first_words not in items[0].detail
    assert "expected a WARC or WET file" in items[0].detail


def test_junk_inside_a_file_is_skipped_to_the_next_header_and_never_quoted():
    data = plain(SAMPLE_WET)
    clean = read(data)
    starts = record_starts(data)
    secret = b"root:$6$s3cr3tHash:19000:0:99999:7:::\n" * 3
    items = read(data[:starts[10]] + secret + data[starts[10]:])
    assert_no_record_inside_another(items)
    # Record 9's WARC-Block-Digest matches its declared bytes: it is whole, the junk is the damage.
    lost = [(i, x) for i, x in enumerate(items) if isinstance(x, Drop) and x.reason in FILE_LOSS_REASONS]
    assert [(i, x.reason) for i, x in lost] == [(10, "bad_warc_headers")]
    assert f"at byte {starts[10]}: {len(secret)} bytes skipped" in lost[0][1].detail
    assert "s3cr3t" not in lost[0][1].detail and "root" not in lost[0][1].detail
    assert unplaced(items[:10] + items[11:]) == unplaced(clean)
    # A broken header line: that record is lost as bad_warc_headers, the next one is read.
    broken = read(data[:starts[20]] + b"WARX" + data[starts[20] + 4:])
    assert outcomes(broken) == outcomes(clean) - Counter({"document": 1}) + Counter({"bad_warc_headers": 1})
    assert broken[20].reason == "bad_warc_headers" and broken[:20] + broken[21:] == clean[:20] + clean[21:]


def test_without_a_digest_a_record_followed_by_junk_is_dropped():
    data = re.sub(rb"WARC-Block-Digest: [^\r]*\r\n", b"", plain(SAMPLE_WET))
    starts = record_starts(data)
    items = read(data[:starts[10]] + b"junk\r\n" + data[starts[10]:])
    assert [(i, x.reason) for i, x in enumerate(items) if isinstance(x, Drop) and x.reason in FILE_LOSS_REASONS] == \
        [(9, "bytes_after_record")]
    assert len(items) == len(read(data))


def test_every_file_loss_is_last_and_every_damaged_record_names_its_offset():
    data = plain(SAMPLE_WET)
    for damaged in (change_length(data, 5, 700), change_length(data, 5, -50), data[: len(data) // 2]):
        items = read(damaged)
        for item in items:
            if isinstance(item, Drop) and item.reason in FILE_LOSS_REASONS:
                assert re.search(r"at byte \d+", item.detail)
                assert item.reason not in FILE_ERROR_REASONS or item is items[-1]


def test_seeded_corruptions_of_a_plain_wet_file_never_leak_one_record_into_another():
    """Random lengths rewritten, bytes inserted or deleted: no document ever holds WARC headers,
    every loss is named, and a clean record is never lost to a neighbour's damage (count check)."""
    import random

    data = plain(SAMPLE_WET)
    n_records = len(read(data))
    rng = random.Random(11)
    for _ in range(15):
        starts = record_starts(data)
        k = rng.randrange(len(starts) - 1)
        kind = rng.choice(["longer", "shorter", "insert", "delete"])
        if kind == "longer":
            damaged = change_length(data, k, rng.randrange(1, 50_000))
        elif kind == "shorter":
            damaged = change_length(data, k, -rng.randrange(5, 1_000))
        else:
            block = data.index(b"\r\n\r\n", starts[k]) + 4  # in the block: a changed header value is no damage one can see
            junk = rng.randbytes(rng.randrange(1, 300))
            at = rng.randrange(block, starts[k + 1] - 4 - len(junk))
            damaged = data[:at] + junk + data[at:] if kind == "insert" else data[:at] + data[at + len(junk):]
        items = read(damaged)
        assert_no_record_inside_another(items)
        lost = [x for x in items if isinstance(x, Drop) and x.reason in FILE_LOSS_REASONS]
        assert lost and all(re.search(r"at byte \d+", x.detail) for x in lost), kind
        if kind in ("longer", "shorter") and not any(x.reason == "truncated_file" for x in lost):
            assert len(items) == n_records and len(lost) == 1, kind  # one bad length costs one record
