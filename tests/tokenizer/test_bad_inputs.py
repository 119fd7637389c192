"""Bad tokenizer inputs get one line and exit 2, never a traceback: a tokenizer file that was damaged
or changed after training, a corpus with no text or too little for the vocabulary (and then nothing
is left behind), and token directories whose manifest names a missing or damaged shard.

Everything starts from the real corpus and tokenizers of conftest.py, copied and damaged here.
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from cleancrawl.cli import main
from cleancrawl.tokenizer.token_shards import HEADER_SIZE, TokenShard, read_manifest

from tokenizer_testdata import KINDS, botchan_chapters, write_corpus

FILES = {"byte-bpe": "tokenizer.json", "sentencepiece-unigram": "tokenizer.model",
         "sentencepiece-bpe": "tokenizer.model"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *needles: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def truncate(path: str, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


# ---------------------------------------------------------------------------------------------
# Damaged or changed tokenizer files


@pytest.mark.parametrize("kind", ["byte-bpe", "sentencepiece-unigram"])
def test_a_truncated_tokenizer_is_refused_by_its_checksum(trained, corpus_dir, tmp_path, capsys, kind):
    tok = shutil.copytree(trained[kind], str(tmp_path / "tok"))
    path = os.path.join(tok, FILES[kind])
    truncate(path, os.path.getsize(path) // 2)
    output = str(tmp_path / "tokens")
    code, _, err = run(capsys, "tokenize", "--tokenizer", tok, "--corpus", corpus_dir, "--output", output,
                       "--workers", "1")
    assert code == 2
    assert_one_line(err, path, "is not the", "recorded in", "changed or damaged after training")
    assert not os.path.exists(output)
    code, _, err = run(capsys, "tokenizer", "eval", "--tokenizer", tok, "--corpus", corpus_dir)
    assert code == 2
    assert_one_line(err, path, "changed or damaged after training")


def test_an_edited_tokenizer_json_is_refused(trained, corpus_dir, tmp_path, capsys):
    """Still a valid tokenizer, but not the one the metadata (and any token shards) name."""
    tok = shutil.copytree(trained["byte-bpe"], str(tmp_path / "tok"))
    path = os.path.join(tok, "tokenizer.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    merges = data["model"]["merges"]
    merges[0], merges[1] = merges[1], merges[0]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    code, _, err = run(capsys, "tokenize", "--tokenizer", tok, "--corpus", corpus_dir,
                       "--output", str(tmp_path / "tokens"))
    assert code == 2
    assert_one_line(err, path, "sha256")


@pytest.mark.parametrize("kind", ["byte-bpe", "sentencepiece-bpe"])
@pytest.mark.parametrize("damage", ["truncated", "zero-byte"])
def test_a_bare_damaged_tokenizer_file_is_refused(trained, corpus_dir, tmp_path, capsys, kind, damage):
    """A tokenizer file without metadata beside it (as from elsewhere): refused when unparsable."""
    path = shutil.copy(os.path.join(trained[kind], FILES[kind]), str(tmp_path / FILES[kind]))
    truncate(path, 0 if damage == "zero-byte" else os.path.getsize(path) // 2)
    expected = "empty file (0 bytes)" if damage == "zero-byte" else "truncated or corrupt"
    code, _, err = run(capsys, "tokenizer", "eval", "--tokenizer", path, "--corpus", corpus_dir)
    assert code == 2
    assert_one_line(err, path, expected)
    code, _, err = run(capsys, "tokenize", "--tokenizer", path, "--corpus", corpus_dir,
                       "--output", str(tmp_path / "tokens"))
    assert code == 2
    assert_one_line(err, path, expected)


def test_damaged_tokenizer_metadata_is_refused(trained, corpus_dir, tmp_path, capsys):
    tok = shutil.copytree(trained["sentencepiece-unigram"], str(tmp_path / "tok"))
    meta = os.path.join(tok, "cleancrawl-tokenizer.json")
    truncate(meta, 40)
    code, _, err = run(capsys, "tokenizer", "eval", "--tokenizer", tok, "--corpus", corpus_dir)
    assert code == 2
    assert_one_line(err, meta, "unreadable tokenizer metadata")


# ---------------------------------------------------------------------------------------------
# Training on no text, or too little


@pytest.fixture(scope="module")
def empty_corpus(tmp_path_factory, pages) -> str:
    """A finished build whose train split kept no page (the validation split has some)."""
    return write_corpus(str(tmp_path_factory.mktemp("empty")), {"train": [[]], "validation": [pages[:5]]})


@pytest.fixture(scope="module")
def one_chapter(tmp_path_factory) -> str:
    """About 2 KB of Botchan: too little text for a vocabulary of 2,000."""
    return write_corpus(str(tmp_path_factory.mktemp("small")),
                        {"train": [[("botchan#0", botchan_chapters()[0])]], "validation": [[]]})


@pytest.mark.parametrize("kind", KINDS)
def test_no_documents_is_refused_and_leaves_nothing(empty_corpus, tmp_path, capsys, kind):
    output = str(tmp_path / "tok")
    code, _, err = run(capsys, "tokenizer", "train", "--corpus", empty_corpus, "--kind", kind,
                       "--vocab-size", "1000", "--output", output)
    assert code == 2
    assert_one_line(err, empty_corpus, "no documents to train on")
    assert not os.path.exists(output)
    # ...and so `tokenize` has no tokenizer to accept.
    code, _, err = run(capsys, "tokenize", "--tokenizer", output, "--corpus", empty_corpus,
                       "--output", str(tmp_path / "tokens"))
    assert code == 2 and "no such tokenizer" in err


@pytest.mark.parametrize("kind", KINDS)
def test_no_text_sampled_is_refused_and_leaves_an_empty_folder_empty(corpus_dir, tmp_path, capsys, kind):
    """Every document is larger than --sample-bytes: nothing to train on (not SentencePiece's INTERNAL)."""
    output = tmp_path / "tok"
    output.mkdir()  # the user's own, empty: it stays, and stays empty
    code, _, err = run(capsys, "tokenizer", "train", "--corpus", corpus_dir, "--kind", kind, "--vocab-size", "1000",
                       "--sample-bytes", "10", "--threads", "2", "--output", str(output))
    assert code == 2
    assert_one_line(err, "no text to train on", "0 sampled")
    assert "INTERNAL" not in err
    assert output.is_dir() and list(output.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_too_little_text_for_the_vocabulary_is_one_clear_line(one_chapter, tmp_path, capsys, kind):
    output = str(tmp_path / "tok")
    code, _, err = run(capsys, "tokenizer", "train", "--corpus", one_chapter, "--kind", kind,
                       "--vocab-size", "2000", "--threads", "2", "--output", output)
    assert code == 2
    assert_one_line(err, one_chapter, "too little text for --vocab-size 2000", "lower --vocab-size")
    assert "INTERNAL" not in err and "trainer_interface" not in err
    assert not os.path.exists(output)


# ---------------------------------------------------------------------------------------------
# Token directories written by `tokenize`, then damaged


@pytest.fixture(scope="module")
def real_tokens(tmp_path_factory, trained, corpus_dir) -> str:
    out = str(tmp_path_factory.mktemp("real-tokens") / "tokens")
    assert main(["tokenize", "--tokenizer", trained["byte-bpe"], "--corpus", corpus_dir, "--output", out,
                 "--workers", "1"]) == 0
    return out


def pretrain_args(tokens: str, out: str) -> list[str]:
    return ["pretrain", "--tokens", tokens, "--out", out, "--model", "gpt2-tiny", "--budget-tokens", "20480",
            "--batch-size", "8", "--validation-tokens", "4096", "--device", "cpu"]


def test_a_missing_shard_is_refused_by_pretrain_and_named_by_stats(real_tokens, corpus_dir, tmp_path, capsys):
    tokens = shutil.copytree(real_tokens, str(tmp_path / "tokens"))
    missing = os.path.join(tokens, read_manifest(tokens)["splits"]["train"][1]["path"])
    os.remove(missing)
    code, _, err = run(capsys, *pretrain_args(tokens, str(tmp_path / "run")))
    assert code == 2
    assert_one_line(err, missing, "missing", "manifest.json lists it")
    # `stats` reports rather than refuses: the shard is named, and --strict makes it exit 1.
    code, _, err = run(capsys, "stats", corpus_dir, "--tokens", tokens, "--strict", "--quiet", "--workers", "1")
    assert code == 1 and "Traceback" not in err
    assert f"missing token shard: {missing}" in err


def test_a_flipped_token_in_a_tokenize_output_is_refused_before_any_step(real_tokens, tmp_path, capsys):
    tokens = shutil.copytree(real_tokens, str(tmp_path / "tokens"))
    shard_path = os.path.join(tokens, read_manifest(tokens)["splits"]["train"][0]["path"])
    shard = TokenShard(shard_path)
    position = int(shard.doc_offsets[5]) + 3
    value = int(shard.tokens[position]) ^ (1 << 14)  # a vocabulary of 2,000: bit 14 is out of it
    del shard
    with open(shard_path, "r+b") as f:
        f.seek(HEADER_SIZE + 2 * position)
        f.write(np.array([value], dtype="<u2").tobytes())
    out = str(tmp_path / "run")
    code, stdout, err = run(capsys, *pretrain_args(tokens, out))
    assert code == 2
    assert_one_line(err, shard_path, f"token {position}", "document 5", f"is id {value}", "vocabulary of 2000")
    assert not os.path.exists(os.path.join(out, "metrics.jsonl"))


def test_stats_refuses_a_malformed_manifest_or_a_shard_listed_twice(real_tokens, corpus_dir, tmp_path, capsys):
    tokens = shutil.copytree(real_tokens, str(tmp_path / "tokens"))
    path = os.path.join(tokens, "manifest.json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["splits"]["validation"].append(dict(manifest["splits"]["train"][0]))
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    code, _, err = run(capsys, "stats", corpus_dir, "--tokens", tokens, "--quiet", "--workers", "1")
    assert code == 2
    assert_one_line(err, path, manifest["splits"]["train"][0]["path"], "twice")

    manifest["splits"]["validation"][-1] = {"path": 7}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    code, _, err = run(capsys, "stats", corpus_dir, "--tokens", tokens, "--quiet", "--workers", "1")
    assert code == 2
    assert_one_line(err, path, "corrupt manifest entry")
