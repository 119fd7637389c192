"""Every subcommand ends in one line, never a traceback (cleancrawl/cli/failures.py, issue 21).

The hostile inputs are real files built here: Parquet written by "another tool" (a `content`
column, a binary `text` column), a file named `.parquet` that is not Parquet, YAML that expands
to gigabytes, keys given twice, an output folder below a regular file, eval files that are
binary, blank or too short. Each case asserts the exit code, exactly one line on stderr, no
traceback, and that nothing was written outside (or left in) the output.
"""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl.cli import failures, main as cli_main
from cleancrawl.corpus.errors import UserError

from datapaths import DATA_DIR, SAMPLE_WET

CLI = [sys.executable, "-m", "cleancrawl"]


def run(args, cwd, timeout=240):
    return subprocess.run(CLI + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_line_error(done, code=2) -> str:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    assert "\x1b" not in lines[0] and len(lines[0]) < 800
    return lines[0]


def tree(root) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A real corpus (the sample crawl built), a tokenizer and token shards from it, and the
    hostile files beside them."""
    root = tmp_path_factory.mktemp("hostile")
    assert cli_main(["build", "--input", SAMPLE_WET, "--output", str(root / "c4"), "-q"]) == 0
    assert cli_main(["tokenizer", "train", "--corpus", str(root / "c4"), "--kind", "byte-bpe",
                     "--vocab-size", "600", "--output", str(root / "tok"), "-q"]) == 0
    assert cli_main(["tokenize", "--tokenizer", str(root / "tok"), "--corpus", str(root / "c4"),
                     "--output", str(root / "tokens"), "-q"]) == 0
    texts = pq.read_table(root / "c4" / "train", columns=["text", "url"])
    for name, table in {
        "content": pa.table({"content": texts["text"], "url": texts["url"]}),  # another tool's schema
        "binary": pa.table({"text": pa.array([t.encode() for t in texts["text"].to_pylist()], pa.binary()),
                            "url": texts["url"]}),
    }.items():
        (root / name).mkdir()
        pq.write_table(table, root / name / "part-00000-of-00001.parquet")
    (root / "fake").mkdir()
    (root / "fake" / "part-00000-of-00001.parquet").write_bytes(SAMPLE_BYTES())
    (root / "afile").write_text("a regular file: nothing can be written below it\n")
    (root / "eval.txt").write_text(texts["text"][0].as_py()[:2000] + "\n", encoding="utf-8")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (root / "blank.txt").write_text("\n  \n\n")
    (root / "short.txt").write_text("two words\n")
    return root


def SAMPLE_BYTES() -> bytes:
    with open(SAMPLE_WET, "rb") as f:  # real bytes, not Parquet: a gzipped WET file named .parquet
        return f.read(50_000)


# ---------------------------------------------------------------------------- another tool's Parquet

@pytest.mark.slow
@pytest.mark.parametrize("corpus,said", [
    ("content", "no text column 'text'"),
    ("binary", "column 'text' is binary, not text"),
    ("fake", "not a readable Parquet file"),
])
@pytest.mark.parametrize("command", ["overlap", "dedup", "tokenize", "tokenizer train", "stats"])
def test_a_corpus_another_tool_wrote_is_one_line(hostile, command, corpus, said):
    before = tree(hostile)
    if (command, corpus) == ("stats", "fake"):  # stats inspects: an unreadable shard is a named problem
        done = run(["stats", corpus], hostile)
        assert done.returncode == 0 and "Traceback" not in done.stderr
        assert done.stderr.splitlines() == [f"cleancrawl stats: warning: unreadable shard: {corpus}/part-00000-of-00001"
                                            ".parquet: ArrowInvalid: Parquet magic bytes not found in footer. Either "
                                            "the file is corrupted or this is not a parquet file."]
        assert one_line_error(run(["stats", corpus, "--strict"], hostile), code=1).startswith(
            "cleancrawl stats: warning: unreadable shard:")  # --strict: the same line, exit 1
        assert tree(hostile) == before
        return
    args = {
        "overlap": ["overlap", "--corpus", corpus, "--eval", "eval.txt"],
        "dedup": ["dedup", "--input", corpus, "--output", "out-dedup"],
        "tokenize": ["tokenize", "--tokenizer", "tok", "--corpus", corpus, "--output", "out-tokens"],
        "tokenizer train": ["tokenizer", "train", "--corpus", corpus, "--output", "out-tok", "--vocab-size", "600"],
        "stats": ["stats", corpus],
    }[command]
    line = one_line_error(run(args, hostile))
    assert said in line and corpus in line, line
    if command == "overlap":  # overlap has no --text-column: the line does not send the user to one
        assert "--text-column" not in line
    assert tree(hostile) == before  # no output folder, lock or temporary file left


# ---------------------------------------------------------------------------- outputs that cannot be written

@pytest.mark.slow
@pytest.mark.parametrize("args", [
    ["build", "--input", SAMPLE_WET, "--output", "afile/out"],
    ["dedup", "--input", "c4", "--output", "afile/out"],
    ["tokenizer", "train", "--corpus", "c4", "--output", "afile/out", "--vocab-size", "600"],
    ["tokenize", "--tokenizer", "tok", "--corpus", "c4", "--output", "afile/out"],
    ["tokens", "export", "--tokens", "tokens", "--format", "npy", "--output", "afile/out"],
    ["stats", "c4", "--html", "afile/out"],
    ["overlap", "--corpus", "c4", "--eval", "eval.txt", "--json", "afile/out.json"],
    ["reddit-urls", "--submissions", os.path.join(DATA_DIR, "reddit", "RS_v2_2005-06.xz"), "--output", "afile/out"],
    ["pretrain", "--tokens", "tokens", "--out", "afile/out", "--model", "gpt2-tiny", "--budget-tokens", "2000"],
], ids=lambda a: " ".join(a[:2]))
def test_an_output_that_cannot_be_written_is_one_line(hostile, args):
    before = tree(hostile)
    line = one_line_error(run(args, hostile))
    assert "afile" in line, line
    assert tree(hostile) == before


# ---------------------------------------------------------------------------- eval files

@pytest.mark.slow
@pytest.mark.parametrize("eval_file,said", [
    ("binary.txt", "not UTF-8 text"),
    ("blank.txt", "holds no text"),
    ("short.txt", "no document has 8 words"),
])
def test_eval_files_that_hold_nothing_to_measure_are_one_line(hostile, eval_file, said):
    line = one_line_error(run(["overlap", "--corpus", "c4", "--eval", eval_file], hostile))
    assert said in line and eval_file in line  # was "0.00% of 0 n-grams" for a blank file


@pytest.mark.slow
def test_a_binary_decontaminate_file_is_refused_before_the_build_writes(hostile):
    before = tree(hostile)
    line = one_line_error(run(["build", "--input", SAMPLE_WET, "--output", "out-decon",
                               "--decontaminate", "binary.txt"], hostile, timeout=60))
    assert line.startswith("cleancrawl build: error: --decontaminate binary.txt: not UTF-8 text")
    assert tree(hostile) == before  # no OUT/_spill/, no output folder: found before anything ran


# ---------------------------------------------------------------------------- --config files

BILLION_LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "min_sentences: *i\n"


@pytest.mark.parametrize("name,text,said", [
    ("laughs.yaml", BILLION_LAUGHS, "YAML aliases (*a) are not accepted"),
    ("twice.yaml", "min_sentences: 3\nmin_sentences: 4\n",
     "the key 'min_sentences' is given twice in one mapping (line 2)"),
    ("twice.json", '{"dedup": {"threshold": 0.7, "threshold": 0.8}}', "the key 'threshold' is given twice"),
    ("huge.yaml", "min_sentences: " + "9" * (5 << 20) + "\n", "larger than 4 MiB"),
    ("value.yaml", "min_sentences: " + "x" * 100_000 + "\n", "min_sentences: expected an integer"),
])
def test_config_files_are_read_bounded_and_errors_do_not_echo_values(tmp_path, capsys, name, text, said):
    path = tmp_path / name
    path.write_text(text)
    assert cli_main(["build", "--config", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err and len(err) < 400, err[:500]
    assert not (tmp_path / "out").exists()


def test_a_config_file_with_a_bom_is_read(tmp_path):
    from cleancrawl import options

    path = tmp_path / "excel.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"min_sentences": 4}).encode())
    assert options.load_file(str(path)) == {"min_sentences": 4}
    path = tmp_path / "excel.yaml"
    path.write_bytes(b"\xef\xbb\xbfmin_sentences: 4\n")
    assert options.load_file(str(path)) == {"min_sentences": 4}


# ---------------------------------------------------------------------------- tokenize while the corpus changes

def test_tokenize_while_a_build_rewrites_the_corpus_is_one_line(hostile, tmp_path, monkeypatch, capsys):
    import shutil

    from cleancrawl.tokenizer import encode_shards

    corpus = tmp_path / "c4"
    shutil.copytree(hostile / "c4", corpus)
    shard = sorted((corpus / "train").glob("*.parquet"))[0]
    real = encode_shards._run_jobs

    def rewritten_meanwhile(*args, **kwargs):  # as `build --overwrite` does: a new file under the old name
        results = real(*args, **kwargs)
        os.replace(shutil.copy(shard, tmp_path / "new.parquet"), shard)
        return results

    monkeypatch.setattr(encode_shards, "_run_jobs", rewritten_meanwhile)
    out = tmp_path / "tokens"
    assert cli_main(["tokenize", "--tokenizer", str(hostile / "tok"), "--corpus", str(corpus),
                     "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the corpus changed while it was read" in err and str(shard) in err
    assert not (out / "manifest.json").exists()

    def deleted_meanwhile(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(shard))

    monkeypatch.setattr(encode_shards, "_run_jobs", deleted_meanwhile)
    assert cli_main(["tokenize", "--tokenizer", str(hostile / "tok"), "--corpus", str(corpus), "--output", str(out),
                     "--overwrite"]) == 2
    assert "the corpus changed while it was read" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the one place: describe()

def _raised(make):
    try:
        make()
    except Exception as err:  # noqa: BLE001 — the test hands describe() what a command would end with
        return err


def test_describe_says_each_kind_of_failure_in_one_line():
    import pyarrow as pa

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/checkpoint.pt")
    assert failures.describe(full) == ("/data/out/checkpoint.pt: no space left on device; free space or choose "
                                       "another output (unfinished output has no _SUCCESS)", 2)
    line, code = failures.describe(PermissionError(errno.EACCES, "Permission denied", "/ro/out"))
    assert code == 2 and line.startswith("/ro/out: Permission denied")
    line, code = failures.describe(OSError(errno.EROFS, "Read-only file system", b"/ro/\xffout"))
    assert code == 2 and line.startswith("/ro/\\xffout: Read-only file system")
    assert failures.describe(pa.ArrowInvalid("Parquet magic bytes not found"))[1] == 2
    wrapped = _raised(lambda: _chain(UserError("the corpus changed"), RuntimeError("while running 'X'")))
    assert failures.describe(wrapped) == ("the corpus changed", 2)
    # a Beam worker's exception, known only as the text of its traceback
    text = RuntimeError("Pipeline failed:\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
                        "TypeError: sequence item 0: expected str instance, bytes found [while running 'Spill']")
    assert failures.describe(text) == ("internal error (TypeError: sequence item 0: expected str instance, bytes "
                                       "found); rerun with -v for the traceback", 1)
    escapes = failures.describe(ValueError("\x1b[41mred\x1b[0m " + "x" * 5000))[0]
    assert "\x1b" not in escapes and len(escapes) < 700


def _chain(inner, outer):
    try:
        raise inner
    except Exception as err:
        raise outer from err


def test_an_internal_error_is_one_line_with_exit_1_and_the_traceback_under_v(monkeypatch, capsys):
    from cleancrawl.pipelines import overlap

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(overlap, "run_overlap", broken)
    monkeypatch.setattr(overlap, "overlap_local", broken)
    args = ["overlap", "--corpus", "c", "--eval", "e"]
    assert cli_main(args) == 1
    err = capsys.readouterr().err
    assert err == ("cleancrawl overlap: error: internal error (ZeroDivisionError: division by zero); rerun with -v "
                   "for the traceback\n")
    assert cli_main(args + ["-v"]) == 1
    assert "Traceback (most recent call last)" in capsys.readouterr().err
