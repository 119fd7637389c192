"""http_files.py: http:// and https:// read as a storage scheme, against a local server with faults.

The server (tests/http_faults.py) serves real crawl bytes (the bundled WET sample, split by gzip
member, and pages-40.warc.gz) on 127.0.0.1 and injects 503s, 429s, resets mid-body, stalls,
trickles, a 404 and a file that changes between two attempts. Waits are shortened by the settings
except where a test measures the real ones (Retry-After, the 1 s between attempts)."""
from __future__ import annotations

import concurrent.futures
import gzip
import io
import random
import socket
import subprocess
import sys
import time
import zlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from cleancrawl import __version__, http_files
from cleancrawl.corpus.errors import UserError
from cleancrawl.http_files import HttpError, HttpFileChanged, HttpRetriesExhausted, HttpSettings, HttpStatusError

from datapaths import PAGES_WARC, SAMPLE_WET
from http_faults import Fault, FaultServer

SEED = 23
WARC = open(PAGES_WARC, "rb").read()
WET = open(SAMPLE_WET, "rb").read()


def _wet_parts(count: int) -> list[bytes]:
    """The WET sample cut at gzip member boundaries into `count` files (each a valid .gz)."""
    ends, offset = [], 0
    while offset < len(WET):
        member, fed = zlib.decompressobj(31), offset
        while not member.eof and fed < len(WET):
            member.decompress(WET[fed:fed + 65536])
            fed += 65536
        offset = min(fed, len(WET)) - len(member.unused_data)
        ends.append(offset)
    cuts = [0] + [ends[len(ends) * (i + 1) // count - 1] for i in range(count)]
    return [WET[a:b] for a, b in zip(cuts, cuts[1:])]


@pytest.fixture
def quick(monkeypatch):
    """Short waits and few attempts (the real ones are measured by their own tests)."""
    fast = HttpSettings(attempts=4, min_wait=0.05, max_wait=5.0, connections=4, read_timeout=5.0)
    monkeypatch.setattr(http_files, "settings", fast)
    return fast


def _read(url: str, size: int = 64 * 1024) -> bytes:
    """Read in small pieces, as a reader does (not one read of everything)."""
    parts = []
    with http_files.open_url(url) as f:
        while piece := f.read(size):
            parts.append(piece)
    return b"".join(parts)


def _retries(before: dict, after: dict) -> dict:
    return {k: v - before["retries"].get(k, 0) for k, v in after["retries"].items() if v != before["retries"].get(k, 0)}


# ---------------------------------------------------------------------------- recoverable faults

RECOVERABLE = {
    "503 with Retry-After": [Fault(status=503, retry_after="0")],
    "503": [Fault(status=503)],
    "429": [Fault(status=429, retry_after="0")],
    "reset mid-body": [Fault(cut_after=random.Random(SEED).randrange(1, len(WARC)))],
    "a close mid-body, a 503 on the resume, a reset": [Fault(cut_after=100_000, reset=False), Fault(status=503),
                                                        Fault(cut_after=5_000)],
    "slow trickle": [Fault(trickle=(8 * 1024, 0.002))],
}


@pytest.mark.parametrize("faults", RECOVERABLE.values(), ids=RECOVERABLE.keys())
def test_every_recoverable_fault_reads_the_file_as_on_disk(quick, faults):
    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", *faults)
        assert _read(server.url("pages-40.warc.gz")) == WARC
        gets = server.requests("pages-40.warc.gz")
    assert len(gets) == sum(f.status is not None or f.cut_after is not None for f in faults) + 1
    for request in gets:  # a resume asks from where the bytes stopped, checked by If-Range
        assert ("range" in request.headers) == ("if-range" in request.headers)


def _schedule(rng: random.Random, size: int, count: int) -> list[Fault]:
    kinds = [lambda: Fault(status=rng.choice([500, 502, 503, 504])),
             lambda: Fault(status=503, retry_after="0"),
             lambda: Fault(status=429),
             lambda: Fault(cut_after=rng.randrange(0, size)),
             lambda: Fault(cut_after=rng.randrange(0, size), reset=False),
             lambda: Fault(trickle=(rng.choice([1024, 4096, 16384]), 0.001), cut_after=rng.randrange(0, 64 * 1024))]
    return [rng.choice(kinds)() for _ in range(count)]


@pytest.mark.parametrize("seed", [SEED, SEED + 1, SEED + 2])
def test_a_seeded_mix_of_faults_still_reads_the_file_as_on_disk(quick, seed):
    quick.attempts = 10
    faults = _schedule(random.Random(seed), len(WARC), 6)
    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", *faults)
        assert _read(server.url("pages-40.warc.gz")) == WARC
        assert len(server.requests("pages-40.warc.gz")) <= 7  # (a late cut may fall past the end)


def test_a_cut_transfer_resumes_at_its_byte_offset(quick):
    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", Fault(cut_after=123_457, reset=False))
        assert _read(server.url("pages-40.warc.gz")) == WARC
        first, second = server.requests("pages-40.warc.gz")
        etag = server.files["pages-40.warc.gz"][1]
    assert "range" not in first.headers and first.sent == 123_457
    assert second.headers["range"] == "bytes=123457-" and second.headers["if-range"] == etag
    assert second.status == 206 and second.sent == len(WARC) - 123_457


def test_a_stall_past_the_read_timeout_is_resumed_at_its_offset(quick):
    quick.read_timeout = 0.3
    before = http_files.stats()
    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", Fault(stall=(200_000, 1.0)))
        assert _read(server.url("pages-40.warc.gz")) == WARC
        first, second = server.requests("pages-40.warc.gz")
    assert _retries(before, http_files.stats()) == {"timeout": 1}
    offset = int(second.headers["range"].split("=")[1].rstrip("-"))
    assert 0 < offset <= 200_000 and second.status == 206


def test_progress_starts_the_failure_count_again(quick):
    quick.attempts = 2  # one failure in a row is allowed: five cuts, each after progress, are fine
    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", *[Fault(cut_after=50_000, reset=False)] * 5)
        assert _read(server.url("pages-40.warc.gz")) == WARC


def test_warc_records_read_over_http_are_those_on_disk(quick):
    from warcio.archiveiterator import ArchiveIterator

    def ids(f):
        return [r.rec_headers.get_header("WARC-Record-ID") for r in ArchiveIterator(f)]

    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", Fault(cut_after=300_000))
        with FileSystems.open(server.url("pages-40.warc.gz"), compression_type=CompressionTypes.UNCOMPRESSED) as f:
            remote = ids(f)
    assert remote == ids(io.BytesIO(WARC)) and len(remote) == 40


# ---------------------------------------------------------------------------- named errors

def test_a_404_is_file_not_found_naming_the_url(quick):
    with FaultServer({}) as server:
        url = server.url("crawl-data/missing.warc.gz")
        with pytest.raises(FileNotFoundError) as raised:
            http_files.open_url(url)
        assert raised.value.filename == url and "404" in str(raised.value)
        assert len(server.log) == 1  # not retried


def test_another_4xx_is_named_and_not_retried(quick):
    with FaultServer({"a": b"x"}) as server:
        server.schedule("a", Fault(status=403))
        with pytest.raises(HttpStatusError, match="HTTP 403 Forbidden") as raised:
            http_files.open_url(server.url("a"))
        assert raised.value.status == 403 and len(server.log) == 1


@pytest.mark.parametrize("fault, cause", [(Fault(status=503), "http_503"), (Fault(cut_after=0), "reset")])
def test_retries_exhausted_names_the_attempts_and_the_last_cause(quick, fault, cause):
    quick.attempts = 3
    with FaultServer({"pages-40.warc.gz": WARC}) as server:
        server.schedule("pages-40.warc.gz", *[fault] * 5)
        url = server.url("pages-40.warc.gz")
        with pytest.raises(HttpRetriesExhausted) as raised:
            _read(url)
        assert len(server.requests("pages-40.warc.gz")) == 3
    said = str(raised.value)
    assert "\n" not in said and f"after 3 attempts (last: {cause})" in said and url in said
    assert isinstance(raised.value, OSError) and raised.value.cause == cause


@pytest.mark.parametrize("honour_if_range", [True, False], ids=["if-range honoured", "if-range ignored"])
def test_a_file_that_changes_between_attempts_is_an_error_never_a_splice(quick, honour_if_range):
    changed = bytearray(WARC)
    changed[400_000:400_010] = b"0123456789"  # same length: only the ETag and Last-Modified tell
    with FaultServer({"pages-40.warc.gz": WARC}, honour_if_range=honour_if_range) as server:
        server.schedule("pages-40.warc.gz", Fault(cut_after=300_000, reset=False), Fault(replace=bytes(changed)))
        got = bytearray()
        with pytest.raises(HttpFileChanged, match="changed between attempts") as raised:
            with http_files.open_url(server.url("pages-40.warc.gz")) as f:
                while piece := f.read(8192):
                    got += piece
    assert "ETag" in str(raised.value) and "\n" not in str(raised.value)
    assert 0 < len(got) <= 300_000 and bytes(got) == WARC[:len(got)]


def test_a_chunked_answer_with_an_etag_is_resumed(quick):
    with FaultServer({"a": WARC}, lengths=False) as server:
        server.schedule("a", Fault(cut_after=200_000, reset=False))
        assert _read(server.url("a")) == WARC
        assert [r.status for r in server.requests("a")] == [200, 206]


def test_no_validator_at_all_is_not_resumed(quick):
    """Without an ETag, a Last-Modified, or a length (chunked), a cut transfer cannot be checked."""
    with FaultServer({"a": WARC, "b": WET}, validators=False, lengths=False) as server:
        assert _read(server.url("b")) == WET  # read whole, it is fine
        server.schedule("a", Fault(cut_after=1000, reset=False))
        with pytest.raises(HttpError, match="no ETag, Last-Modified or length"):
            _read(server.url("a"))


def test_length_alone_is_checked_when_the_server_gives_no_validator(quick):
    with FaultServer({"a": WARC}, validators=False) as server:
        server.schedule("a", Fault(cut_after=1000, reset=False), Fault(replace=WARC + b"more"))
        with pytest.raises(HttpFileChanged, match="length"):
            _read(server.url("a"))


# ---------------------------------------------------------------------------- politeness

def test_a_retry_after_of_two_seconds_is_waited(quick):
    with FaultServer({"a.gz": WET}) as server:
        server.schedule("a.gz", Fault(status=503, retry_after="2"))
        started = time.monotonic()
        assert _read(server.url("a.gz")) == WET
        elapsed = time.monotonic() - started
        first, second = server.requests("a.gz")
    assert second.start - first.start >= 2.0 and elapsed < 5.0


def test_an_http_date_retry_after_is_read():
    now = 1_700_000_000.0
    assert http_files._retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now=now) == 20.0
    assert http_files._retry_after("7") == 7.0
    assert http_files._retry_after("soon") is None and http_files._retry_after(None) is None


def test_at_least_a_second_between_two_attempts_on_one_file_by_default():
    assert http_files.HttpSettings().min_wait == 1.0
    before = http_files.stats()
    with FaultServer({"a.gz": WET}) as server:
        server.schedule("a.gz", Fault(status=503), Fault(status=429))
        assert _read(server.url("a.gz")) == WET
        starts = [r.start for r in server.requests("a.gz")]
    assert len(starts) == 3 and all(b - a >= 1.0 for a, b in zip(starts, starts[1:]))
    assert starts[-1] - starts[0] < 5.0  # 1 s, then at most 2 s (full jitter over 1 s * 2)
    assert _retries(before, http_files.stats()) == {"http_503": 1, "http_429": 1}


def test_the_backoff_grows_with_full_jitter_and_is_capped(monkeypatch):
    monkeypatch.setattr(http_files, "settings", HttpSettings(min_wait=1.0, max_wait=60.0))
    attempts = http_files._Attempts("GET", "http://x/a")
    waits = []
    for failures in range(1, 12):
        attempts.failures = failures
        waits.append(max(attempts.wait() for _ in range(200)))
    assert all(w >= 1.0 for w in waits) and waits[0] == 1.0
    assert waits[4] > 8.0 and max(waits) <= 60.0
    attempts.failures = 1
    assert attempts.wait(retry_after=30) >= 30 and attempts.wait(retry_after=3600) == 60.0


def test_every_request_names_cleancrawl_and_its_version(quick):
    with FaultServer({"a.gz": WET}) as server:
        server.schedule("a.gz", Fault(status=503))
        _read(server.url("a.gz"))
        FileSystems.match([server.url("a.gz")])
        agents = {r.headers.get("user-agent") for r in server.log}
    assert agents == {f"cleancrawl/{__version__} (+https://github.com/cleancrawl/cleancrawl)"}


def test_parallel_reads_hold_at_most_the_configured_connections(quick):
    quick.connections = 2
    parts = _wet_parts(8)
    files = {f"part-{i}.warc.wet.gz": data for i, data in enumerate(parts)}
    with FaultServer(files) as server:
        for name in files:
            server.schedule(name, Fault(trickle=(16 * 1024, 0.01)))
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            got = dict(zip(files, pool.map(_read, [server.url(n) for n in files])))
        most = server.max_active
    assert got == files and b"".join(parts) == WET
    assert most == 2  # reached, never passed


def test_a_thread_that_holds_a_connection_is_not_made_to_wait_for_a_second(quick):
    quick.connections = 1
    with FaultServer({"a": WARC, "b": WET}) as server:
        with http_files.open_url(server.url("a")) as a, http_files.open_url(server.url("b")) as b:
            assert a.read(100) == WARC[:100] and b.read(100) == WET[:100]


def test_reading_the_start_of_a_large_file_does_not_fetch_the_rest(quick):
    big = WET * 30  # ~50 MB
    before = http_files.stats()
    with FaultServer({"big.gz": big}) as server:
        with http_files.open_url(server.url("big.gz")) as f:
            assert f.read(1024) == big[:1024]
        server.wait_done()
        (request,) = server.requests("big.gz")
    assert request.sent < len(big) // 4
    assert http_files.stats()["bytes"] - before["bytes"] <= quick.chunk_size


def test_seeks_read_ranges_so_parquet_reads_as_from_an_object_store(quick, tmp_path):
    table = pa.table({"url": [f"https://example.com/{i}" for i in range(2000)], "n": list(range(2000))})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=500)
    data = (tmp_path / "t.parquet").read_bytes()
    with FaultServer({"t.parquet": data}) as server:
        with FileSystems.open(server.url("t.parquet"), compression_type=CompressionTypes.UNCOMPRESSED) as f:
            assert pq.ParquetFile(f).read().equals(table)
            f.seek(-10, io.SEEK_END)
            assert f.read() == data[-10:]
            f.seek(100)
            assert f.read(50) == data[100:150] and f.tell() == 150
            f.seek(len(data) + 10)
            assert f.read() == b""
        assert any(r.status == 206 for r in server.log)


