"""The stage registry (pipelines.stages): one list gives the pipeline, --skip, the funnel and the
report labels; the README's example filter, taken from the README text itself, is one file and one
registry line, and runs through a real build of the sample crawl."""
import glob
import importlib.util
import os
import re
import sys

import pyarrow.parquet as pq
import pytest

from cleancrawl import layout
from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines.build import BuildConfig, run_build
from cleancrawl.pipelines.stages import (
    SKIPPABLE_STAGES, STAGE_NAMES, STAGE_TITLES, STAGES, Stage, resolve_skip, skippable_stages, with_stage,
)

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")


def _readme_block(marker: str) -> str:
    text = open(README, encoding="utf-8").read()
    found = re.search(re.escape(f"<!-- example-filter: {marker}") + r".*?-->\s*```python\n(.*?)```", text, re.S)
    assert found, f"README has no example-filter block {marker!r}"
    return found[1]


@pytest.fixture
def example_stage(monkeypatch):
    """The README's filter file as module cleancrawl.corpus.min_words (in memory only: the
    package folder is not written), and the Stage its registry line makes."""
    source = _readme_block("file")
    assert len(source.strip().splitlines()) <= 25
    spec = importlib.util.spec_from_loader("cleancrawl.corpus.min_words", loader=None)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "cleancrawl.corpus.min_words", module)
    exec(compile(source, "README.md:cleancrawl/corpus/min_words.py", "exec"), module.__dict__)
    namespace = {"Stage": Stage}
    lines = [line.split("  #")[0].strip() for line in _readme_block("registry line").splitlines() if line.strip()]
    imports, entries = [x for x in lines if x.startswith("from ")], [x for x in lines if x.startswith("Stage(")]
    assert len(imports) == 1 and len(entries) == 1  # one import, one registry line
    exec(imports[0], namespace)
    return eval(entries[0].rstrip(","), namespace)


def test_one_list_gives_skip_funnel_order_and_report_labels():
    from cleancrawl.pipelines.config import SKIPPABLE_STAGES as config_skippable
    from cleancrawl.stats import collect, report, samples

    c4 = ["read", "url_dedup", "select", "clean", "dedup", "langid", "badwords"]
    assert [name for name in STAGE_NAMES if name in c4] == c4  # other stages may sit between, in their place
    assert SKIPPABLE_STAGES == config_skippable == tuple(s.name for s in STAGES if s.skippable)
    assert {"url_dedup", "clean", "dedup", "langid", "badwords"} <= set(SKIPPABLE_STAGES)
    assert collect.STAGE_ORDER == samples.STAGE_ORDER == STAGE_NAMES
    assert report.STAGE_LABELS is STAGE_TITLES and report._stage_label("url_dedup") == "URL dedup"
    assert report._stage_label("langid") == "language ID"
    # The CLI's parser needs the names but not Beam: the registry imports none.
    source = open(sys.modules["cleancrawl.pipelines.stages"].__file__, encoding="utf-8").read()
    assert not re.search(r"^(import apache_beam|from apache_beam)", source, re.M)


def test_skip_accepts_the_old_url_dedup_spelling_and_refuses_unknown_names():
    assert resolve_skip(("url-dedup", "clean")) == {"url_dedup", "clean"}
    assert resolve_skip(("url_dedup",)) == {"url_dedup"}
    with pytest.raises(UserError, match=r"--skip: unknown stage\(s\) read, spam; choose from url_dedup, clean"):
        resolve_skip(("spam", "read"))


def test_url_dedup_skipped_by_its_old_name_leaves_the_funnel(tmp_path):
    stats = run_build(BuildConfig(output=str(tmp_path / "o"), skip=("url-dedup",), dedup=_no_dedup()))
    assert [s["stage"] for s in stats["funnel"]] == ["read", "clean", "langid", "badwords"]
    assert stats["config"]["skip"] == ["url-dedup"]  # recorded as given
    assert stats["totals"]["balanced"]


def _no_dedup():
    from cleancrawl.corpus.dedup import DedupConfig

    return DedupConfig(methods=())


def test_stage_names_are_stats_json_keys():
    with pytest.raises(ValueError, match="stats.json key"):
        Stage("Min-Words")
    with pytest.raises(ValueError, match="already registered"):
        with_stage(Stage("clean"), after="read")


def test_readme_example_filter_runs_through_a_real_build(tmp_path, example_stage):
    assert example_stage.name == "min_words" and example_stage.skippable
    assert "min_words" not in STAGE_NAMES  # not in the default build
    with pytest.raises(UserError, match="unknown stage"):
        resolve_skip(("min_words",))
    stages = with_stage(example_stage, after="clean")
    assert "min_words" in skippable_stages(stages) and resolve_skip(("min_words",), stages) == {"min_words"}

    out = str(tmp_path / "o")
    stats = run_build(BuildConfig(output=out, keep_dropped=1.0), stages=stages)
    funnel = {s["stage"]: s for s in stats["funnel"]}
    assert list(funnel) == ["read", "url_dedup", "clean", "min_words", "dedup", "langid", "badwords"]
    row = funnel["min_words"]
    dropped = stats["dropped"]["min_words"]["too_few_words"]["documents"]
    assert row["reasons"] == {"too_few_words": dropped} and row["dropped"] == dropped > 0
    assert row["in"] == funnel["clean"]["out"] and row["out"] == row["in"] - dropped == funnel["dedup"]["in"]
    assert row["bytes_in"] == funnel["clean"]["bytes_out"] and row["bytes_out"] < row["bytes_in"]
    totals = stats["totals"]
    assert totals["read"] == totals["kept"] + totals["dropped"] and totals["balanced"]
    assert all(f["balanced"] for f in stats["files"].values())
    # What it dropped is what the README says: pages of fewer than 50 words (after clean).
    rows = [r for p in glob.glob(os.path.join(out, "dropped", "*.parquet")) for r in pq.read_table(p).to_pylist()]
    mine = [r for r in rows if r["stage"] == "min_words"]
    assert len(mine) == dropped and all(r["reason"] == "too_few_words" for r in mine)
    assert all(len(r["text"].split()) < 50 and r["detail"] == f"{len(r['text'].split())} words" for r in mine)
    kept = [r for p in layout.list_shards(out, "train") + layout.list_shards(out, "validation")
            for r in pq.read_table(p).to_pylist()]
    assert len(kept) == totals["kept"] > 0

    # --skip min_words turns it off again: the funnel is the default build's.
    skipped = run_build(BuildConfig(output=str(tmp_path / "s"), skip=("min_words",), dedup=_no_dedup()), stages=stages)
    assert [s["stage"] for s in skipped["funnel"]] == ["read", "url_dedup", "clean", "langid", "badwords"]
    assert "min_words" not in skipped["dropped"]
