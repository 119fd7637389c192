"""Side effects under retried bundles: a retry rewrites the same shard with the same bytes and adds
no shard, no temporary file and no stats row.

Runners retry a bundle that failed (Dataflow 4 times in batch, Flink/Spark per task), and may run
one twice; only the outputs of the attempt that succeeds are kept, but its files were written by
every attempt. Beam's BundleBasedDirectRunner retries a failed bundle up to 4 times (the
FnApiRunner behind the default DirectRunner does not retry), so the build runs on it below with
each writing DoFn failing once, right after its files are written.
"""
import hashlib
import json
import os
import pathlib

import pytest

from cleancrawl import layout
from cleancrawl.corpus.dedup import audit
from cleancrawl.corpus.readers import read_local_file
from cleancrawl.corpus.record import Document, sort_key
from cleancrawl.pipelines import accounting, dedup, dropped, write
from cleancrawl.pipelines.build import BuildConfig, run_build
from cleancrawl.pipelines.dropped import DroppedDocument

from datapaths import SAMPLE_WET


def files_and_bytes(out) -> dict[str, str]:
    found = {}
    for root, _, files in os.walk(out):
        for name in files:
            path = os.path.join(root, name)
            found[os.path.relpath(path, out)] = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    return found


def sample_docs(n=40):
    return [d for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)][:n]


def test_a_shard_written_twice_is_the_same_file_with_the_same_bytes(tmp_path):
    docs = sample_docs()
    fn = write._WriteShardFn(str(tmp_path), sort_key)
    packed = [write.pack(d) for d in docs]  # what the write's GroupByKey delivers
    first = list(fn.process((("train", 0, 2), packed)))
    after_first = files_and_bytes(tmp_path)
    # another arrival order
    second = list(write._WriteShardFn(str(tmp_path), sort_key).process((("train", 0, 2), list(reversed(packed)))))
    assert first == second == [("train", 0, 2, len(docs))]
    assert files_and_bytes(tmp_path) == after_first == {
        "train/part-00000-of-00002.parquet": after_first["train/part-00000-of-00002.parquet"]}


def test_dropped_and_duplicate_shards_and_their_gap_fillers_rewrite_the_same_bytes(tmp_path):
    docs = sample_docs(10)
    rows = [DroppedDocument(d, "clean", "too_few_sentences", "") for d in docs]
    records = [audit.duplicate_record(a.url, a.record_id, a.source_file, b.url, b.record_id, 2)
               for a, b in zip(reversed(docs[1:]), reversed(docs[:-1]))]  # not in the shard's order
    fns = [
        (write._WriteShardFn(str(tmp_path), dropped.order, dropped.encode),
         (((dropped.FOLDER, 1, 3), [write.pack(r) for r in reversed(rows)]),)),
        (write._FillGapsFn(str(tmp_path), dropped.FOLDER, dropped.encode),
         (None, [(dropped.FOLDER, 1, 3, len(rows))], {dropped.FOLDER: 3})),
        (dedup._WriteDuplicateShardFn(str(tmp_path)), (((0, 2), records),)),
        (dedup._FillDuplicateShardsFn(str(tmp_path)), (None, [(layout.DUPLICATES_DIR, 0, 2, len(records))], 2)),
    ]
    for fn, args in fns:
        once = list(fn.process(*args))
        files = files_and_bytes(tmp_path)
        assert list(fn.process(*args)) == once
        assert files_and_bytes(tmp_path) == files
    assert sorted(files_and_bytes(tmp_path)) == [
        "dropped/part-00000-of-00003.parquet", "dropped/part-00001-of-00003.parquet",
        "dropped/part-00002-of-00003.parquet", "duplicates/part-00000-of-00002.parquet",
        "duplicates/part-00001-of-00002.parquet"]


def _fail_once(monkeypatch, marks, cls, method):
    """`cls.method` does its work (writes its files, yields its outputs), then fails the bundle on its
    first call only — a worker lost after its side effects, before the runner committed the bundle."""
    original = getattr(cls, method)

    def wrapped(self, *args, **kwargs):
        outputs = list(original(self, *args, **kwargs) or [])
        mark = marks / f"{cls.__qualname__}.{method}"
        if not mark.exists():
            mark.touch()
            raise RuntimeError(f"simulated failure after {cls.__qualname__}.{method}'s side effects")
        return outputs

    monkeypatch.setattr(cls, method, wrapped)


@pytest.mark.slow
def test_a_build_whose_bundles_fail_once_after_writing_gives_the_same_output(tmp_path, monkeypatch):
    once = str(tmp_path / "once")
    run_build(BuildConfig(output=once, keep_dropped=1.0), ["--runner=BundleBasedDirectRunner"])

    marks = tmp_path / "marks"
    marks.mkdir()
    for cls, method in [(write._WriteShardFn, "process"), (write._FinalizeFn, "process"),
                        (dedup._FillDuplicateShardsFn, "process"),  # (the sample has no near-duplicate to write)
                        (write._FillGapsFn, "process"),  # the side folders' gap fillers (dropped/ here)
                        (accounting.StageFn, "finish_bundle")]:  # the tallies of a bundle, for stats.json
        _fail_once(monkeypatch, marks, cls, method)
    retried = str(tmp_path / "retried")
    run_build(BuildConfig(output=retried, keep_dropped=1.0), ["--runner=BundleBasedDirectRunner"])
    assert len(list(marks.iterdir())) == 5  # every one of them failed once and was retried

    a, b = files_and_bytes(once), files_and_bytes(retried)
    assert a.keys() == b.keys()  # no extra shard, no temporary file left behind
    assert ({k: v for k, v in a.items() if k != layout.STATS_FILE}
            == {k: v for k, v in b.items() if k != layout.STATS_FILE})
    stats_once, stats_retried = (json.loads(pathlib.Path(o, layout.STATS_FILE).read_text()) for o in (once, retried))
    for stats in (stats_once, stats_retried):
        stats.pop("finished_at"), stats["config"].pop("output")
    assert stats_retried == stats_once  # a retried bundle's tallies are counted once
