"""Options written once (cleancrawl/options.py): the parsers generated from the config dataclasses
keep every flag, default and conversion of the hand-written ones they replace; every option has
help; `--config FILE` (YAML, TOML, JSON, a stats.json) fills the same fields, the command line wins,
a wrong key or type is one line; a build repeated from its stats.json writes the same bytes."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os

import pytest

from cleancrawl import options
from cleancrawl.cli import build_parser, main
from cleancrawl.corpus.dedup import DedupConfig
from cleancrawl.pipelines.config import BuildConfig
from cleancrawl.pipelines.dedup_config import DedupRunConfig
from cleancrawl.pretrain.config import PretrainConfig, RepetitionConfig
from cleancrawl.selection.reddit import UrlTableConfig
from cleancrawl.selection.reddit_dumps import LinkFilter
from cleancrawl.stats.collect import StatsConfig
from cleancrawl.tokenizer import train as tokenizer_train
from cleancrawl.tokenizer.encode_shards import TokenizeConfig

from datapaths import DATA_DIR, SAMPLE_WET

# Every flag of the hand-written parsers before options.py (git show 3df6ef5^:cleancrawl/cli/…),
# as (flag, takes a value). The generated parsers keep them all, with the same kind of value.
BEFORE = {
    "build": {
        "--input": 1, "--input-list": 1, "--input-prefix": 1, "--output": 1, "--source": 1, "--num-shards": 1,
        "--shard-bytes": 1, "--overwrite": 0, "--strict": 0, "--keep-dropped": "?", "--keep-dropped-seed": 1,
        "--select-urls": 1, "--select-domains": 1, "--select-join": 1, "--side-input-max-urls": 1, "--dedup": 1,
        "--minhash-threshold": 1, "--minhash-bands": 1, "--minhash-rows": 1, "--minhash-num-perm": 1,
        "--minhash-ngram": 1, "--minhash-verify": 1, "--minhash-seed": 1, "--minhash-cc-rounds": 1, "--skip": 1,
        "--max-text-chars": 1, "--max-html-bytes": 1, "--extraction": 1, "--min-words-per-line": 1,
        "--min-sentences": 1, "--max-word-length": 1, "--language": 1, "--min-language-score": 1,
        "--langdetect-seed": 1, "--validation-modulus": 1, "--workers": 1},
    "dedup": {
        "--input": 1, "--output": 1, "--overwrite": 0, "--workers": 1, "--allow-partial": 0, "--num-shards": 1,
        "--shard-bytes": 1, "--validation-modulus": 1, "--text-column": 1, "--url-column": 1, "--id-column": 1,
        "--method": 1, "--dedup": 1, "--min-sentences": 1, "--minhash-threshold": 1, "--minhash-bands": 1,
        "--minhash-rows": 1, "--minhash-num-perm": 1, "--minhash-ngram": 1, "--minhash-verify": 1,
        "--minhash-seed": 1, "--minhash-cc-rounds": 1},
    "reddit-urls": {
        "--submissions": 1, "--url-list": 1, "--output": 1, "--overwrite": 0, "--strict": 0, "--min-score": 1,
        "--keep-self-posts": 0, "--keep-reddit-links": 0, "--keep-media-links": 0, "--drop-over-18": 0,
        "--workers": 1, "--partitions": 1, "--tmp-dir": 1, "--max-skipped-listed": 1},
    "stats": {
        "--json": 1, "--html": 1, "--split": 1, "--workers": 1, "--top": 1, "--tokens": 1, "--beam-metrics": 1,
        "--names": 1, "--allow-partial": 0, "--strict": 0, "--no-progress": 0, "--text-column": 1, "--url-column": 1},
    "tokenizer train": {
        "--corpus": 1, "--kind": 1, "--vocab-size": 1, "--output": 1, "--sample-bytes": 1, "--seed": 1,
        "--no-byte-fallback": 0, "--no-pad": 0, "--unk": 0, "--sentinels": 1, "--character-coverage": 1,
        "--normalization": 1, "--threads": 1, "--overwrite": 0, "--text-column": 1},
    "tokenize": {"--tokenizer": 1, "--corpus": 1, "--output": 1, "--workers": 1, "--batch-size": 1,
                 "--overwrite": 0, "--text-column": 1},
}
_TRAIN = {
    "--tokens": 1, "--out": 1, "--model": 1, "--unique-tokens": 1, "--objective": 1, "--noise-density": 1,
    "--mean-noise-span": 1, "--budget-tokens": 1, "--seq-len": 1, "--positions": 1, "--batch-size": 1,
    "--micro-batch": 1, "--lr": 1, "--min-lr-ratio": 1, "--warmup-steps": 1, "--weight-decay": 1,
    "--grad-clip": 1, "--validation-tokens": 1, "--eval-every": 1, "--log-every": 1, "--checkpoint-every": 1,
    "--seed": 1, "--device": 1, "--dtype": 1, "--compile": 0, "--fsdp": 0, "--peak-flops": 1, "--tokens-cache": 1}
BEFORE["pretrain"] = {**_TRAIN, "--resume": 0, "--stop-after-steps": 1}
BEFORE["experiment repetition"] = _TRAIN

CONFIG_COMMANDS = tuple(BEFORE)


def _commands(parser=None, name=""):
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for key, sub in action.choices.items():
                yield from _commands(sub, f"{name} {key}".strip())
    if name:
        yield name, parser


def _flags(parser) -> dict:
    return {o: a for a in parser._actions for o in a.option_strings}


def _takes(action):
    return "?" if action.nargs == "?" else int(action.nargs != 0)


# ---------------------------------------------------------------------------------------------
# the generated parsers


@pytest.mark.parametrize("command", CONFIG_COMMANDS)
def test_generated_parsers_keep_every_flag_and_its_kind_of_value(command):
    flags = _flags(dict(_commands())[command])
    for flag, takes in BEFORE[command].items():
        assert flag in flags, (command, flag)
        assert _takes(flags[flag]) == takes, (command, flag)
    assert "--config" in flags


def test_every_option_of_every_command_has_help():
    for name, parser in _commands():
        for action in parser._actions:
            if action.option_strings and "--json-summary" not in action.option_strings:
                assert action.help and action.help != argparse.SUPPRESS, (name, action.option_strings)
    help_text = " ".join(dict(_commands())["build"].format_help().split())
    assert "--min-sentences MIN_SENTENCES clean, and c4-lines/c4-spans dedup: drop pages with fewer Punkt " \
           "sentences (default: 3)" in help_text


def _config(cls, command: str, argv: list[str]):
    """The config `command` would run with (the CLI's two parses, without running it)."""
    parser = build_parser()
    args, _ = parser.parse_known_args([*command.split(), *argv])
    if getattr(args, options.CONFIG_DEST, None):
        options.apply_config_file(dict(_commands(parser))[command], getattr(args, options.CONFIG_DEST))
        args, _ = parser.parse_known_args([*command.split(), *argv])
    return options.from_args(cls, args)


def test_defaults_are_the_dataclasses_defaults():
    assert _config(BuildConfig, "build", []) == BuildConfig()
    assert (_config(DedupRunConfig, "dedup", ["--input", "x", "--output", "o"])
            == DedupRunConfig(inputs=["x"], output="o"))
    assert _config(UrlTableConfig, "reddit-urls", ["--output", "o"]) == UrlTableConfig(output="o")
    assert _config(StatsConfig, "stats", ["c"]) == StatsConfig()
    assert _config(TokenizeConfig, "tokenize", ["--tokenizer", "t", "--corpus", "c", "--output", "o"]) == \
        TokenizeConfig(tokenizer="t", corpus="c", output="o")
    assert _config(tokenizer_train.TokenizerTrainConfig, "tokenizer train", ["--corpus", "c", "--output", "o"]) == \
        tokenizer_train.TokenizerTrainConfig(corpus="c", output="o")
    assert _config(PretrainConfig, "pretrain", ["--tokens", "t", "--out", "o"]) == PretrainConfig(tokens="t", out="o")


def test_conversions_keep_their_logic():
    build = _config(BuildConfig, "build", ["--input", "a", "--input", "b", "--skip", "clean, dedup", "--keep-dropped",
                                           "--min-sentences", "4", "--minhash-threshold", "0.7", "--dedup", "none"])
    assert build.inputs == ["a", "b"] and build.skip == ("clean", "dedup") and build.keep_dropped == 1.0
    assert build.clean.min_sentences == build.dedup.min_sentences == 4  # --min-sentences is also C4 dedup's
    assert build.dedup.methods == () and (build.dedup.bands, build.dedup.rows, build.dedup.threshold) == (16, 7, 0.7)
    assert build.dedup == dataclasses.replace(DedupConfig(methods=()).with_threshold(0.7), min_sentences=4)
    one = _config(BuildConfig, "build", ["--minhash-bands", "10"]).dedup
    assert (one.bands, one.rows, one.threshold) == (10, 11, 0.8)  # the other fills --minhash-num-perm
    dedup = _config(DedupRunConfig, "dedup", ["--input", "x", "--output", "o", "--dedup", "minhash,c4-lines",
                                              "--min-sentences", "2", "--id-column", "id"])
    assert dedup.dedup.methods == ("c4-lines", "minhash") and dedup.dedup.min_sentences == 2
    assert dedup.columns.record_id == "id"
    reddit = _config(UrlTableConfig, "reddit-urls", ["--output", "o", "--submissions", "a", "--url-list", "b",
                                                     "--min-score", "5", "--drop-over-18", "--max-skipped-listed", "3"])
    assert (reddit.submissions, reddit.url_lists, reddit.max_listed) == (("a",), ("b",), 3)
    assert reddit.link_filter == LinkFilter(min_score=5, drop_over_18=True)
    stats = _config(StatsConfig, "stats", ["c1", "c2", "--split", "train", "--top", "5", "--tokens", "-",
                                           "--tokens", "t", "--names", "a,b", "--no-progress"])
    assert (stats.splits, stats.top_k, stats.tokens, stats.names, stats.progress) == \
        (("train",), 5, (None, "t"), ("a", "b"), False)
    tok = _config(tokenizer_train.TokenizerTrainConfig, "tokenizer train",
                  ["--corpus", "c", "--output", "o", "--sample-bytes", "0", "--no-pad", "--no-byte-fallback"])
    assert (tok.sample_bytes, tok.pad, tok.byte_fallback) == (None, False, False)
    assert _config(tokenizer_train.TokenizerTrainConfig, "tokenizer train",
                   ["--corpus", "c", "--output", "o", "--sample-bytes", "500M"]).sample_bytes == 500_000_000
    t5 = _config(PretrainConfig, "pretrain", ["--tokens", "t", "--out", "o", "--objective", "span-corruption",
                                           "--budget-tokens", "2e6"])
    assert (t5.model, t5.budget_tokens) == ("t5-tiny", 2_000_000)  # the objective's default model
    sweep = _config(RepetitionConfig, "experiment repetition",
                    ["--tokens", "t", "--out", "o", "--unique-tokens", "2e8,all",
                     "--model", "gpt2-tiny,gpt2-mini", "--lr", "0.01"])
    assert sweep.unique_tokens == (200_000_000, None) and sweep.model_names() == ["gpt2-tiny", "gpt2-mini"]
    assert sweep.train.lr == 0.01


def test_missing_required_options_are_one_line(capsys):
    assert main(["dedup", "--input", "x"]) == 2
    assert capsys.readouterr().err == "cleancrawl dedup: error: the following arguments are required: --output\n"


def test_beam_build_options_carry_the_build_options():
    from apache_beam.options.pipeline_options import PipelineOptions

    from cleancrawl.pipelines.build import BuildOptions

    values = PipelineOptions(["--input", "a", "--min-sentences", "4", "--skip", "clean", "--select-urls", "u"]) \
        .view_as(BuildOptions).get_all_options()
    config = options.from_args(BuildConfig, argparse.Namespace(**values))
    assert (config.inputs, config.clean.min_sentences, config.dedup.min_sentences, config.skip, config.select.urls) == \
        (["a"], 4, 4, ("clean",), "u")


# ---------------------------------------------------------------------------------------------
# --config FILE


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "skip: [langid]\nmin-sentences: 4\ndedup:\n  methods: [minhash]\n  threshold: 0.7\n"
              "select:\n  join: cogroup\n"),
    (".toml", 'skip = ["langid"]\nmin_sentences = 4\n[dedup]\nmethods = ["minhash"]\nthreshold = 0.7\n'
              '[select]\njoin = "cogroup"\n'),
    (".json", json.dumps({"skip": "langid", "min_sentences": 4, "dedup": {"methods": ["minhash"], "threshold": 0.7},
                          "select": {"join": "cogroup"}})),
])
def test_config_file_fills_the_same_fields(tmp_path, suffix, text):
    path = tmp_path / f"build{suffix}"
    path.write_text(text)
    config = _config(BuildConfig, "build", ["--config", str(path)])
    assert config.skip == ("langid",) and config.clean.min_sentences == config.dedup.min_sentences == 4
    assert ((config.dedup.methods, config.dedup.threshold, config.dedup.bands, config.dedup.rows)
            == (("minhash",), 0.7, 16, 7))
    assert config.select.join == "cogroup"
    assert config == _config(BuildConfig, "build", [
        "--skip", "langid", "--min-sentences", "4", "--dedup", "minhash", "--minhash-threshold", "0.7",
        "--select-join", "cogroup"])


