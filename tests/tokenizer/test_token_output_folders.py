"""Token and tokenizer output folders: never a user's file, never an input (issue 11 items 1, 14)."""
from __future__ import annotations

import os
import shutil

import pytest

from cleancrawl.cli import main
from cleancrawl.tokenizer import token_shards

from disk_faults import fill_disk
from tokenizer_testdata import train_small


def snapshot(folder):
    return {os.path.relpath(os.path.join(d, n), folder): open(os.path.join(d, n), "rb").read()
            for d, _, names in os.walk(folder) for n in names}


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def byte_bpe(tmp_path_factory, corpus_dir):
    return train_small(corpus_dir, str(tmp_path_factory.mktemp("tok") / "byte-bpe"), "byte-bpe")


def test_tokenize_and_train_into_an_input_are_refused(corpus_dir, byte_bpe, tmp_path, capsys):
    corpus = str(tmp_path / "corpus")
    shutil.copytree(corpus_dir, corpus)
    before, tokenizer_before = snapshot(corpus), snapshot(byte_bpe)
    for output in (corpus, os.path.join(corpus, "tokens"), str(tmp_path)):
        assert main(["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus, "--output", output, "--overwrite",
                     "--workers", "1"]) == 2
        one_line_error(capsys, "overlaps the input")
        assert main(["tokenizer", "train", "--corpus", corpus, "--kind", "byte-bpe", "--vocab-size", "1000",
                     "--output", output, "--overwrite"]) == 2
        one_line_error(capsys, "overlaps the input")
    assert main(["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus, "--output", byte_bpe, "--overwrite"]) == 2
    one_line_error(capsys, "overlaps the input")
    assert snapshot(corpus) == before and snapshot(byte_bpe) == tokenizer_before


def test_overwrite_replaces_only_what_the_command_wrote(corpus_dir, byte_bpe, tmp_path, capsys):
    tokens = tmp_path / "tokens"
    args = ["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus_dir, "--output", str(tokens), "--workers", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    one_line_error(capsys, "--overwrite")
    assert main([*args, "--overwrite"]) == 0  # its own earlier output: replaced
    capsys.readouterr()
    (tokens / "notes.txt").write_text("mine\n")
    (tokens / "train" / "keep.npy").write_bytes(b"\x93NUMPY")
    before = snapshot(tokens)
    assert main([*args, "--overwrite"]) == 2
    one_line_error(capsys, "did not write", "nothing was deleted")
    assert snapshot(tokens) == before

    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "vocab-notes.md").write_text("mine\n")
    assert main(["tokenizer", "train", "--corpus", corpus_dir, "--kind", "byte-bpe", "--vocab-size", "1000",
                 "--output", str(tok), "--overwrite"]) == 2
    one_line_error(capsys, "vocab-notes.md", "did not write")
    assert os.listdir(tok) == ["vocab-notes.md"]


def test_disk_full_while_tokenizing_is_one_line_and_leaves_no_temporary_file(corpus_dir, byte_bpe, tmp_path,
                                                                          monkeypatch, capsys):
    fill_disk(monkeypatch, ".tok.tmp-")
    tokens = tmp_path / "tokens"
    assert main(["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus_dir, "--output", str(tokens),
                 "--workers", "1"]) == 2
    one_line_error(capsys, "no space left on device")
    assert not [p for p in snapshot(tokens) if ".tmp-" in p]
    assert not (tokens / token_shards.MANIFEST_NAME).exists()


def test_pretrain_out_inside_its_tokens_is_refused(corpus_dir, byte_bpe, tmp_path, capsys):
    tokens = str(tmp_path / "tokens")
    assert main(["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus_dir, "--output", tokens,
                 "--workers", "1"]) == 0
    capsys.readouterr()
    before = snapshot(tokens)
    for out in (tokens, os.path.join(tokens, "run")):
        assert main(["pretrain", "--tokens", tokens, "--out", out, "--device", "cpu"]) == 2
        one_line_error(capsys, "overlaps the input --tokens")
    assert main(["experiment", "repetition", "--tokens", tokens, "--out", tokens, "--unique-tokens", "1e3"]) == 2
    one_line_error(capsys, "overlaps the input --tokens")
    assert snapshot(tokens) == before


def test_a_second_tokenize_into_a_folder_being_written_is_refused(corpus_dir, byte_bpe, tmp_path, capsys):
    import subprocess
    import sys

    tokens = tmp_path / "tokens"
    tokens.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # a live run's lock (this host, a running process)
        (tokens / "_cleancrawl.lock").write_text(
            '{"run_id": "r", "command": "tokenize", "host": "%s", "pid": %d}'
            % (__import__("socket").gethostname(), holder.pid))
        assert main(["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus_dir, "--output", str(tokens),
                     "--overwrite", "--workers", "1"]) == 2
        one_line_error(capsys, "being written by another run")
    finally:
        holder.kill()
        holder.wait()
    # Its process gone: the lock is stale, replaced, and released at the end.
    assert main(["tokenize", "--tokenizer", byte_bpe, "--corpus", corpus_dir, "--output", str(tokens),
                 "--overwrite", "--workers", "1"]) == 0
    assert sorted(os.listdir(tokens)) == ["manifest.json", "tokenizer", "train", "validation"]
