"""Reading real WARC/WET files into documents, and the files that break readers: every record
accounted for. How a file's bytes are cut into records, and damaged ones named, is tested in
test_warc_framing.py."""
import gzip
import io
import os
import re
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from cleancrawl.corpus.readers import ReaderConfig, read_crawl_file, read_local_file, read_paths_listing
from cleancrawl.corpus.record import Document, Drop

from datapaths import COMMONCRAWL, DATA_DIR, EDGE_CASES, PAGES_WARC, SAMPLE_WET


def outcomes(items):
    return Counter("document" if isinstance(x, Document) else x.reason for x in items)


def test_wet_sample_reads_every_conversion_record():
    items = list(read_local_file(SAMPLE_WET))
    assert len(items) == 323
    assert outcomes(items) == {"document": 322, "too_long": 1}
    doc = next(x for x in items if isinstance(x, Document))
    assert doc.url == "hard::100noticias.com-millones.html"
    assert doc.timestamp == "2024-05-18T00:00:00Z"
    assert doc.record_id.startswith("<urn:uuid:")
    assert doc.text.startswith("Nicaragua cerró 2021 con deuda externa")
    assert doc.content_type == "text/plain" and doc.content_length == 5875


def test_offsets_point_at_the_record():
    docs = [x for x in read_local_file(SAMPLE_WET) if isinstance(x, Document)]
    with open(SAMPLE_WET, "rb") as f:
        for doc in docs[::40]:
            f.seek(doc.source_offset)
            record = next(iter(ArchiveIterator(f)))
            assert record.rec_headers.get_header("WARC-Record-ID") == doc.record_id


def test_warc_responses_are_extracted_with_trafilatura():
    items = list(read_local_file(PAGES_WARC))
    assert outcomes(items) == {"document": 40}
    by_url = {d.url: d for d in items}
    text = by_url["hard::dw.com.colonial.html"].text
    assert text.startswith("The German capital has launched a five-year project")
    assert "<" not in text[:2000]  # no markup left
    # Non-http(s) target URIs still get their HTTP headers parsed.
    assert by_url["hard::dw.com.colonial.html"].content_type.startswith("text/html")


def test_extraction_modes_trade_text_for_speed_and_stay_accounted():
    """fast (no fallbacks) and precision give the same documents and, in all, less text than full."""
    from cleancrawl.corpus.extract import HtmlExtractor

    full = {d.url: d.text for d in read_local_file(PAGES_WARC)}
    for mode, at_least_same in (("fast", 35), ("precision", 20)):
        items = list(read_local_file(PAGES_WARC, ReaderConfig(extraction=mode)))
        assert outcomes(items) == {"document": 40}
        texts = {d.url: d.text for d in items}
        assert texts.keys() == full.keys()
        assert sum(texts[u] == full[u] for u in full) >= at_least_same  # of 40: 38 and 27 with trafilatura 2.3
        assert sum(map(len, texts.values())) < sum(map(len, full.values()))
    with pytest.raises(ValueError, match="extraction mode"):
        HtmlExtractor("everything")


def test_common_crawl_warc_sample_counts_every_record_type():
    items = list(read_local_file(os.path.join(COMMONCRAWL, "CC-MAIN-2020-34-sample.warc.gz")))
    assert len(items) == 50
    assert outcomes(items) == {"document": 16, "non_document_record": 34}
    assert Counter(x.detail for x in items if isinstance(x, Drop)) == {"request": 17, "metadata": 16, "warcinfo": 1}


def test_source_option_picks_the_record_kind():
    path = os.path.join(COMMONCRAWL, "whirlwind.warc.wet.gz")
    assert outcomes(read_local_file(path, ReaderConfig(source="wet")))["document"] == 1
    assert outcomes(read_local_file(path, ReaderConfig(source="warc")))["document"] == 0
    warc = os.path.join(COMMONCRAWL, "whirlwind.warc.gz")
    assert outcomes(read_local_file(warc, ReaderConfig(source="wet")))["document"] == 0
    assert outcomes(read_local_file(warc, ReaderConfig(source="warc")))["document"] == 1


@pytest.mark.parametrize("name,expected", [
    # gzip as one stream for the whole file: read whole, like its plain twin warcio-example.warc
    ("warcio-example-bad-non-chunked.warc.gz", {"non_document_record": 5, "document": 1}),
    # records split across gzip members at odd places: still one valid stream of records
    ("warcio-example-wrong-chunks.warc.gz", {"document": 1, "non_document_record": 1}),
    # one gzip member cut before its end: the file is truncated
    ("resiliparse-clipped.warc.gz", {"truncated_file": 1}),
    # a response whose Content-Length is 6 bytes short (warcio warns and cuts it): the next header
    # ends it unambiguously, so it is read whole, counted as repaired (test_warc_framing.py)
    ("warcio-example-trunc.warc", {"non_document_record": 3, "document": 1}),
    ("warcio-example.arc.gz", {"non_document_record": 1, "document": 1}),
    ("warcio-post-test.warc.gz", {"not_html": 3, "non_document_record": 3}),
    ("jwarc-gzip_extra_sl.warc.gz", {"non_document_record": 1}),
])
def test_edge_case_files_are_accounted_not_crashed(name, expected):
    assert outcomes(read_local_file(os.path.join(EDGE_CASES, name))) == expected


