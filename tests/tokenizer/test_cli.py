"""The `cleancrawl tokenizer train|eval` and `cleancrawl tokenize` commands, end to end."""
from __future__ import annotations

import json
import os

from cleancrawl.cli import main
from cleancrawl.tokenizer.token_shards import TokenShard, read_manifest


def test_train_eval_tokenize(corpus_dir, trained, tmp_path, capsys):
    tok_dir = str(tmp_path / "tok")
    assert main(["tokenizer", "train", "--corpus", corpus_dir, "--kind", "byte-bpe", "--vocab-size", "1000",
                 "--sample-bytes", "300k", "--sentinels", "2", "--threads", "2", "--output", tok_dir]) == 0
    out, err = capsys.readouterr()
    assert "trained byte-bpe (1,000 tokens)" in out and "MB)" in out
    assert err == ""  # no progress bars when stderr is not a terminal
    meta = json.load(open(os.path.join(tok_dir, "cleancrawl-tokenizer.json")))
    assert meta["training"]["sample"]["bytes_sampled"] <= 300_000

    json_path = str(tmp_path / "cmp.json")
    assert main(["tokenizer", "eval", "--tokenizer", tok_dir, "--tokenizer", trained["sentencepiece-bpe"],
                 "--corpus", corpus_dir, "--json", json_path]) == 0
    out, _ = capsys.readouterr()
    assert "bytes / token" in out and tok_dir in out and trained["sentencepiece-bpe"] in out
    assert [r["kind"] for r in json.load(open(json_path))["results"]] == ["byte-bpe", "sentencepiece-bpe"]

    tokens = str(tmp_path / "tokens")
    assert main(["tokenize", "--tokenizer", tok_dir, "--corpus", corpus_dir, "--output", tokens,
                 "--workers", "2"]) == 0
    out, err = capsys.readouterr()
    assert "train: 2 shards" in out and "validation: 1 shards" in out and err == ""
    manifest = read_manifest(tokens)
    shard = TokenShard(os.path.join(tokens, manifest["splits"]["train"][0]["path"]), manifest["tokenizer"]["hash"])
    assert len(shard) == manifest["splits"]["train"][0]["num_docs"]


def test_user_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["tokenizer", "train", "--corpus", str(tmp_path / "missing"), "--output", str(tmp_path / "t")]) == 2
    assert capsys.readouterr().err.strip().endswith("no such corpus directory")
    assert main(["tokenize", "--tokenizer", str(tmp_path / "none"), "--corpus", ".", "--output", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such tokenizer" in err
