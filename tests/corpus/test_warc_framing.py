"""WARC byte framing (`corpus.warc_framing`): damaged crawl files, made in the test from real
WARC/WET bytes — a wrong Content-Length, a cut gzip member, a file gzipped whole, junk between
records — and TFDS's own C4 fixture. Every record ends as a document or a named drop, no byte of
one record reaches another's text, and no detail quotes the file. A record whose Content-Length
is wrong but whose end is unambiguous (the next header, the end of the file past its declared
bytes) is read up to that end and counted as repaired.

Most tests read through `read_crawl_file`, so that what framing delivers is checked as the
documents and drops it becomes; the first ones call `frame` alone."""
import dataclasses
import gzip
import io
import os
import re
import zlib
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from cleancrawl.corpus.readers import FILE_ERROR_REASONS, FILE_LOSS_REASONS, read_crawl_file, read_local_file
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.corpus.warc_framing import REPAIRED_LENGTH_EVENT, Damage, Record, Source, frame

from datapaths import COMMONCRAWL, EDGE_CASES, PAGES_WARC, SAMPLE_WET

WARC_SAMPLE = f"{COMMONCRAWL}/CC-MAIN-2020-34-sample.warc.gz"
_HEADER = re.compile(rb"WARC/1\.\d\r\n")


def read(data: bytes, name="f.warc"):
    return list(read_crawl_file(io.BytesIO(data), name))


def read_counting(data: bytes, name="f.warc"):
    """(items, events): what `read` gives, and the events counted on the way (repairs)."""
    events = Counter()
    items = list(read_crawl_file(io.BytesIO(data), name, count=lambda event: events.update([event])))
    return items, events


def losses(items):
    return [(i, x.reason) for i, x in enumerate(items) if isinstance(x, Drop) and x.reason in FILE_LOSS_REASONS]


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


# ---------------------------------------------------------------------------- frame, alone

def test_frame_cuts_a_plain_file_into_its_records_as_they_lie():
    data = plain(SAMPLE_WET)
    starts = record_starts(data)
    records = list(frame(Source(io.BytesIO(data))))
    assert all(isinstance(x, Record) for x in records) and [x.start for x in records] == starts
    for record, end in zip(records, starts[1:] + [len(data)]):
        assert data[record.start:end] == record.header + record.block + b"\r\n\r\n"


def test_frame_names_junk_as_damage_by_offset_and_goes_on_at_the_next_header():
    data = plain(SAMPLE_WET)
    starts = record_starts(data)
    junk = b"root:$6$s3cr3tHash:19000:0:99999:7:::\n"
    items = list(frame(Source(io.BytesIO(data[:starts[3]] + junk + data[starts[3]:]))))
    (damage,) = [x for x in items if isinstance(x, Damage)]
    assert damage == Damage("bad_warc_headers", f"bytes that are not a WARC record header at byte {starts[3]}: "
                            f"{len(junk)} bytes skipped to the next WARC header at byte {starts[3] + len(junk)}")
    assert len(items) == len(starts) + 1


def test_a_record_that_begins_a_gzip_member_reports_the_member_s_offset():
    """Common Crawl's framing: one member a record. Each record's offset is where its member begins
    in the file (seek there and read); in a file gzipped whole, where it begins in the stream."""
    sizes = [len(part) for part in members(SAMPLE_WET)]
    with open(SAMPLE_WET, "rb") as f:
        src = Source(f)
        offsets = [src.record_offset(x.start) for x in frame(src)]
    assert offsets == [sum(sizes[:i]) for i in range(len(sizes))]
    src = Source(io.BytesIO(gzip.compress(plain(SAMPLE_WET))))
    assert [src.record_offset(x.start) for x in frame(src)] == record_starts(plain(SAMPLE_WET))


# ---------------------------------------------------------------------------- item 3: over-stated lengths

@pytest.mark.parametrize("path,k,delta", [
    (SAMPLE_WET, 100, 300),        # a WET page runs 300 bytes into the next record's header
    (SAMPLE_WET, 100, 40_000),     # ... through several records
    (WARC_SAMPLE, 3, 2_000),       # a WARC response runs into the metadata record after it
])
def test_overstated_length_in_a_plain_file_is_read_to_the_next_header_and_counted(path, k, delta):
    """The next `WARC/1.x` header ends the record unambiguously: its block is read up to there,
    less the record's blank line, and is byte for byte the record of the intact file."""
    data = plain(path)
    clean = read(data)
    items, events = read_counting(change_length(data, k, delta))
    assert_no_record_inside_another(items)
    assert losses(items) == [] and events == {REPAIRED_LENGTH_EVENT: 1}
    assert unplaced(items) == unplaced(clean)