def test_every_edge_case_file_yields_something():
    for name in sorted(os.listdir(EDGE_CASES)):
        items = list(read_local_file(os.path.join(EDGE_CASES, name)))
        assert items, name


def test_not_a_warc_file():
    items = list(read_local_file(os.path.join(COMMONCRAWL, "CC-MAIN-2024-22.warc.paths.gz")))
    assert [(x.stage, x.reason) for x in items] == [("read", "not_warc")]
    items = list(read_crawl_file(io.BytesIO(b"\x89PNG\r\n\x1a\n" + os.urandom(500)), "x.png"))
    assert [x.reason for x in items] == ["not_warc"]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_text_file_is_not_warc_and_its_text_is_never_quoted(gzipped):
    text = open(os.path.join(DATA_DIR, "text", "botchan.txt"), "rb").read()
    items = list(read_crawl_file(io.BytesIO(gzip.compress(text) if gzipped else text), "botchan.warc.gz"))
    assert [(x.stage, x.reason) for x in items] == [("read", "not_warc")]
    first_words = text.split(b"\n")[0].strip().decode()[:20]
    assert first_words and first_words not in items[0].detail
    assert "expected a WARC or WET file" in items[0].detail


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    assert [x.reason for x in read_local_file(str(empty))] == ["empty_file"]
    assert [x.reason for x in read_local_file(str(tmp_path / "missing.warc.gz"))] == ["read_error"]


def _wet_record(writer, url, payload: bytes, date="2024-05-18T00:00:00Z"):
    headers = {"WARC-Date": date, "Content-Type": "text/plain"}
    record = writer.create_warc_record(url, "conversion", payload=io.BytesIO(payload), warc_headers_dict=headers)
    writer.write_record(record)