# ---------------------------------------------------------------------------- through Beam

def test_beam_opens_matches_and_decompresses_http_urls(quick):
    with FaultServer({"sample.warc.wet.gz": WET, "x": WARC}) as server:
        server.schedule("sample.warc.wet.gz", Fault(cut_after=700_000))
        with FileSystems.open(server.url("x")) as f:
            assert f.read() == WARC
        with FileSystems.open(server.url("sample.warc.wet.gz")) as f:  # .gz: decompressed by Beam
            assert f.read() == gzip.decompress(WET)
        server.schedule("x", Fault(method="HEAD", status=503))
        (result,) = FileSystems.match([server.url("x")])  # the HEAD is retried as a GET is
        assert [(m.path, m.size_in_bytes) for m in result.metadata_list] == [(server.url("x"), len(WARC))]
        assert result.metadata_list[0].last_updated_in_seconds == 1_700_000_000.0
        assert FileSystems.match([server.url("gone")])[0].metadata_list == []
        assert FileSystems.exists(server.url("x")) and not FileSystems.exists(server.url("gone"))
        assert FileSystems.checksum(server.url("x")) == server.files["x"][1]
        assert FileSystems.join(server.url("dir/"), "a", "b") == server.url("dir/a/b")
        assert [r.status for r in server.requests("x", "HEAD")][:2] == [503, 200]