def test_overstated_length_in_a_gzip_member_ends_at_the_next_member_s_header():
    parts = members(SAMPLE_WET)
    k = 50
    parts[k] = gzip.compress(with_length(gzip.decompress(parts[k]), 5_000))
    items, events = read_counting(b"".join(parts), "f.warc.wet.gz")
    clean = list(read_crawl_file(open(SAMPLE_WET, "rb"), "f.warc.wet.gz"))
    assert events == {REPAIRED_LENGTH_EVENT: 1}
    assert unplaced(items) == unplaced(clean)  # (the recompressed member shifts the offsets after it)
    assert items[k] == clean[k]  # its offset too: the record still begins its gzip member
    assert_no_record_inside_another(items)


def test_overstated_length_whose_next_header_line_is_broken_is_dropped():
    """Record 11's `WARC/1.0` line is damaged: the first header after record 10's block is record
    12's, and between them lies another record's header. That end is not record 10's: dropped."""
    data = plain(SAMPLE_WET)
    starts = record_starts(data)
    damaged = change_length(data, 10, 3_000)
    damaged = damaged[:starts[11]] + b"WARX" + damaged[starts[11] + 4:]
    items, events = read_counting(damaged)
    assert_no_record_inside_another(items)
    # truncated_record or bytes_after_record, as record 12's header lies before or after the declared end
    assert losses(items) == [(10, "bytes_after_record"
                              if starts[12] - starts[10] > 3_000 + len(data[starts[10]:starts[11]])
                              else "truncated_record")] and not events
    assert f"record at byte {starts[10]} declares" in items[10].detail
    clean = read(data)
    assert unplaced(items[:10] + items[11:]) == unplaced(clean[:10] + clean[12:])  # record 11 went with it


def test_a_warc_line_in_the_text_is_no_record_end():
    """A page that quotes `WARC/1.0` on a line of its own, with an over-stated length: that line
    begins no WARC header (no Content-Length follows), so it does not end the record; the record
    is dropped, the quoted line and what follows it are skipped to the real next header."""
    data = plain(SAMPLE_WET)
    starts = record_starts(data)
    k = 20
    record = data[starts[k]:starts[k + 1]]
    head, _, text = record.partition(b"\r\n\r\n")
    quoted = text[:200] + b"\nWARC/1.0\n" + text[200:]
    record = with_length(head + b"\r\n\r\n" + quoted, 0)
    items, events = read_counting(data[:starts[k]] + with_length(record, 500) + data[starts[k + 1]:])
    assert_no_record_inside_another(items)
    assert [reason for _, reason in losses(items)] == ["truncated_record", "bad_warc_headers"] and not events
    clean = read(data)
    assert unplaced(items[:k] + items[k + 2:]) == unplaced(clean[:k] + clean[k + 1:])


def test_length_past_the_end_of_the_file_is_a_truncated_file_named_with_its_offset():
    """A plain file that ends before a record's declared length: a cut file looks the same, so the
    record is not taken as whole."""
    data = plain(SAMPLE_WET)
    last = record_starts(data)[-1]
    damaged = change_length(data, len(record_starts(data)) - 1, 10_000)
    items, events = read_counting(damaged)
    assert items[-1].reason == "truncated_file" and not events
    assert (f"inside the record at byte {last}" in items[-1].detail
            and f"ends at byte {len(damaged)}" in items[-1].detail)
    assert len(items) == len(read(data))
    # Gzipped whole, the same: the member ends where the file does, but it holds every record.
    whole = read(gzip.compress(damaged), "whole.warc.gz")
    assert whole[-1].reason == "truncated_file" and len(whole) == len(items)


def test_length_past_the_end_of_a_whole_gzip_member_of_one_record_ends_at_the_member():
    """One gzip member a record (Common Crawl's framing), the last member whole (its CRC and
    length check out): the writer compressed exactly this record, so the member's end is its end."""
    parts = members(SAMPLE_WET)
    parts[-1] = gzip.compress(with_length(gzip.decompress(parts[-1]), 10_000))
    items, events = read_counting(b"".join(parts), "f.warc.wet.gz")
    assert items == list(read_crawl_file(open(SAMPLE_WET, "rb"), "f.warc.wet.gz"))
    assert events == {REPAIRED_LENGTH_EVENT: 1}
    # The same member cut short is a cut file, as before.
    cut = b"".join(parts)[:-20]
    assert read(cut, "f.warc.wet.gz")[-1].reason == "truncated_file"


# ---------------------------------------------------------------------------- item 8: under-stated lengths

