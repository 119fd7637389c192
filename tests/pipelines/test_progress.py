"""pipelines/progress.py: the build's one-line progress, summed from each process's counts file."""
import io
import os

from cleancrawl.pipelines import progress


def test_without_a_display_the_counters_do_nothing(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    assert list(progress.counted(iter("abc"))) == ["a", "b", "c"]
    progress.shard_written("train", 5)  # no folder to write to: nothing happens


def test_the_display_sums_what_the_counters_wrote_and_cleans_up(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(progress, "_counts", None)
    with progress.display(enabled=True, stream=stream):
        directory = os.environ[progress.ENV]
        assert list(progress.counted(iter(range(7)))) == list(range(7))
        progress.shard_written("train", 4)
        progress.shard_written("duplicates", 9)  # not kept documents: not counted
    assert progress.ENV not in os.environ and not os.path.exists(directory)
    last = stream.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert last.startswith("build: 7 documents read, 1 file(s) done, 4 kept in 1 shard(s) · 0:0")
    assert last.endswith(" elapsed\n")


def test_render_reads_like_the_readme():
    line = progress.render({"read": 12345, "files": 3, "kept": 100, "shards": 0}, 125.0)
    assert line == "build: 12,345 documents read, 3 file(s) done, 100 kept · 2:05 elapsed"


def test_a_long_pull_logs_a_line_a_while_with_bytes_rate_and_retries(monkeypatch, tmp_path):
    """Not on a terminal: one plain line every `log_every` seconds, with what HTTP fetched and its retries
    (a build over a local server that answers 503 twice and cuts a transfer)."""
    from cleancrawl import http_files
    from cleancrawl.http_files import HttpSettings
    from cleancrawl.pipelines.build import run_build
    from cleancrawl.pipelines.config import BuildConfig

    from datapaths import SAMPLE_WET
    from http_faults import Fault, FaultServer

    monkeypatch.setattr(http_files, "settings", HttpSettings(attempts=4, min_wait=0.3, max_wait=1.0, connections=4,
                                                             read_timeout=5.0))
    monkeypatch.setattr(progress, "_counts", None)
    data = open(SAMPLE_WET, "rb").read()
    stream = io.StringIO()
    with FaultServer({"sample.warc.wet.gz": data}) as server:
        server.schedule("sample.warc.wet.gz", Fault(status=503), Fault(status=503), Fault(cut_after=400_000))
        with progress.display(enabled=True, stream=stream, log_every=0.2):
            run_build(BuildConfig(inputs=[server.url("sample.warc.wet.gz")], output=str(tmp_path / "out")))
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2 and "\r" not in stream.getvalue()  # plain lines, none redrawn
    last = lines[-1]
    assert last.startswith("build: ") and " · fetched " in last and " retries (" in last, last
    assert "http_503 2" in last and " elapsed" in last


def test_render_names_bytes_rate_retries_and_failures():
    totals = {"read": 10, "files": 1, "kept": 2, "shards": 0,
              "http": {"files": 3, "requests": 9, "bytes": 2_500_000_000, "resumes": 1,
                       "retries": {"reset": 1, "http_503": 4}, "failures": {"not_found": 1}}}
    assert progress.render(totals, 61.0, rate=12_345_678) == (
        "build: 10 documents read, 1 file(s) done, 2 kept · fetched 2.5 GB of 3 file(s) at 12.3 MB/s, "
        "5 retries (http_503 4, reset 1), 1 failed · 1:01 elapsed")