def test_http_is_read_only_and_has_no_listing(quick):
    with FaultServer({}) as server:
        url = server.url("out/x.parquet")
        with pytest.raises(OSError, match="read-only"):
            FileSystems.create(url)
        with pytest.raises(OSError, match="read-only"):
            FileSystems.delete([url])
        with pytest.raises(OSError, match="read-only"):
            FileSystems.rename([url], [url + ".2"])
        with pytest.raises(BeamIOError, match="no listing"):
            FileSystems.match([server.url("crawl/*.warc.gz")])
        assert server.log == []


def test_https_urls_go_to_the_same_file_system():
    assert type(FileSystems.get_filesystem("https://data.commoncrawl.org/x")).__name__ == "HttpsFileSystem"
    assert type(FileSystems.get_filesystem("http://data.commoncrawl.org/x")).__name__ == "HttpFileSystem"


def test_a_pipeline_reads_an_http_url_with_beams_own_source(quick):
    import apache_beam as beam
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.testing.util import assert_that, equal_to

    part = _wet_parts(8)[0]
    lines = gzip.decompress(part).decode("utf-8").splitlines()
    with FaultServer({"part.warc.wet.gz": part}) as server:
        server.schedule("part.warc.wet.gz", Fault(cut_after=60_000))
        with beam.Pipeline(runner=FnApiRunner()) as pipeline:  # not Prism: that would download its binary
            read = pipeline | beam.io.ReadFromText(server.url("part.warc.wet.gz")) | beam.combiners.Count.Globally()
            assert_that(read, equal_to([len(lines)]))
        assert [r.status for r in server.requests("part.warc.wet.gz")] == [200, 206]


