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
