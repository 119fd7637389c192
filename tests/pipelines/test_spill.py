"""Keys-only stages (issue 14): what the shuffles carry, the spill files, the decisions on a real crawl.

The decisions themselves are pinned elsewhere: tests/pipelines/test_golden_outputs.py (the sample
builds, byte for byte, against hashes recorded before this design) and test_dedup.py
(each dedup method against its in-memory reference on planted near-duplicates).
"""
import gzip
import io
import os
import shutil
import subprocess
import sys

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from cleancrawl import layout
from cleancrawl.cli import main as cli_main
from cleancrawl.corpus.dedup import DedupConfig, lines
from cleancrawl.pipelines.accounting import CountingFn
from cleancrawl.pipelines.dedup import _ENTRY_BYTES, _KeeperKeys, _MinHashKeys, _remove_lines, claim_bytes
from cleancrawl.pipelines.spill import SpillWriter, make_ref, read_spill, split_ref
from cleancrawl.pipelines.url_dedup import _UrlKeys, unpack_claims, url_key

from datapaths import SAMPLE_WET


class _Counting(CountingFn):
    stage = "test"


def _fn():
    fn = _Counting()
    fn.start_bundle()
    return fn


def _batch(docs):
    return [(make_ref(7, i), doc) for i, doc in enumerate(docs)]


@pytest.mark.parametrize("partition_bytes", [1, 2])
def test_url_claims_are_small_records_packed_per_partition_and_file(sample_documents, partition_bytes):
    keyed = _UrlKeys(partition_bytes)
    keyed.start_bundle()
    fn = _fn()
    hostile = sample_documents[0].replace(url="https://x.example/" + "ü\udcff" * 40000, record_id="")
    assert list(keyed.keys(_batch([*sample_documents, hostile]), fn)) == []  # packed until the bundle ends
    packed = keyed.finish(fn)
    assert all(len(partition) == partition_bytes for partition, _ in packed)
    assert len(packed) <= min(len(sample_documents), 256 ** partition_bytes)  # one value a partition and file
    claims = [(partition + key, spill_id, claim) for partition, blob in packed
              for key, spill_id, claim in unpack_claims(blob, partition_bytes)]
    assert len(claims) == len(sample_documents) + 1
    by_position = {claim.position: (key, spill_id, claim) for key, spill_id, claim in claims}
    assert by_position[len(sample_documents)][2].url == hostile.url  # longer than a 2-byte length, surrogates kept
    packed = [(p, b) for p, b in packed if hostile.url.encode("utf-8", "surrogatepass") not in b]
    for i, doc in enumerate(sample_documents):
        key, spill_id, claim = by_position[i]
        assert key == url_key(doc.normalized_url) and spill_id == make_ref(7, 0)[:8]
        assert (claim.timestamp, claim.source_file, claim.source_offset, claim.record_id) == (
            doc.timestamp, doc.source_file, doc.source_offset, doc.record_id)
        assert claim.url == ("" if doc.record_id else doc.url)  # a Drop names the kept page by either
    # ~100 bytes a page after each value's header (spill id, file name), never text
    headers = sum(8 + 2 + len(sample_documents[0].source_file.encode()) for _ in packed)
    assert {d.source_file for d in sample_documents} == {sample_documents[0].source_file}
    assert sum(len(blob) for _, blob in packed) - headers < 110 * len(sample_documents)
    text = "".join(d.text for d in sample_documents[:20]).encode()
    assert all(text[:100] not in blob for _, blob in packed)