def test_beams_workers_find_the_schemes_by_the_plugin_path():
    """Dataflow ships every imported FileSystem's path to its workers as --beam_plugins; other
    runners' workers take the option (`--beam_plugins=cleancrawl.http_files`). A fresh process
    knows neither scheme until a worker imports that plugin."""
    from apache_beam.utils.plugin import BeamPlugin

    assert {"cleancrawl.http_files.HttpFileSystem", "cleancrawl.http_files.HttpsFileSystem"} <= \
        set(BeamPlugin.get_all_plugin_paths())
    worker = ("from apache_beam.io.filesystems import FileSystems\n"
              "from apache_beam.runners.worker.sdk_worker_main import _import_beam_plugins\n"
              "def known():\n"
              "    try:\n"
              "        return type(FileSystems.get_filesystem('https://data.commoncrawl.org/x')).__name__\n"
              "    except ValueError:\n"
              "        return None\n"
              "before = known()\n"
              "_import_beam_plugins(['cleancrawl.http_files.HttpFileSystem'])\n"
              "print(before, known())\n")
    done = subprocess.run([sys.executable, "-c", worker], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["None", "HttpsFileSystem"], done.stderr[-2000:]


# ---------------------------------------------------------------------------- settings and stats

def test_settings_come_from_the_environment():
    settings = HttpSettings.from_env({"CLEANCRAWL_HTTP_ATTEMPTS": "3", "CLEANCRAWL_HTTP_MIN_WAIT": "0.5",
                                      "CLEANCRAWL_HTTP_CONNECTIONS": "2", "CLEANCRAWL_HTTP_READ_TIMEOUT": "30"})
    assert (settings.attempts, settings.min_wait, settings.connections, settings.read_timeout) == (3, 0.5, 2, 30.0)
    assert HttpSettings.from_env({}) == HttpSettings()
    with pytest.raises(UserError, match="CLEANCRAWL_HTTP_ATTEMPTS='many': not a number"):
        HttpSettings.from_env({"CLEANCRAWL_HTTP_ATTEMPTS": "many"})
    with pytest.raises(UserError, match="CLEANCRAWL_HTTP_CONNECTIONS=0: must be more than 0"):
        HttpSettings.from_env({"CLEANCRAWL_HTTP_CONNECTIONS": "0"})


def test_stats_count_files_bytes_resumes_and_retries(quick):
    before = http_files.stats()
    with FaultServer({"a": WARC}) as server:
        server.schedule("a", Fault(status=503), Fault(cut_after=10_000))
        _read(server.url("a"))
    after = http_files.stats()
    assert after["files"] - before["files"] == 1 and after["requests"] - before["requests"] == 3
    assert after["bytes"] - before["bytes"] == len(WARC) and after["resumes"] - before["resumes"] == 1
    assert _retries(before, after) == {"http_503": 1, "reset": 1}


def _resolver(monkeypatch, error: int):
    """Name resolution that fails for the host `nowhere.test` with `error` (no lookup leaves this machine)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == "nowhere.test":
            raise socket.gaierror(error, "Name or service not known" if error == socket.EAI_NONAME else
                                  "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_host_the_resolver_does_not_know_fails_at_once(quick, monkeypatch):
    _resolver(monkeypatch, socket.EAI_NONAME)
    before = http_files.stats()
    with pytest.raises(HttpError, match=r"nowhere.test/x: cannot resolve the host \(Name or service not known\)"):
        http_files.open_url("http://nowhere.test/x")
    assert http_files.stats()["requests"] - before["requests"] == 1


def test_a_temporary_resolver_failure_is_retried(quick, monkeypatch):
    _resolver(monkeypatch, socket.EAI_AGAIN)
    quick.attempts = 2
    with pytest.raises(HttpRetriesExhausted, match=r"after 2 attempts \(last: connect\)"):
        http_files.open_url("https://nowhere.test/x")


def test_error_messages_leave_out_a_query_string(quick):
    with FaultServer({}) as server:
        with pytest.raises(FileNotFoundError) as raised:
            http_files.open_url(server.url("a.gz?X-Amz-Signature=secret"))
    assert "secret" not in str(raised.value) and raised.value.filename.endswith("/a.gz?…")