def _html_response(writer, url, body: bytes, content_type="text/html"):
    http = StatusAndHeaders("200 OK", [("Content-Type", content_type)], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    writer.write_record(record)


def test_broken_utf8_in_wet_is_repaired_and_counted():
    buffer = io.BytesIO()
    _wet_record(WARCWriter(buffer, gzip=True), "http://example.com/",
                "Caf\u00e9 au lait.".encode() + b"\xff\xfe broken")
    events = Counter()
    items = list(read_crawl_file(io.BytesIO(buffer.getvalue()), "bad.wet.gz", count=lambda n: events.update([n])))
    assert len(items) == 1 and isinstance(items[0], Document)
    assert items[0].text.startswith("Café au lait.") and "\ufffd" in items[0].text
    assert events == {"invalid_utf8_repaired": 1}


def test_html_charset_from_meta_and_wrong_header():
    page = "<html><head><meta charset='windows-1251'></head><body><p>{}</p></body></html>"
    text = "Привет, мир. Это обычный текст на русском языке, и его достаточно много. " * 5
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    _html_response(writer, "http://example.ru/a", page.format(text).encode("windows-1251"))
    # A header that names a charset which does not exist: falls back to the meta/guess.
    _html_response(writer, "http://example.ru/b", page.format(text).encode("windows-1251"),
                   "text/html; charset=no-such-charset")
    items = list(read_crawl_file(io.BytesIO(buffer.getvalue()), "ru.warc.gz"))
    assert [type(x) for x in items] == [Document, Document]
    assert all("Привет, мир." in x.text for x in items)


def test_a_meta_charset_utf16_on_utf8_bytes_is_read_as_utf8():
    """`<meta charset="utf-16">` on a page of UTF-8 bytes: browsers read it as UTF-8 (WHATWG: a
    <meta> that could be read byte by byte cannot mean UTF-16). Decoded as UTF-16 it was garbage
    and lost as extraction_failed. A real UTF-16 page (byte order mark) still reads as UTF-16."""
    from cleancrawl.corpus.extract import decode_html

    text = "Les élèves apprennent à lire. Ils écrivent des phrases complètes chaque jour à l’école. " * 5
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for i, charset in enumerate(("utf-16", "UTF-16LE", "utf-16be", "utf-32")):
        page = f"<html><head><meta charset='{charset}'><title>École</title></head><body><p>{text}</p></body></html>"
        _html_response(writer, f"http://example.fr/{i}", page.encode("utf-8"))
    events = Counter()
    items = list(read_crawl_file(io.BytesIO(buffer.getvalue()), "fr.warc.gz", count=lambda n: events.update([n])))
    assert [type(x) for x in items] == [Document] * 4, items
    assert all("Les élèves apprennent à lire." in x.text for x in items) and not events
    page = "<html><head><meta charset='utf-16'></head><body><p>Élève.</p></body></html>"
    assert decode_html(page.encode("utf-16")) == (page, False)  # with its byte order mark
    assert decode_html(page.encode("utf-8"), "text/html; charset=utf-8") == (page, False)


def test_arc_record_ids_are_the_same_every_run():
    """warcio gives an ARC record a random WARC-Record-ID; the reader derives one from the
    record (URL, date, offset), so that an ARC build is byte-identical from run to run."""
    for name in ("warcio-example.arc", "warcio-example.arc.gz"):
        path = os.path.join(EDGE_CASES, name)
        runs = [[x for x in read_local_file(path) if isinstance(x, Document)] for _ in range(2)]
        assert runs[0] == runs[1] and len(runs[0]) == 1
        assert re.fullmatch(r"<urn:uuid:[0-9a-f-]{36}>", runs[0][0].record_id)
    ids = {name: next(x.record_id for x in read_local_file(os.path.join(EDGE_CASES, name)) if isinstance(x, Document))
           for name in ("warcio-example.arc", "warcio-example.arc.gz")}
    assert ids["warcio-example.arc"] != ids["warcio-example.arc.gz"]  # another offset: another record


def test_a_50_mb_page_is_dropped_without_reading_it_all(tmp_path):
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    _wet_record(writer, "http://big.example/", b"word " * 10_000_000)  # 50 MB of text
    _wet_record(writer, "http://small.example/", b"A small page. It has text.")
    _html_response(writer, "http://big.example/html", b"<p>" + b"x" * 50_000_000 + b"</p>")
    items = list(read_crawl_file(io.BytesIO(buffer.getvalue()), "big.warc.gz"))
    assert ([x.reason if isinstance(x, Drop) else "document" for x in items]
            == ["too_long", "document", "html_too_large"])


def test_paths_listing(tmp_path):
    # A real Common Crawl listing of WET paths (the names of this repository's sample's kind).
    listing = gzip.compress(b"crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/"
                            b"CC-MAIN-20240517233122-20240518023122-00000.warc.wet.gz\n"
                            b"crawl-data/CC-MAIN-2024-22/segments/1715971057216.39/wet/"
                            b"CC-MAIN-20240517233122-20240518023122-00001.warc.wet.gz\n")
    paths = read_paths_listing(listing, "s3://commoncrawl")
    raw = gzip.decompress(listing).decode().split()
    assert paths == ["s3://commoncrawl/" + p for p in raw]
    assert read_paths_listing(b"a/b.warc.gz\n\n# comment\nc/d.warc.gz\n") == ["a/b.warc.gz", "c/d.warc.gz"]


def test_paths_listing_that_names_no_crawl_files_is_refused_without_quoting_it():
    """The cc-index listing (Parquet files) is a real Common Crawl listing, but not of crawl files."""
    from cleancrawl.corpus.errors import UserError

    listing = open(os.path.join(COMMONCRAWL, "CC-MAIN-2024-22.warc.paths.gz"), "rb").read()
    first = gzip.decompress(listing).decode().split()[0]
    with pytest.raises(UserError, match="line 1 does not name a WARC/WET/ARC file") as err:
        read_paths_listing(listing, "s3://commoncrawl", name="index.paths.gz")
    assert first not in str(err.value) and "part-00000" not in str(err.value)


def test_pathological_responses_are_counted_not_raised():
    """What real crawls hold: content encodings, exotic charsets, binary bodies, deep markup."""
    import zlib

    html = ("<html><body>" + "<p>This is a sentence of real text that goes on for a while.</p>" * 20
            + "</body></html>").encode()
    cases = [
        ("http://a/gzip", gzip.compress(html), [("Content-Encoding", "gzip")], "document"),
        ("http://a/deflate", zlib.compress(html), [("Content-Encoding", "deflate")], "document"),
        ("http://a/brotli-garbage", b"\x1b\x00garbage", [("Content-Encoding", "br")], None),
        ("http://a/bad-gzip", b"\x1f\x8b\x08\x00garbage", [("Content-Encoding", "gzip")], None),
        ("http://a/shift-jis",
         ("<html><head><meta charset=shift_jis></head><body><p>日本語のテキストです。</p>"
          "</body></html>").encode("shift_jis"), [], "document"),
        ("http://a/utf-16", "<html><body><p>Hello there, this is text.</p></body></html>".encode("utf-16"),
         [("X", "charset=utf-16")], "document"),
        ("http://a/nul-bytes", b"<html>\x00\x00<body>" + b"\x00" * 1000 + b"</body></html>", [], None),
        ("http://a/binary", bytes(range(256)) * 80, [], None),
        ("http://a/deep", b"<div>" * 100_000 + b"text" + b"</div>" * 100_000, [], None),
        ("http://a/empty", b"", [], "empty"),
    ]
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    for url, body, extra, _ in cases:
        content_type = "text/html; charset=utf-16" if url.endswith("utf-16") else "text/html"
        http = StatusAndHeaders("200 OK", [("Content-Type", content_type)] + [h for h in extra if h[0] != "X"],
                                protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    items = list(read_crawl_file(io.BytesIO(buffer.getvalue()), "weird.warc.gz"))
    assert len(items) == len(cases)
    for (url, _, _, expected), item in zip(cases, items):
        outcome = "document" if isinstance(item, Document) else item.reason
        if expected is not None:
            assert outcome == expected, url
        else:  # any named drop is right; what matters is that it is one
            assert isinstance(item, Drop) and item.reason, url
    texts = {x.url: x.text for x in items if isinstance(x, Document)}
    assert texts["http://a/shift-jis"].startswith("日本語のテキストです。")
    assert texts["http://a/gzip"] == texts["http://a/deflate"]


def _corrupt(data: bytes, rng) -> tuple[str, bytes]:
    """One random, seeded corruption of a crawl file: what disks, transfers and writers do."""
    n = len(data)
    i = rng.randrange(n)
    j = min(n, i + rng.randrange(1, 4096))
    kind = rng.choice(["truncate", "flip", "delete", "insert", "zero", "repeat", "splice"])
    if kind == "truncate":
        return kind, data[:i]
    if kind == "flip":
        flipped = bytearray(data)
        for _ in range(rng.randrange(1, 20)):
            flipped[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return kind, bytes(flipped)
    if kind == "delete":
        return kind, data[:i] + data[j:]
    if kind == "insert":
        return kind, data[:i] + rng.randbytes(rng.randrange(1, 500)) + data[i:]
    if kind == "zero":
        return kind, data[:i] + bytes(j - i) + data[j:]
    if kind == "repeat":
        return kind, data[:j] + data[i:j] + data[j:]
    return kind, data[:i] + b"WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 99999\r\n\r\n" + data[i:]


@pytest.mark.parametrize("name", ["CC-MAIN-2022-05-one-page.warc.gz", "CC-MAIN-2020-34-sample.warc.gz",
                                  "whirlwind.warc.wet.gz"])
def test_randomly_corrupted_real_files_never_raise_and_everything_is_named(name):
    """Seeded corruptions of real WARC/WET files, gzipped and plain: the reader never raises, says
    something about every file, gives only documents that Parquet can store, and names each drop."""
    import random

    from cleancrawl.corpus.readers import FILE_ERROR_REASONS, RECORD_DROP_REASONS
    from cleancrawl.corpus.record import documents_to_table

    with open(os.path.join(COMMONCRAWL, name), "rb") as f:
        raw = f.read()
    rng = random.Random(name)
    seen = Counter()
    for label, data in [("gz", raw), ("plain", gzip.decompress(raw))]:
        for _ in range(12):
            kind, broken = _corrupt(data, rng)
            items = list(read_crawl_file(io.BytesIO(broken), f"{label}-{kind}"))
            assert items, (label, kind)
            docs = [x for x in items if isinstance(x, Document)]
            documents_to_table(docs)  # valid UTF-8 everywhere, or this raises
            for drop in (x for x in items if isinstance(x, Drop)):
                assert drop.stage == "read" and drop.reason in RECORD_DROP_REASONS + FILE_ERROR_REASONS, drop
                seen[drop.reason] += 1
                if drop.reason in FILE_ERROR_REASONS:
                    assert drop is items[-1] and drop.detail  # a file error ends the file, with the error
    assert seen["truncated_file"] + seen["truncated_record"] > 0  # the corruptions did hit


def test_every_reason_the_reader_drops_for_is_listed():
    from cleancrawl.corpus import readers, warc_framing

    used = set(re.findall(r'Drop\(STAGE, "([a-z_]+)"', open(readers.__file__, encoding="utf-8").read()))
    damaged = set(re.findall(r'Damage\("([a-z_]+)"', open(warc_framing.__file__, encoding="utf-8").read()))
    assert used | damaged == set(readers.RECORD_DROP_REASONS + readers.FILE_ERROR_REASONS)
    assert damaged == set(readers.DAMAGED_RECORD_REASONS) <= set(readers.RECORD_DROP_REASONS)
    assert readers.FILE_LOSS_REASONS == readers.FILE_ERROR_REASONS + readers.DAMAGED_RECORD_REASONS
    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md"), encoding="utf-8").read()
    read_row = next(line for line in readme.splitlines() if line.startswith("| read |"))
    assert all(f"`{reason}`" in read_row for reason in used | damaged)
