"""The stage registry (pipelines.stages): one list gives the pipeline, --skip, the funnel, the
report labels and the stages' options; the README's example filter with an option, taken from the
README text itself, is one file and one registry line, and runs through a real build of the sample
crawl with its new flag. Every Drop of a build names a registry stage, and a filter dropping under
another stage's name stops the build."""
import argparse
import glob
import importlib.util
import json
import os
import re
import sys

import pyarrow.parquet as pq
import pytest

from cleancrawl import layout, options
from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines.build import BuildConfig, run_build
from cleancrawl.pipelines.config import config_class
from cleancrawl.pipelines.stages import (
    SKIPPABLE_STAGES,
    STAGE_NAMES,
    STAGE_TITLES,
    STAGES,
    Stage,
    resolve_skip,
    skippable_stages,
    with_stage,
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
    from cleancrawl.stats import funnel, samples

    c4 = ["read", "url_dedup", "select", "clean", "dedup", "langid", "badwords"]
    assert [name for name in STAGE_NAMES if name in c4] == c4  # other stages may sit between, in their place
    assert SKIPPABLE_STAGES == config_skippable == tuple(s.name for s in STAGES if s.skippable)
    assert {"url_dedup", "clean", "dedup", "langid", "badwords"} <= set(SKIPPABLE_STAGES)
    assert funnel.STAGE_ORDER == samples.STAGE_ORDER == STAGE_NAMES
    assert funnel.STAGE_LABELS is STAGE_TITLES and funnel.stage_label("url_dedup") == "URL dedup"
    assert funnel.stage_label("langid") == "language ID"
    # The CLI's parser needs the names but not Beam: the registry imports none.
    source = open(sys.modules["cleancrawl.pipelines.stages"].__file__, encoding="utf-8").read()
    assert not re.search(r"^(import apache_beam|from apache_beam)", source, re.M)


def test_skip_accepts_the_old_url_dedup_spelling_and_refuses_unknown_names():
    assert resolve_skip(("url-dedup", "clean")) == {"url_dedup", "clean"}
    assert resolve_skip(("url_dedup",)) == {"url_dedup"}
    with pytest.raises(UserError,
                       match=r"--skip: unknown stage\(s\) read, spam; choose from url_dedup, paragraph_filter, clean"):
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


def _parser(cls) -> argparse.ArgumentParser:
    """The options of `cleancrawl build` for config class `cls` (as cli/build.py makes them)."""
    parser = argparse.ArgumentParser(prog="cleancrawl build")
    options.add_arguments(parser, cls)
    return parser


def test_readme_example_filter_runs_through_a_real_build(tmp_path, example_stage):
    assert example_stage.name == "min_words" and example_stage.skippable
    assert "min_words" not in STAGE_NAMES  # not in the default build
    assert not hasattr(BuildConfig(), "min_words") and "--min-words" not in _parser(BuildConfig)._option_string_actions
    with pytest.raises(UserError, match="unknown stage"):
        resolve_skip(("min_words",))
    stages = with_stage(example_stage, after="clean")
    assert "min_words" in skippable_stages(stages) and resolve_skip(("min_words",), stages) == {"min_words"}

    # Its option is a flag of the build, with the help its field declares, and a field of the config.
    cls = config_class(stages)
    parser = _parser(cls)
    assert ("--min-words MIN_WORDS min_words: drop pages of fewer words (default: 50)"
            in " ".join(parser.format_help().split()))
    out = str(tmp_path / "o")
    config = options.from_args(cls, parser.parse_args(["--output", out, "--keep-dropped", "--min-words", "80"]))
    assert config.min_words == example_stage.config(min_words=80) and cls().min_words.min_words == 50
    assert config.clean == BuildConfig().clean and config.langid == BuildConfig().langid

    stats = run_build(config, stages=stages)
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
    # What it dropped is what the README says: pages of fewer than --min-words 80 words (after clean).
    rows = [r for p in glob.glob(os.path.join(out, "dropped", "*.parquet")) for r in pq.read_table(p).to_pylist()]
    mine = [r for r in rows if r["stage"] == "min_words"]
    assert len(mine) == dropped and all(r["reason"] == "too_few_words" for r in mine)
    assert all(len(r["text"].split()) < 80 and r["detail"] == f"{len(r['text'].split())} words" for r in mine)
    assert any(len(r["text"].split()) >= 50 for r in mine)  # the option, not the default, decided
    kept = [r for p in layout.list_shards(out, "train") + layout.list_shards(out, "validation")
            for r in pq.read_table(p).to_pylist()]
    assert len(kept) == totals["kept"] > 0

    # stats.json records the option as a flat key, and --config reads the run back: the same config.
    assert stats["config"]["min_words"] == 80
    again = _parser(cls)
    options.apply_config_file(again, os.path.join(out, "stats.json"))
    assert options.from_args(cls, again.parse_args([])) == config
    with open(tmp_path / "nested.json", "w") as f:
        json.dump({"min_words": {"min_words": 60}}, f)  # or nested, under the stage's name
    options.apply_config_file(again, str(tmp_path / "nested.json"))
    assert options.from_args(cls, again.parse_args([])).min_words.min_words == 60

    # --skip min_words turns it off again: the funnel is the default build's.
    skipped = run_build(BuildConfig(output=str(tmp_path / "s"), skip=("min_words",), dedup=_no_dedup()), stages=stages)
    assert [s["stage"] for s in skipped["funnel"]] == ["read", "url_dedup", "clean", "langid", "badwords"]
    assert "min_words" not in skipped["dropped"]


class _DropsAs:
    """A filter that drops every page, naming stage `stage` ("" : the runner's)."""

    def __init__(self, stage: str = ""):
        self.stage = stage

    def __call__(self, doc):
        return doc.drop("unwanted", stage=self.stage)


def _named_clean(config):  # a Beam stage whose DoFn counts its drops as "clean"
    from cleancrawl.pipelines.accounting import ApplyStage

    return ApplyStage(_DropsAs, "clean")


@pytest.mark.parametrize("stage", [
    Stage("liar", filter=lambda config: _DropsAs("clean")),  # a filter naming another stage
    Stage("liar", build=_named_clean),                        # a Beam stage whose drops name another
], ids=["filter", "build"])
def test_a_drop_naming_another_stage_stops_the_build(tmp_path, stage):
    stages = with_stage(stage, after="clean")
    with pytest.raises(Exception, match="stage 'liar' returned a Drop of stage 'clean'"):
        run_build(BuildConfig(output=str(tmp_path / "o"), dedup=_no_dedup()), stages=stages)
    assert not os.path.exists(tmp_path / "o" / "_SUCCESS")


def test_every_drop_of_a_build_names_a_registry_stage(tmp_path, sample_documents):
    """Every stage that drops runs (all dedup methods, decontamination): each Drop is stamped with
    its stage's registry name, and only registry names reach stats.json and OUT/dropped/."""
    from cleancrawl.corpus.dedup import METHODS, DedupConfig

    evals = tmp_path / "eval.txt"
    evals.write_text("\n".join(" ".join(d.text.split()) for d in sample_documents[::15]), encoding="utf-8")
    out = str(tmp_path / "o")
    stats = run_build(BuildConfig(output=out, keep_dropped=1.0, dedup=DedupConfig(methods=METHODS),
                                  decontaminate=[str(evals)]))
    funnel = [s["stage"] for s in stats["funnel"]]
    assert funnel == [name for name in STAGE_NAMES if name not in ("select", "paragraph_filter", "cld3_langid")]
    assert set(stats["dropped"]) == {s["stage"] for s in stats["funnel"] if s["dropped"]}
    assert {"read", "clean", "dedup", "langid", "decontaminate", "badwords"} <= set(stats["dropped"])
    rows = [r for p in glob.glob(os.path.join(out, "dropped", "*.parquet")) for r in pq.read_table(p).to_pylist()]
    assert rows and {r["stage"] for r in rows} <= set(funnel) - {"read"}
    assert stats["totals"]["balanced"]


def test_the_config_of_another_registry_travels_to_workers(example_stage):
    """Beam pickles the build config into the workers' DoFns: the class `config_class` made is
    rebuilt from the stages' groups there, and the class here stays whole."""
    import dataclasses

    from apache_beam.internal import pickler

    cls = config_class(with_stage(example_stage, after="clean"))
    assert cls is config_class(with_stage(example_stage, after="clean")) and config_class() is BuildConfig
    config = cls(output="o", min_words=example_stage.config(80))
    again = pickler.loads(pickler.dumps(config))
    assert again == config and type(again) is cls
    assert [f.name for f in dataclasses.fields(cls)][-4:-1] == ["clean", "min_words", "langid"]
    assert "--min-words" in _parser(cls)._option_string_actions
    with pytest.raises(ValueError, match="would replace the build's option 'output'"):
        config_class((*STAGES, Stage("output", filter=example_stage.filter, config=example_stage.config)))