@pytest.mark.parametrize("partition_bytes", [1, 2])
def test_line_claims_are_fixed_size_records_packed_per_partition(sample_documents, partition_bytes):
    keyed = _KeeperKeys(lines.METHOD, lines.page_line_keys, lambda text, lost: _remove_lines(text, lost, 3),
                        partition_bytes=partition_bytes)
    keyed.start_bundle()
    fn = _fn()
    assert list(keyed.keys(_batch(sample_documents), fn)) == []  # packed until the bundle ends
    packed = keyed.finish(fn)
    claims = sum(len(lines.page_line_keys(d.text)) for d in sample_documents)
    # item (the MD5's 10 bytes after the partition's), the order key's first 4 bytes, position
    assert claim_bytes(partition_bytes) == 10 - partition_bytes + 4 + 4
    assert all(blob[:8] == make_ref(7, 0)[:8] for _, blob in packed)  # each value starts with its spill id
    assert all(len(partition) == partition_bytes for partition, _ in packed)
    assert sum(len(blob) - 8 for _, blob in packed) == claims * claim_bytes(partition_bytes)
    assert len(packed) <= 256 ** partition_bytes and len(packed) < claims  # fewer shuffle elements than claims
    text = "".join(d.text for d in sample_documents[:20]).encode()
    assert all(text[:100] not in blob for _, blob in packed)


def test_minhash_shuffles_band_entries_only(sample_documents):
    keyed = _MinHashKeys(DedupConfig())
    keyed.setup()
    keyed.start_bundle()
    fn = _fn()
    list(keyed.keys(_batch(sample_documents), fn))
    packed = keyed.finish(fn)
    hashed = fn._tallies[("event", "dedup", "minhash:documents_hashed")][0]
    assert all(blob[:8] == make_ref(7, 0)[:8] for _, blob in packed)  # each value starts with its spill id
    assert all((len(blob) - 8) % _ENTRY_BYTES == 0 for _, blob in packed)
    entries = sum((len(blob) - 8) // _ENTRY_BYTES for _, blob in packed)
    assert entries == hashed * DedupConfig().bands
    assert _ENTRY_BYTES == 8 + 4  # bucket, position: the digest and order key only for shared buckets


def test_spill_files_give_back_every_document_exactly(sample_documents, tmp_path):
    docs = [*sample_documents, sample_documents[0].replace(text="lone surrogate \udc80 kept", reddit_score=3,
                                                           subreddits=["a", "b"])]
    writer = SpillWriter(str(tmp_path), "url_dedup")
    positions = [writer.add(doc) for doc in docs]
    writer.close()
    assert positions == list(range(len(docs)))
    assert [doc for _, doc in read_spill(writer.path)] == docs
    assert split_ref(make_ref(writer.id, 300)) == (writer.id, 300)


def _duplicated_crawl(directory) -> list[str]:
    """The sample crawl, plus a second file holding 40 of its pages again with a later date (URL
    duplicates: the copies win) and 40 more under other hosts with one line changed (near
    duplicates for MinHash)."""
    records = []
    with gzip.open(SAMPLE_WET, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "conversion":
                records.append((record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read()))
    os.makedirs(directory)
    shutil.copy(SAMPLE_WET, os.path.join(directory, "a.warc.wet.gz"))
    path = os.path.join(directory, "b.warc.wet.gz")
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for i, (url, payload) in enumerate(records[:80]):
            if i < 40:
                target, text = url, payload
            else:
                target = url.replace("://", "://mirror.", 1)
                text = payload.replace(b".", b" (mirror).", 1)
            writer.write_record(writer.create_warc_record(
                target, "conversion", payload=io.BytesIO(text),
                warc_headers_dict={"WARC-Date": "2024-06-30T00:00:00Z", "Content-Type": "text/plain"}))
    return [os.path.join(directory, "a.warc.wet.gz"), path]


@pytest.mark.slow
def test_a_build_with_duplicates_drops_them_and_leaves_no_spill(tmp_path):
    inputs = _duplicated_crawl(str(tmp_path / "crawl"))
    out = str(tmp_path / "out")
    assert cli_main(["build", "--input", os.path.dirname(inputs[0]), "--output", out, "-q"]) == 0
    stats = layout.read_stats(out)
    assert stats["totals"]["balanced"]
    url_dedup = next(step for step in stats["funnel"] if step["stage"] == "url_dedup")
    assert url_dedup["reasons"] == {"duplicate_url": 40}  # the older copies lose
    assert url_dedup["in"] == url_dedup["out"] + 40
    assert layout.SPILL_DIR not in os.listdir(out)
    # A kept page whose URL came twice is the newer copy, from the second file.
    import pyarrow.parquet as pq

    repeated = {doc.url for doc in read_spill_free_docs(inputs[1])[:40]}
    kept = pq.read_table(os.path.join(out, "train"), columns=["url", "source_file"]).to_pylist()
    sources = {row["source_file"] for row in kept if row["url"] in repeated}
    assert sources and all(s.endswith("b.warc.wet.gz") for s in sources)


def read_spill_free_docs(path):
    from cleancrawl.corpus.readers import read_local_file
    from cleancrawl.corpus.record import Document

    return [d for d in read_local_file(path) if isinstance(d, Document)]


def test_a_crashed_runs_spill_files_are_the_builds_own(tmp_path, capsys):
    out = tmp_path / "out"
    (out / layout.SPILL_DIR).mkdir(parents=True)
    (out / layout.SPILL_DIR / "c4-lines-00000000deadbeef.spill").write_bytes(b"left by a crashed run")
    assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(out), "-q"]) == 2  # existing output
    assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(out), "-q", "--overwrite"]) == 0
    assert layout.SPILL_DIR not in os.listdir(out)
    # A file that is not a spill file, in that folder, is the user's: never deleted.
    (out / layout.SPILL_DIR).mkdir()
    (out / layout.SPILL_DIR / "notes.txt").write_text("mine\n")
    assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(out), "-q", "--overwrite"]) == 2
    assert (out / layout.SPILL_DIR / "notes.txt").read_text() == "mine\n"
    capsys.readouterr()