# The config section of a build's stats.json before the stages' options were nested groups.
EARLIER_BUILD = {
    "inputs": [], "input_list": None, "input_prefix": "", "output": "cleancrawl-out", "source": "auto", "skip": [],
    "select": {"urls": None, "domains": None, "join": "auto", "side_input_max_urls": 1000000},
    "dedup": {"methods": ["c4-lines", "minhash"], "min_sentences": 3, "span_sentences": 3, "ngram": 5, "num_perm": 112,
              "bands": 14, "rows": 8, "threshold": 0.8, "verify": "exact", "seed": 1, "cc_rounds": 10,
              "all_pairs_bucket": 8},
    "max_text_chars": 190000, "max_html_bytes": 5000000, "extraction": "full", "min_words_per_line": 5,
    "min_sentences": 3, "max_word_length": 1000, "language": "en", "min_language_score": 0.99, "langdetect_seed": 0,
    "decontaminate": [], "decontaminate_ngram": 13, "num_shards": 0, "shard_bytes": 268435456,
    "validation_modulus": 1000, "overwrite": False, "strict": False, "keep_dropped": 0.0, "keep_dropped_seed": 0}


def test_stage_options_are_nested_groups_recorded_and_read_flat_or_nested(tmp_path):
    """A stage's options are its group of BuildConfig (`clean`, `langid`), with the flags they always
    had; stats.json records them flat under those flags' names, as before, and --config reads an
    earlier build's stats.json, today's, or the groups nested."""
    from cleancrawl.corpus.filters import CleanConfig
    from cleancrawl.corpus.language_filter import LanguageConfig

    recorded_now = BuildConfig().to_dict()
    assert {k: v for k, v in recorded_now.items() if k in EARLIER_BUILD} == EARLIER_BUILD  # the same keys, flat
    # how dedup's keys are shuffled (`record=False`) changes no output: a run does not record it
    assert "partition_bytes" not in recorded_now["dedup"]
    assert options.from_dict(BuildConfig, {"dedup": {"partition_bytes": 2}}, "a test").dedup.partition_bytes == 2
    # options added since: a snapshot by name, failed files, pieces, recipes, mC4
    assert set(recorded_now) - set(EARLIER_BUILD) == {
        "crawl", "cc_base", "files", "sample", "sample_seed", "max_failed_files", "piece", "recipe", "per_language",
        "badwords_filter_fraction", "min_paragraphs", "min_paragraph_len", "languages", "min_cld3_probability",
        "min_num_bytes", "max_num_bytes"}
    given = _config(BuildConfig, "build", ["--language", "de", "--min-language-score", "0.5", "--langdetect-seed", "2",
                                           "--min-words-per-line", "4", "--max-word-length", "50",
                                           "--min-sentences", "2"])
    assert given.langid == LanguageConfig("de", 0.5, 2) and given.clean == CleanConfig(4, 2, 50)
    assert given.dedup.min_sentences == 2
    earlier = tmp_path / "earlier.json"
    earlier.write_text(json.dumps({"config": {**EARLIER_BUILD, "language": "de", "min_language_score": 0.5,
                                              "langdetect_seed": 2, "min_words_per_line": 4, "max_word_length": 50,
                                              "min_sentences": 2}}))
    assert _config(BuildConfig, "build", ["--config", str(earlier)]) == given
    recorded = tmp_path / "stats.json"
    recorded.write_text(json.dumps({"config": given.to_dict()}))
    assert _config(BuildConfig, "build", ["--config", str(recorded)]) == given
    nested = tmp_path / "nested.yaml"
    nested.write_text("langid: {target: de, min_score: 0.5, seed: 2}\n"
                      "clean:\n  min_words_per_line: 4\n  max_word_length: 50\n  min_sentences: 2\n")
    assert _config(BuildConfig, "build", ["--config", str(nested)]) == given