@pytest.mark.parametrize("gzipped", [False, True])
def test_understated_length_reads_the_record_to_the_next_header_instead_of_cutting_its_text(gzipped):
    data = plain(SAMPLE_WET)
    clean = read(data)
    k = 7
    assert isinstance(clean[k], Document)
    damaged = change_length(data, k, -200)
    if gzipped:  # one member per record, as Common Crawl writes them
        starts = record_starts(damaged) + [len(damaged)]
        damaged = b"".join(gzip.compress(damaged[a:b]) for a, b in zip(starts, starts[1:]))
    items, events = read_counting(damaged)
    assert events == {REPAIRED_LENGTH_EVENT: 1} and losses(items) == []
    assert items[k].text == clean[k].text and items[k].content_length == clean[k].content_length
    if not gzipped:
        assert items == clean
    assert texts(items) == texts(clean)


def test_understated_length_at_the_end_of_the_file_reads_to_the_end():
    data = plain(SAMPLE_WET)
    clean = read(data)
    items, events = read_counting(change_length(data, len(clean) - 1, -300))
    assert events == {REPAIRED_LENGTH_EVENT: 1} and unplaced(items) == unplaced(clean)


def test_understated_length_that_ends_on_a_blank_line_is_dropped():
    """The declared bytes end with a blank line, as a whole record's do: the length may be right
    and what follows junk (or not). No telling which, so the record is dropped, as before."""
    data = plain(SAMPLE_WET)
    starts = record_starts(data)
    k = 7
    head, _, text = data[starts[k]:starts[k + 1]].partition(b"\r\n\r\n")
    text = text[:-4]  # less the record's own blank line
    record = with_length(head + b"\r\n\r\n" + text[:300] + b"\n\n" + text[300:] + b"\r\n\r\n", 0)
    damaged = data[:starts[k]] + with_length(record, -(len(text) - 300)) + data[starts[k + 1]:]
    items, events = read_counting(re.sub(rb"WARC-Block-Digest: [^\r]*\r\n", b"", damaged))
    assert losses(items) == [(k, "bytes_after_record")] and not events
    assert f"{len(text) - 300 + 4} more bytes follow it" in items[k].detail  # from after the blank line to the header


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