def test_the_shard_writer_streams_row_groups_with_one_write_tables_bytes(sample_documents, tmp_path):
    """Shards of more than one row group, written 1,024 documents at a time, are byte for byte what
    one `write_table` of the sorted documents gives (the format the golden builds pin)."""
    import random

    from cleancrawl.corpus.record import sort_key
    from cleancrawl.pipelines import write

    rnd = random.Random(3)
    docs = [rnd.choice(sample_documents).replace(
        url=f"https://example.org/{i}", normalized_url=f"example.org/{i}", language=rnd.choice(["en", "de", ""]),
        text=rnd.choice(sample_documents).text[:rnd.randint(0, 6000)]) for i in range(21_500)]
    values = [write.pack(d) for d in docs]
    assert list(write._WriteShardFn(str(tmp_path), sort_key).process((("train", 0, 1), values))) == [
        ("train", 0, 1, len(docs))]
    written = (tmp_path / "train" / "part-00000-of-00001.parquet").read_bytes()
    assert written == write.encode_table(sorted(docs, key=sort_key))


@pytest.mark.slow
def test_a_webtext_build_joins_its_url_table_on_keys_with_the_same_result(sample_documents, tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("".join(d.url + "\n" for d in sample_documents[::3]))
    built = {}
    for join in ("side-input", "cogroup"):
        out = tmp_path / join
        assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(out), "-q", "--dedup", "none",
                         "--select-urls", str(urls), "--select-join", join]) == 0
        assert layout.SPILL_DIR not in os.listdir(out)
        built[join] = {p.name: p.read_bytes() for p in sorted((out / "train").iterdir())}
        stats = layout.read_stats(str(out))
        select = next(step for step in stats["funnel"] if step["stage"] == "select")
        assert select["out"] > 0 and select["reasons"]["not_in_url_list"] > 0
    assert built["cogroup"] == built["side-input"]


def test_a_spill_folder_without_an_output_goes_with_its_process():
    """A stage built on its own (no output folder) spills to a temporary folder: removed at exit."""
    script = "from cleancrawl.pipelines.spill import spill_folder; import os; f = spill_folder(None); " \
             "open(os.path.join(f, 'x.spill'), 'wb').close(); print(f)"
    folder = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    assert folder and not os.path.exists(folder)