def test_command_line_wins_over_the_file(tmp_path):
    path = tmp_path / "build.yaml"
    path.write_text("inputs: [a.wet.gz]\nmin_sentences: 4\noutput: from-file\nstrict: true\n")
    config = _config(BuildConfig, "build", ["--config", str(path), "--min-sentences", "3", "--input", "b.wet.gz"])
    assert config.clean.min_sentences == 3  # given on the command line, even as the default value
    assert config.inputs == ["b.wet.gz"]  # a repeatable option replaces the file's list
    assert (config.output, config.strict) == ("from-file", True)
    # required options may come from the file
    dedup = tmp_path / "dedup.yaml"
    dedup.write_text("inputs: [shards/]\noutput: deduped\ndedup: {methods: [c4-lines]}\ncolumns: {text: body}\n")
    config = _config(DedupRunConfig, "dedup", ["--config", str(dedup)])
    assert (config.inputs, config.output, config.dedup.methods, config.columns.text) == \
        (["shards/"], "deduped", ("c4-lines",), "body")


@pytest.mark.parametrize("text, said", [
    ("dedup:\n  threshhold: 0.7\n", "unknown option 'dedup.threshhold' (did you mean dedup.threshold?)"),
    ("min_sentence: 4\n", "unknown option 'min_sentence' (did you mean min_sentences?)"),
    ("select-urls: u\n", "unknown option 'select_urls' (did you mean select.urls?)"),
    ("min_sentences: four\n", "min_sentences: expected an integer, got 'four'"),
    ("keep_dropped: true\n", "keep_dropped: expected a number, got True"),
    ("skip: 3\n", "skip: expected a list of a string, got 3"),
    ("dedup: minhash\n", "dedup: expected a mapping of its options, got 'minhash'"),
    ("language: 7\n", "language: expected a string, got 7"),
    ("langid: {language: de}\n", "unknown option 'langid.language'"),
    ("dedup: {methods: [bogus]}\n", "unknown dedup method(s) bogus"),
    ("- a\n- b\n", "expected a mapping of option names to values, got list"),
    ("a: [\n", "not valid YAML"),
])
def test_wrong_keys_and_types_are_one_line(tmp_path, capsys, text, said):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["build", "--config", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cleancrawl build: error: ") and said in err, err
    assert not (tmp_path / "out").exists()


def test_a_missing_file_and_another_commands_config_are_refused(tmp_path, capsys):
    assert main(["build", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "--config" in capsys.readouterr().err
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"config": {"command": "dedup", **DedupRunConfig(inputs=["x"], output="o").to_dict()}}))
    assert main(["build", "--config", str(stats)]) == 2
    assert (capsys.readouterr().err
            == f"cleancrawl build: error: --config {stats}: the config of `dedup`, not of `build`\n")


