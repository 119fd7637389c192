"""Bad training inputs are refused in one line, exit 2, before any step: token ids outside the
vocabulary, manifests that disagree with their shards, and checkpoints that are truncated or damaged.

Each case starts from the real token directory of tests/pretrain/conftest.py (wikitext and Botchan as
byte tokens), copied and damaged inside the test, and runs the real CLI.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cleancrawl.cli import main
from cleancrawl.pretrain.checkpoint import load_checkpoint
from cleancrawl.pretrain.train import train
from cleancrawl.tokenizer.token_shards import HEADER_SIZE, TokenShard

from .conftest import VOCAB
from .test_train import REPO, as_cli_args, subprocess_env, tiny_config

TRAIN_SHARD = "train/part-00000-of-00002.tok"


@pytest.fixture
def tokens(tokens_with_validation, tmp_path) -> str:
    """A copy of the real token directory, to damage."""
    return shutil.copytree(tokens_with_validation, str(tmp_path / "tokens"))


def pretrain(tokens: str, out: str, capsys, *extra: str) -> tuple[int, str]:
    code = main(["pretrain", *as_cli_args(tiny_config(tokens, out)), *extra])
    return code, capsys.readouterr().err


def assert_one_line(err: str, *needles: str) -> None:
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def edit_manifest(tokens: str, change) -> None:
    path = os.path.join(tokens, "manifest.json")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    change(manifest)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f)


def flip_token(shard_path: str, document: int, offset: int, bit: int = 14) -> int:
    """Flip one bit of one token inside a document (not its eos); return the token's position."""
    shard = TokenShard(shard_path)
    position = int(shard.doc_offsets[document]) + offset
    assert position < shard.doc_offsets[document + 1] - 1
    with open(shard_path, "r+b") as f:
        f.seek(HEADER_SIZE + 2 * position)  # uint16 tokens (vocabulary 257)
        value = int(np.frombuffer(f.read(2), dtype="<u2")[0])
        f.seek(HEADER_SIZE + 2 * position)
        f.write(np.array([value ^ (1 << bit)], dtype="<u2").tobytes())
    return position


# ---------------------------------------------------------------------------------------------
# Token shards and the manifest


def test_a_flipped_token_is_refused_before_any_step(tokens, tmp_path, capsys):
    shard = os.path.join(tokens, TRAIN_SHARD)
    position = flip_token(shard, document=3, offset=10)
    out = str(tmp_path / "run")
    code, err = pretrain(tokens, out, capsys)
    assert code == 2
    assert_one_line(err, shard, f"token {position}", "document 3", f"outside the vocabulary of {VOCAB}")
    assert not os.path.exists(os.path.join(out, "metrics.jsonl"))
    assert not os.path.exists(os.path.join(out, "checkpoint.pt"))


def test_a_flipped_token_through_python_m_pretrain_train(tokens, tmp_path):
    """The module entry point that torchrun starts, as a real process."""
    flip_token(os.path.join(tokens, "validation/part-00000-of-00001.tok"), document=0, offset=0, bit=15)
    command = [sys.executable, "-m", "cleancrawl.pretrain", "pretrain",
               *as_cli_args(tiny_config(tokens, str(tmp_path / "run")))]
    done = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert_one_line(done.stderr, "pretrain: error:", "validation/part-00000-of-00001.tok", "outside the vocabulary")
    assert "step" not in done.stdout


def test_manifest_counts_must_match_the_shard_headers(tokens, tmp_path, capsys):
    edit_manifest(tokens,
                  lambda m: m["splits"]["train"][1].update(num_tokens=m["splits"]["train"][1]["num_tokens"] + 1))
    code, err = pretrain(tokens, str(tmp_path / "a"), capsys)
    assert code == 2
    assert_one_line(err, "train/part-00001-of-00002.tok", "manifest.json says")

    edit_manifest(tokens, lambda m: m["splits"]["train"][1].update(num_tokens=m["splits"]["train"][1]["num_tokens"] - 1,
                                                                  num_docs=m["splits"]["train"][1]["num_docs"] - 1))
    code, err = pretrain(tokens, str(tmp_path / "b"), capsys)
    assert code == 2
    assert_one_line(err, "train/part-00001-of-00002.tok", "documents, but")


def test_a_shard_listed_twice_is_refused(tokens, tmp_path, capsys):
    edit_manifest(tokens, lambda m: m["splits"]["train"].append(dict(m["splits"]["train"][0])))
    code, err = pretrain(tokens, str(tmp_path / "run"), capsys)
    assert code == 2
    assert_one_line(err, "manifest.json", TRAIN_SHARD, "twice")
    # Also across splits, and spelled differently.
    edit_manifest(tokens, lambda m: (m["splits"]["train"].pop(),
                                     m["splits"]["validation"].append({**m["splits"]["train"][0],
                                                                       "path": "./train/../" + TRAIN_SHARD})))
    code, err = pretrain(tokens, str(tmp_path / "run2"), capsys)
    assert code == 2
    assert_one_line(err, "twice")


def test_a_shard_outside_the_token_directory_is_refused(tokens, tmp_path, capsys):
    edit_manifest(tokens, lambda m: m["splits"]["train"][0].update(path="../elsewhere.tok"))
    code, err = pretrain(tokens, str(tmp_path / "run"), capsys)
    assert code == 2
    assert_one_line(err, "not inside the token directory")


