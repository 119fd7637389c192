"""The command line's conventions, through the real `cleancrawl` CLI: --version, a fast start
without torch/Beam/matplotlib, misspelt options refused with a suggestion (Beam's own options
still passed on), -q/-v on every command, library noise hidden unless -v, a progress line for
`build` on a terminal only, and one clear line when trafilatura cannot be imported."""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import pty
import select
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import cleancrawl
from cleancrawl.cli import build_parser, main

from datapaths import DATA_DIR, SAMPLE_WET

HEAVY = ("torch", "apache_beam", "matplotlib", "trafilatura")


def _cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`cleancrawl ARGS` in a fresh interpreter (as the console script runs it)."""
    return subprocess.run([sys.executable, "-m", "cleancrawl", *args], capture_output=True, text=True,
                          timeout=300, **kwargs)


def _imported(*args: str) -> set[str]:
    """Top-level packages a fresh `cleancrawl ARGS` imported (from -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "cleancrawl", *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.fixture(scope="module")
def text_shards(tmp_path_factory):
    """A directory of Parquet shards (url, text) from another tool: real text, one paragraph a row."""
    folder = tmp_path_factory.mktemp("shards")
    with open(os.path.join(DATA_DIR, "text", "botchan.txt"), encoding="utf-8") as f:
        paragraphs = [p.strip() for p in f.read().split("\n\n") if len(p.strip()) > 200][:200]
    urls = [f"https://example.org/botchan/{i}" for i in range(len(paragraphs))]
    pq.write_table(pa.table({"url": urls, "text": paragraphs}), folder / "part-0.parquet")
    return str(folder)


# ---------------------------------------------------------------------------------------------
# --version, start-up


def test_version_comes_from_the_package_metadata():
    done = _cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"cleancrawl {importlib.metadata.version('cleancrawl')}"
    assert cleancrawl.__version__ == importlib.metadata.version("cleancrawl")


@pytest.mark.parametrize("args", [["--help"], ["stats", "--help"], ["build", "--help"], ["tokenize", "--help"]])
def test_help_imports_no_heavy_library(args):
    imported = _imported(*args)
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_stats_runs_without_torch_beam_or_matplotlib(text_shards, tmp_path):
    imported = _imported("stats", text_shards, "--json", str(tmp_path / "stats.json"))
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
    assert (tmp_path / "stats.json").exists()


def test_pretrain_option_names_match_the_models():
    """pretrain/cli.py spells the model names out (no torch to build the parser): they stay equal."""
    from cleancrawl.cli import pretrain as cli
    from cleancrawl.pretrain import objectives

    assert cli.OBJECTIVES == tuple(objectives.OBJECTIVES)
    assert cli.DEFAULT_MODEL == objectives.DEFAULT_MODEL
    assert cli.ALL_MODELS == list(objectives.ALL_MODELS)


# ---------------------------------------------------------------------------------------------
# unknown options


def test_misspelt_build_option_is_refused_with_a_suggestion(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", "--input", SAMPLE_WET, "--output", str(out), "--minhash-treshold", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err == ("cleancrawl build: error: unrecognized arguments: --minhash-treshold 0.5 "
                   "(did you mean --minhash-threshold?)\n")
    assert not out.exists()  # nothing ran with the default threshold


@pytest.mark.parametrize("args, said", [
    (["--direct_num_worker", "2"],
     "unrecognized arguments: --direct_num_worker 2 (did you mean --direct_num_workers?)"),
    (["--runer", "DirectRunner"], "unrecognized arguments: --runer DirectRunner (did you mean --runner?)"),
    (["--runner"], "--runner: expected one argument"),
    (["stray"], "unrecognized arguments: stray\n"),
])
def test_beam_options_are_checked_as_beam_reads_them(tmp_path, capsys, args, said):
    assert main(["build", "--output", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cleancrawl build: error: ") and said in err


@pytest.mark.parametrize("args, said", [
    (["stats", "CORPUS", "--topp", "3"],
     "cleancrawl stats: error: unrecognized arguments: --topp 3 (did you mean --top?)"),
    (["stats", "CORPUS", "--s3_endpoint_ur=http://127.0.0.1:9"],
     "unrecognized arguments: --s3_endpoint_ur=http://127.0.0.1:9 (did you mean --s3_endpoint_url?)"),
    (["reddit-urls", "--output", "OUT", "--min-scores", "3"], "(did you mean --min-score?)"),
    (["experiment", "report", "DIR", "--bogus"], "cleancrawl experiment: error: unrecognized arguments: --bogus\n"),
])
def test_other_commands_refuse_unknown_options_in_one_line(tmp_path, capsys, text_shards, args, said):
    args = [text_shards if a == "CORPUS" else str(tmp_path / a) if a in ("OUT", "DIR") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err, err


@pytest.mark.slow
def test_real_beam_options_still_pass_through(tmp_path, capsys):
    """Values after a space or '=', flags without values, as Beam's own parser reads them."""
    out = tmp_path / "out"
    assert main(["build", "--input", SAMPLE_WET, "--output", str(out), "--dedup", "c4-lines", "-q",
                 "--runner", "DirectRunner", "--direct_num_workers", "1", "--s3_endpoint_url=http://127.0.0.1:9",
                 "--no_direct_runner_use_stacked_bundle", "--job_name", "cleancrawl-test"]) == 0
    assert (out / "_SUCCESS").exists()
    assert capsys.readouterr().out == ""  # -q


# ---------------------------------------------------------------------------------------------
# -q / -v


def test_every_command_takes_quiet_and_verbose():
    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    found = list(parsers(build_parser()))
    # build, dedup, reddit-urls, tokenizer train|eval, tokenize, pretrain, experiment ..., stats
    assert len(found) >= 10
    for parser in found:
        options = {o for a in parser._actions for o in a.option_strings}
        assert {"-q", "--quiet", "-v", "--verbose"} <= options, parser.prog


def test_quiet_before_or_after_the_command(text_shards, capsys):
    for args in (["-q", "stats", text_shards], ["stats", text_shards, "--quiet"]):
        assert main(args) == 0
        assert capsys.readouterr().out == ""
    assert main(["stats", text_shards]) == 0
    assert "documents" in capsys.readouterr().out


def test_quiet_and_verbose_together_are_refused(text_shards):
    done = _cli("-q", "stats", text_shards, "-v")
    assert done.returncode == 2 and "give one or the other" in done.stderr


def _run_on_a_terminal(args: list[str]) -> tuple[int, str, str]:
    """`cleancrawl ARGS` with stderr on a pseudo-terminal: (exit code, stdout, what the terminal showed)."""
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "cleancrawl", *args], stdout=subprocess.PIPE,
                            stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    shown = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    stdout = proc.stdout.read().decode()
    return proc.wait(timeout=60), stdout, shown.decode(errors="replace")


@pytest.mark.slow
def test_build_progress_on_a_terminal_only_and_noise_only_with_verbose(tmp_path):
    # a terminal: the progress line is redrawn in place, then the summary as before
    code, stdout, shown = _run_on_a_terminal(["build", "--input", SAMPLE_WET, "--output", str(tmp_path / "tty")])
    assert code == 0, shown
    assert "\r\x1b[Kbuild: 323 documents read, 1 file(s) done, 51 kept in 1 shard(s)" in shown.replace("\r\n", "\n")
    assert "elapsed" in shown and "read 323 records" in stdout
    assert "apitools" not in shown and "warcio" not in shown

    # not a terminal: no progress, no library noise (the bundled sample has a URL with spaces,
    # which warcio warns about, and Beam logs "apitools not found" without the gcp extra)
    plain = _cli("build", "--input", SAMPLE_WET, "--output", str(tmp_path / "plain"))
    assert plain.returncode == 0
    assert plain.stderr == ""
    assert "read 323 records" in plain.stdout

    # -v: the libraries' warnings are back; -q: nothing on stdout
    loud = _cli("build", "-v", "--input", SAMPLE_WET, "--output", str(tmp_path / "loud"))
    assert loud.returncode == 0
    assert "apitools not found" in loud.stderr
    assert "WARNING:warcio.recordloader:Replacing spaces in invalid WARC-Target-URI" in loud.stderr
    assert "documents read" not in loud.stderr

    code, stdout, shown = _run_on_a_terminal(["build", "-q", "--input", SAMPLE_WET, "--output", str(tmp_path / "q")])
    assert code == 0 and stdout == "" and shown == ""


# ---------------------------------------------------------------------------------------------
# trafilatura


def test_trafilatura_import_failure_is_one_line(tmp_path):
    """As with pip < 24, which skips lxml[html_clean]: lxml.html.clean cannot be imported."""
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['lxml_html_clean'] = None\n"
                               "from cleancrawl.cli import main; sys.exit(main(sys.argv[1:]))",
         "build", "--input", SAMPLE_WET, "--output", str(out)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("cleancrawl build: error: trafilatura cannot be imported (")
    assert "lxml_html_clean" in done.stderr
    assert not out.exists()


def test_unknown_option_without_beam_installed_is_one_line(tmp_path):
    """`python -m cleancrawl.pretrain` on a GPU machine without Beam: refused by cleancrawl's names."""
    code = ("import runpy, sys; sys.modules['apache_beam'] = None; "
            "runpy.run_module('cleancrawl.pretrain', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code, "pretrain", "--tokens", str(tmp_path), "--out",
                           str(tmp_path / "run"), "--modle", "gpt2-tiny"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr == ("python -m cleancrawl.pretrain pretrain: error: unrecognized arguments: "
                           "--modle gpt2-tiny (did you mean --model?)\n")



@pytest.mark.slow
def test_worker_processes_are_quiet_unless_verbose(tmp_path):
    """--workers N: Beam's worker processes print their start-up logs (and their own "apitools
    not found") to the same terminal; without -v nothing of it shows."""
    quiet = _cli("build", "--workers", "2", "--input", SAMPLE_WET, "--output", str(tmp_path / "quiet"))
    assert quiet.returncode == 0 and "read 323 records" in quiet.stdout
    assert quiet.stderr == ""
    loud = _cli("build", "-v", "--workers", "2", "--input", SAMPLE_WET, "--output", str(tmp_path / "loud"))
    assert loud.returncode == 0
    assert loud.stderr.count("apitools not found") >= 2  # the build's and its workers'
    assert "sdk_worker" in loud.stderr
