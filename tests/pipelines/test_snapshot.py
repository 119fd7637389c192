"""pipelines/snapshot.py: a snapshot's listing by name, slices and seeded samples of it."""
import gzip
import json
import os

import pytest

from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines import snapshot

from datapaths import COMMONCRAWL, gzip_members


def test_a_snapshot_names_its_listing_under_the_base():
    assert snapshot.listing_path("CC-MAIN-2019-18") == "https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/wet.paths.gz"
    assert snapshot.listing_path("CC-MAIN-2019-18", "warc", "s3://commoncrawl") == \
        "s3://commoncrawl/crawl-data/CC-MAIN-2019-18/warc.paths.gz"
    with pytest.raises(UserError, match="CC-MAIN-YYYY-WW"):
        snapshot.listing_path("2019-18")


def test_slices_and_samples_of_a_real_listing():
    with open(os.path.join(COMMONCRAWL, "CC-MAIN-2024-22.warc.paths.gz"), "rb") as f:
        raw = f.read()
    lines = gzip.decompress(raw).decode().split()
    paths = [f"https://data.commoncrawl.org/{line}" for line in lines]
    assert snapshot.choose(paths, "0:3") == paths[:3]
    assert snapshot.choose(paths, "-2:") == paths[-2:]
    sample = snapshot.choose(paths, None, sample=5, seed=7)
    assert sample == snapshot.choose(paths, None, sample=5, seed=7) != snapshot.choose(paths, None, sample=5, seed=8)
    assert len(sample) == 5 and sample == [p for p in paths if p in sample]  # listing order kept
    assert snapshot.choose(paths, "0:4", sample=10) == paths[:4]  # asking for more than there are: all
    with pytest.raises(UserError, match="START:END"):
        snapshot.choose(paths, "10")
    with pytest.raises(UserError, match="selects none"):
        snapshot.choose(paths, f"{len(paths)}:")


def test_tfds_known_corrupt_file_is_recognised_under_any_base():
    (path,) = snapshot.KNOWN_CORRUPT
    assert snapshot.known_corrupt(path) and snapshot.known_corrupt("https://data.commoncrawl.org/" + path)
    assert not snapshot.known_corrupt("https://data.commoncrawl.org/crawl-data/CC-MAIN-2019-18/other.warc.wet.gz")


# ---------------------------------------------------------------------------- a snapshot over HTTP

CRAWL = "CC-MAIN-2099-01"


@pytest.fixture(scope="module")
def crawl_files():
    """The bundled sample crawl (323 real pages) split into 6 WET files at record boundaries, and
    the snapshot's listing naming them, as data.commoncrawl.org lays them out."""
    from cleancrawl.pipelines.config import SAMPLE_CRAWL

    with open(SAMPLE_CRAWL, "rb") as f:
        members = gzip_members(f.read())
    per = -(-len(members) // 6)
    files = {f"crawl-data/{CRAWL}/segments/1/wet/part-{i}.warc.wet.gz": b"".join(members[i * per:(i + 1) * per])
             for i in range(6)}
    files[f"crawl-data/{CRAWL}/wet.paths.gz"] = gzip.compress("".join(f"{n}\n" for n in files).encode())
    return files


def _rows(out) -> dict:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "train").to_pydict()
    return {k: table[k] for k in ("url", "text", "record_id", "timestamp")}


@pytest.mark.slow
def test_a_snapshot_by_name_over_http_with_faults_equals_the_local_build(crawl_files, tmp_path, monkeypatch, capsys):
    from cleancrawl import http_files
    from cleancrawl.cli import main
    from cleancrawl.http_files import HttpSettings

    from http_faults import Fault, FaultServer

    monkeypatch.setattr(http_files, "settings", HttpSettings(attempts=4, min_wait=0.05, max_wait=5.0,
                                                             connections=4, read_timeout=5.0))
    local = tmp_path / "local"
    for name, data in crawl_files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    parts = [n for n in crawl_files if n.endswith(".warc.wet.gz")]
    assert main(["build", "--input", str(local / f"crawl-data/{CRAWL}/segments/1/wet"), "--output",
                 str(tmp_path / "whole"), "-q"]) == 0
    with FaultServer(crawl_files) as server:
        server.schedule(parts[0], Fault(status=503, retry_after="0"), Fault(status=503))  # busy, politely
        server.schedule(parts[1], Fault(cut_after=20000, reset=False))                    # cut mid-body
        server.schedule(parts[2], Fault(status=429), Fault(trickle=(4096, 0.001)))       # slowed, then slow
        base = server.url("")
        assert main(["build", "--crawl", CRAWL, "--cc-base", base, "--output", str(tmp_path / "http"), "-q"]) == 0
        resumed = [r.headers.get("range") for r in server.requests(parts[1])]
    assert _rows(tmp_path / "http") == _rows(tmp_path / "whole")  # the same rows; source_file names the URL
    assert any(r and r.startswith("bytes=") for r in resumed), resumed  # the cut transfer went on where it stopped
    stats = json.loads((tmp_path / "http" / "stats.json").read_text())
    assert stats["totals"]["files"] == 6 and stats["file_errors"] == []


@pytest.mark.slow
def test_files_and_samples_of_a_snapshot_and_a_run_that_loses_every_file(crawl_files, tmp_path, monkeypatch, capsys):
    from cleancrawl import http_files
    from cleancrawl.cli import main
    from cleancrawl.http_files import HttpSettings

    from http_faults import FaultServer

    monkeypatch.setattr(http_files, "settings", HttpSettings(attempts=2, min_wait=0.05, max_wait=1.0,
                                                             connections=4, read_timeout=5.0))
    with FaultServer(crawl_files) as server:
        base = server.url("")
        assert main(["build", "--crawl", CRAWL, "--cc-base", base, "--files", "1:3", "--output",
                     str(tmp_path / "slice"), "-q"]) == 0
        stats = json.loads((tmp_path / "slice" / "stats.json").read_text())
        assert sorted(stats["files"]) == [base + n for n in list(crawl_files)[1:3]]
        assert main(["build", "--crawl", CRAWL, "--cc-base", base, "--sample", "2", "--sample-seed", "3",
                     "--output", str(tmp_path / "sample"), "-q"]) == 0
        assert len(json.loads((tmp_path / "sample" / "stats.json").read_text())["files"]) == 2
        # a listing whose every file is gone: exit 1, no _SUCCESS (was exit 0 and an empty "finished" corpus)
        listing = tmp_path / "gone.paths"
        listing.write_text("".join(f"{n.replace('part-', 'gone-')}\n" for n in list(crawl_files)[:3]))
        capsys.readouterr()
        assert main(["build", "--input-list", str(listing), "--input-prefix", base, "--output",
                     str(tmp_path / "gone"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 of 3 input files could not be read" in err and "HTTP 404" in err
    assert not (tmp_path / "gone" / "_SUCCESS").exists() and (tmp_path / "gone" / "stats.json").exists()


def test_a_known_corrupt_file_is_skipped_and_counted(tmp_path, monkeypatch):
    from cleancrawl.cli import main
    from cleancrawl.pipelines.config import SAMPLE_CRAWL

    (path,) = snapshot.KNOWN_CORRUPT
    corrupt = tmp_path / path
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"never read")
    assert main(["build", "--input", SAMPLE_CRAWL, "--input", str(corrupt), "--output", str(tmp_path / "out"),
                 "-q", "--strict"]) == 0  # skipped on purpose: not a lost file
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    read = next(step for step in stats["funnel"] if step["stage"] == "read")
    assert read["reasons"][snapshot.KNOWN_CORRUPT_REASON] == 1 and stats["totals"]["balanced"]