def test_truncated_gzip_keeps_records_before_the_cut():
    data = open(PAGES_WARC, "rb").read()
    items = list(read_crawl_file(io.BytesIO(data[: len(data) // 2]), "cut.warc.gz"))
    counts = outcomes(items)
    assert counts["document"] >= 15
    assert counts == {"document": counts["document"], "truncated_file": 1}
    assert items[-1].reason == "truncated_file" and f"at byte {len(data) // 2}" in items[-1].detail


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


# ---------------------------------------------------------------------------- items 5 and 11: junk between records

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
    """Record 9, its blank line, then junk: is the junk part of it (an under-stated length) or not?
    Without a digest to tell, record 9 is dropped; never repaired with the junk in it."""
    data = re.sub(rb"WARC-Block-Digest: [^\r]*\r\n", b"", plain(SAMPLE_WET))
    starts = record_starts(data)
    items, events = read_counting(data[:starts[10]] + b"junk\r\n" + data[starts[10]:])
    assert losses(items) == [(9, "bytes_after_record")] and not events
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
    every damage is named (a loss) or counted (a repair), and a clean record is never lost to a
    neighbour's damage (count check)."""
    import random

    data = plain(SAMPLE_WET)
    clean = read(data)
    n_records = len(clean)
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
            # in the block: a changed header value is no damage one can see
            block = data.index(b"\r\n\r\n", starts[k]) + 4
            junk = rng.randbytes(rng.randrange(1, 300))
            at = rng.randrange(block, starts[k + 1] - 4 - len(junk))
            damaged = data[:at] + junk + data[at:] if kind == "insert" else data[:at] + data[at + len(junk):]
        items, events = read_counting(damaged)
        assert_no_record_inside_another(items)
        lost = [x for x in items if isinstance(x, Drop) and x.reason in FILE_LOSS_REASONS]
        assert lost or events[REPAIRED_LENGTH_EVENT], kind
        assert all(re.search(r"at byte \d+", x.detail) for x in lost), kind
        if kind in ("longer", "shorter") and not any(x.reason == "truncated_file" for x in lost):
            # one bad length costs at most one record, and is named or counted once
            assert len(items) == n_records and len(lost) + events[REPAIRED_LENGTH_EVENT] == 1, kind
        if kind == "longer":
            assert unplaced(items) == unplaced(clean), kind  # the next header ends it: read whole


# ---------------------------------------------------------------------------- real files with made-up lengths

def test_a_response_whose_length_is_short_is_read_to_the_next_header_and_counted():
    """warcio-example-trunc.warc is warcio-example.warc with one response's Content-Length 6 bytes
    short (the last bytes of its gzip body): read to the next header, it is that page, whole."""
    events = Counter()
    trunc = list(read_local_file(os.path.join(EDGE_CASES, "warcio-example-trunc.warc"),
                                 count=lambda n: events.update([n])))
    whole = list(read_local_file(os.path.join(EDGE_CASES, "warcio-example.warc")))
    (doc,) = [x for x in trunc if isinstance(x, Document)]
    (same,) = [x for x in whole if isinstance(x, Document)]
    assert ((doc.url, doc.text, doc.content_length, doc.record_id)
            == (same.url, same.text, same.content_length, same.record_id))
    assert events == {REPAIRED_LENGTH_EVENT: 1}


# TFDS's own C4 test fixture: hand-made WET records whose Content-Length values are made up.
TFDS_C4_WET = os.path.join(EDGE_CASES, "tfds-c4-cc_0.warc.wet.gz")


def reference_split_wet_file(data: bytes):
    """TFDS c4_utils.split_wet_file (v3.1 to 4.9.10), read literally: the gzip file's UTF-8 lines,
    each stripped and blank ones skipped. A line `WARC/1.0` begins a page (the one before it is
    checked: a url, then text, then a timestamp, else counted as filtered); `WARC-Target-URI:` and
    `WARC-Date:` give its url and timestamp; a line beginning `WARC`, `CONTENT-` or `Content-` is
    metadata; any other line is text, the lines joined with "\n". Content-Length is never used
    to frame a page. Returns (pages, counters)."""
    pages, counters = [], Counter()

    def finish(page):
        if not page["url"]:
            counters["filtered:no_url"] += 1
        elif not page["text"]:
            counters["filtered:no_content"] += 1
        elif not page["timestamp"]:
            counters["filtered:no_timestamp"] += 1
        else:
            counters["passed"] += 1
            pages.append(page)

    def new_page():
        return {"url": "", "normalized_url": "", "timestamp": "", "text": ""}

    page = new_page()
    for i, line in enumerate(io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(data)), encoding="utf-8")):
        line = line.strip()
        if not line:
            continue
        if line == "WARC/1.0":
            if i > 0:
                finish(page)
            page = new_page()
        if line.startswith("WARC-Target-URI:"):
            page["url"] = line[len("WARC-Target-URI:"):].strip()
            page["normalized_url"] = reference_normalize_url(page["url"])
        if line.startswith("WARC-Date:"):
            page["timestamp"] = line[len("WARC-Date:"):].strip()
        if line.startswith(("WARC", "CONTENT-", "Content-")):
            continue
        page["text"] = page["text"] + "\n" + line if page["text"] else line
    finish(page)
    return pages, counters


def reference_normalize_url(url: str) -> str:
    """TFDS c4_utils.normalize_url, literally."""
    url = re.sub(r"https?:\/\/(www\.)?", "", url)
    url = re.sub(r"\?(utm_|ref|feed).*", "", url)
    return url.rstrip("/")


def as_reference_text(text: str) -> str:
    """A page's text as the reference's line reader gives it: lines stripped, blank ones gone."""
    return "\n".join(line.strip() for line in re.split(r"\r\n|\r|\n", text) if line.strip())


@pytest.mark.parametrize("gzipped", [True, False])
def test_tfds_c4_fixture_reads_the_pages_the_reference_reads(gzipped):
    """The reference reads 6 pages from its own fixture (its test: passed 6, filtered:no_url 1).
    Every record there has a wrong Content-Length (19621 or 619 for pages of 55 to 1079 bytes),
    and each is followed by the next `WARC/1.0` header or the end of the file: read up to there,
    each is the reference's page, counted as repaired, and none holds another's bytes."""
    data = open(TFDS_C4_WET, "rb").read()
    pages, counters = reference_split_wet_file(data)
    assert counters == {"passed": 6, "filtered:no_url": 1}
    events = Counter()
    items = list(read_crawl_file(io.BytesIO(data if gzipped else gzip.decompress(data)), "cc_0.warc.wet",
                                 count=lambda n: events.update([n])))
    assert outcomes(items) == {"document": 6, "non_document_record": 1}  # the warcinfo: the reference's no_url
    docs = [x for x in items if isinstance(x, Document)]
    assert [(d.url, d.normalized_url, d.timestamp, as_reference_text(d.text)) for d in docs] == \
        [(p["url"], p["normalized_url"], p["timestamp"], p["text"]) for p in pages]
    assert [d.url for d in docs] == ["http://fake.com/url/" + u for u in ("1", "2", "de", "de-786", "und", "und-27")]
    assert docs[0].text.startswith("Once upon a time") and docs[0].text.endswith("a wolf met her.")
    assert not any("WARC" in d.text for d in docs)
    assert events == {REPAIRED_LENGTH_EVENT: 7}  # the warcinfo's length is wrong too