def test_a_missing_shard_is_refused(tokens, tmp_path, capsys):
    os.remove(os.path.join(tokens, TRAIN_SHARD))
    code, err = pretrain(tokens, str(tmp_path / "run"), capsys)
    assert code == 2
    assert_one_line(err, os.path.join(tokens, TRAIN_SHARD), "missing", "manifest.json lists it")


@pytest.mark.parametrize("damage", ["not json", "no splits", "bad counts"])
def test_a_damaged_manifest_is_refused(tokens, tmp_path, capsys, damage):
    path = os.path.join(tokens, "manifest.json")
    if damage == "not json":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    elif damage == "no splits":
        edit_manifest(tokens, lambda m: m.update(splits=[1, 2]))
    else:
        edit_manifest(tokens, lambda m: m["splits"]["train"][0].update(num_docs="many"))
    code, err = pretrain(tokens, str(tmp_path / "run"), capsys)
    assert code == 2
    assert_one_line(err, "manifest.json")


# ---------------------------------------------------------------------------------------------
# Checkpoints


@pytest.fixture(scope="module")
def stopped_run(tokens_with_validation, tmp_path_factory):
    """A run stopped after its first checkpoint (step 8), to damage and resume."""
    config = tiny_config(tokens_with_validation, str(tmp_path_factory.mktemp("stopped")), unique_tokens=2_300,
                         stop_after_steps=8)
    assert not train(config)["finished"]
    return config


def damaged_copy(stopped_run, tmp_path, damage) -> tuple[dataclasses.dataclass, str]:
    out = shutil.copytree(stopped_run.out, str(tmp_path / "run"))
    checkpoint = os.path.join(out, "checkpoint.pt")
    data = open(checkpoint, "rb").read()
    with open(checkpoint, "wb") as f:
        f.write(damage(data))
    return dataclasses.replace(stopped_run, out=out, stop_after_steps=None), checkpoint


def flip_a_middle_byte(data: bytes) -> bytes:
    i = len(data) // 2
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


@pytest.mark.parametrize("damage, expected", [
    (lambda data: b"", "truncated or not a cleancrawl checkpoint (0 bytes"),
    (lambda data: data[: len(data) // 2], "truncated or not a cleancrawl checkpoint"),
    (lambda data: data[:-1], "truncated or not a cleancrawl checkpoint"),
    (flip_a_middle_byte, "corrupt checkpoint (the sha256"),
], ids=["zero-byte", "half", "last-byte-cut", "one-bit-flipped"])
def test_a_damaged_checkpoint_is_refused_on_resume(stopped_run, tmp_path, capsys, damage, expected):
    config, checkpoint = damaged_copy(stopped_run, tmp_path, damage)
    before = open(checkpoint, "rb").read()
    metrics_before = open(os.path.join(config.out, "metrics.jsonl"), "rb").read()
    code = main(["pretrain", *as_cli_args(config), "--resume"])
    err = capsys.readouterr().err
    assert code == 2
    assert_one_line(err, checkpoint, expected)
    # Refused, not repaired: the file and the run's log are as they were.
    assert open(checkpoint, "rb").read() == before
    assert open(os.path.join(config.out, "metrics.jsonl"), "rb").read() == metrics_before


def test_a_checkpoint_carries_its_checksum_and_resumes(stopped_run, tmp_path):
    """The good checkpoint loads (and plain torch.load still reads it); the resumed run finishes."""
    import torch

    config, checkpoint = damaged_copy(stopped_run, tmp_path, lambda data: data)
    assert load_checkpoint(checkpoint)["step"] == 8
    assert torch.load(checkpoint, map_location="cpu", weights_only=False)["step"] == 8
    with open(checkpoint, "rb") as f:
        assert f.read()[-56:-40] == b"cleancrawl-ckpt1"
    assert train(dataclasses.replace(config, resume=True))["finished"]


def test_a_remote_token_directory_with_a_missing_shard_is_refused_while_staging(tokens, tmp_path, capsys):
    """`--tokens s3://...` is copied to local disk first: a shard the manifest lists but the bucket
    lacks, or no manifest at all, is one line (a local file system under its own scheme stands in)."""
    from apache_beam.io.localfilesystem import LocalFileSystem

    class BadInputsFileSystem(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "ccbad"

        def match(self, patterns, limits=None):
            return super().match([p.removeprefix("ccbad://") for p in patterns], limits)

        def open(self, path, *args, **kwargs):
            return super().open(path.removeprefix("ccbad://"), *args, **kwargs)

    os.remove(os.path.join(tokens, TRAIN_SHARD))
    cache = str(tmp_path / "cache")
    code, err = pretrain("ccbad://" + tokens, str(tmp_path / "run"), capsys, "--tokens-cache", cache)
    assert code == 2
    assert_one_line(err, f"ccbad://{tokens}/{TRAIN_SHARD}", "missing, though")
    assert not os.path.exists(os.path.join(cache, "manifest.json"))  # the cache is not taken for whole

    os.remove(os.path.join(tokens, "manifest.json"))
    code, err = pretrain("ccbad://" + tokens, str(tmp_path / "run"), capsys, "--tokens-cache", cache)
    assert code == 2
    assert_one_line(err, f"ccbad://{tokens}/manifest.json", "cannot be read")