def test_run_records_are_read_back(tmp_path):
    """pretrain's config.json (its config section) and a tokenizer's metadata (training.config)."""
    run = tmp_path / "config.json"
    recorded = PretrainConfig(tokens="tok", out="run", objective="span-corruption", model="t5-mini", lr=0.01)
    run.write_text(json.dumps({"config": recorded.to_dict(), "model_config": {"d_model": 64}}))
    assert _config(PretrainConfig, "pretrain", ["--config", str(run)]) == recorded
    assert _config(PretrainConfig, "pretrain", ["--config", str(run), "--out", "again"]) == \
        dataclasses.replace(recorded, out="again")
    tok = tmp_path / "meta.json"
    trained = tokenizer_train.TokenizerTrainConfig(corpus="c", output="t", kind="byte-bpe", sample_bytes=None,
                                                   pad=False)
    tok.write_text(json.dumps({"kind": "byte-bpe", "file": "tokenizer.json", "vocab_size": 32000,  # as train writes it
                               "training": {"config": dataclasses.asdict(trained), "seconds": 1.0}}))
    assert _config(tokenizer_train.TokenizerTrainConfig, "tokenizer train", ["--config", str(tok)]) == trained


def _hashes(root) -> dict:
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".parquet"):
                path = os.path.join(folder, name)
                found[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return found


def test_a_build_and_a_tokenizer_repeated_from_their_records_are_the_same_bytes(tmp_path, capsys):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["build", "--input", SAMPLE_WET, "--output", str(first), "--skip", "langid",
                 "--minhash-threshold", "0.7", "--min-sentences", "4", "--keep-dropped", "0.5"]) == 0
    assert main(["build", "--config", str(first / "stats.json"), "--output", str(again)]) == 0
    capsys.readouterr()
    assert _hashes(first) and _hashes(again) == _hashes(first)
    recorded = json.loads((first / "stats.json").read_text())["config"]
    repeated = json.loads((again / "stats.json").read_text())["config"]
    assert {**recorded, "output": str(again)} == repeated
    assert recorded["dedup"]["threshold"] == 0.7 and recorded["keep_dropped"] == 0.5
    # a tokenizer trained on it, repeated from its cleancrawl-tokenizer.json: the same file
    tok, tok_again = tmp_path / "tok", tmp_path / "tok-again"
    assert main(["tokenizer", "train", "--corpus", str(first), "--output", str(tok), "--kind", "byte-bpe",
                 "--vocab-size", "600", "--no-pad"]) == 0
    assert main(["tokenizer", "train", "--config", str(tok / "cleancrawl-tokenizer.json"),
                 "--output", str(tok_again)]) == 0
    assert (tok / "tokenizer.json").read_bytes() == (tok_again / "tokenizer.json").read_bytes()
    meta = json.loads((tok_again / "cleancrawl-tokenizer.json").read_text())
    assert meta["training"]["config"]["pad"] is False and meta["kind"] == "byte-bpe"


def test_dedup_and_reddit_urls_repeated_from_their_records(tmp_path, capsys):
    corpus, first, again = tmp_path / "corpus", tmp_path / "first", tmp_path / "again"
    assert main(["build", "--input", SAMPLE_WET, "--output", str(corpus), "--dedup", "none"]) == 0
    assert main(["dedup", "--input", str(corpus), "--output", str(first), "--minhash-threshold", "0.5"]) == 0
    assert main(["dedup", "--config", str(first / "stats.json"), "--output", str(again)]) == 0
    assert _hashes(first) and _hashes(again) == _hashes(first)
    dump = os.path.join(DATA_DIR, "reddit", "RS_v2_2005-06.xz")
    urls, urls_again = tmp_path / "urls", tmp_path / "urls-again"
    assert main(["reddit-urls", "--submissions", dump, "--output", str(urls), "--min-score", "2",
                 "--workers", "1"]) == 0
    assert main(["reddit-urls", "--config", str(urls / "_stats.json"), "--output", str(urls_again)]) == 0
    capsys.readouterr()
    assert _hashes(urls) and _hashes(urls_again) == _hashes(urls)
    assert json.loads((urls_again / "_stats.json").read_text())["config"]["link_filter"]["min_score"] == 2
