"""Bits per byte on common evaluation texts (`--eval NAME=PATH`, cleancrawl/pretrain/bpb.py).

A hand computation on a tiny GPT (every token's log-probability from its own forward pass), the
stride rule, documents scored without each other's context, the run's metrics and summary through
the CLI, the packaged texts, and two real tokenizers (byte-level BPE and SentencePiece, trained and
applied by the CLI on the same real text) giving comparable figures on the same eval text.
"""
from __future__ import annotations

import csv
import json
import math
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from cleancrawl.cli import main
from cleancrawl.pretrain.bpb import EvalSet, bits_per_byte, document_nats, parse_eval_spec, read_eval_texts, windows
from cleancrawl.pretrain.model import GPT, model_config

from .conftest import EOS, VOCAB, botchan_passages, wikitext_articles

SEQ = 16


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return GPT(model_config("gpt2-tiny", VOCAB, seq_len=SEQ)).eval()


def test_windows_score_every_token_once_with_half_a_context():
    for n in (1, 5, 16, 17, 40, 100):
        scored = []
        for begin, end, first in windows(n, SEQ):
            assert end - begin <= SEQ and begin <= first <= end
            assert first == begin or first - begin >= SEQ // 2 or end == n  # at least half a context
            scored += range(first, end)
        assert scored == list(range(n))


def by_hand(model, doc: list[int]) -> float:
    """Each token's -log p from a forward pass over its own window, one token at a time."""
    seq = [EOS] + doc
    inputs, nats = seq[:-1], 0.0
    for begin, end, first in windows(len(inputs), SEQ):
        for position in range(first, end):
            with torch.no_grad():
                logits = model(torch.tensor([inputs[begin:end]]))[0, position - begin]
            nats -= float(torch.log_softmax(logits.double(), dim=-1)[seq[position + 1]])
    return nats


def test_bpb_equals_a_hand_computation_on_a_tiny_model(tiny_model):
    texts = ["Short one.", "A longer document, well past one context of sixteen byte tokens: é and ü count twice."]
    docs = [list(t.encode("utf-8")) for t in texts]
    eval_set = EvalSet("hand", "-", docs, sum(len(t.encode("utf-8")) for t in texts))
    result = bits_per_byte(tiny_model, eval_set, EOS, SEQ, "cpu")
    nats = sum(by_hand(tiny_model, d) for d in docs)
    assert result["nats"] == pytest.approx(nats, rel=1e-5)
    assert result["bpb"] == pytest.approx(nats / (eval_set.num_bytes * math.log(2)), rel=1e-5)
    assert result["tokens"] == eval_set.num_bytes == len(texts[0]) + len(texts[1].encode("utf-8"))


def test_documents_are_scored_without_each_others_context(tiny_model):
    a, b = list(b"first document"), list(b"second document")
    together = document_nats(tiny_model, [a, b], EOS, SEQ, "cpu")
    assert together == pytest.approx(document_nats(tiny_model, [a], EOS, SEQ, "cpu")
                                     + document_nats(tiny_model, [b], EOS, SEQ, "cpu"), rel=1e-6)
    assert together != pytest.approx(document_nats(tiny_model, [a + [EOS] + b], EOS, SEQ, "cpu"), rel=1e-6)


def test_eval_sources_text_parquet_corpus_and_packaged(tmp_path):
    (tmp_path / "docs.txt").write_text("one\n\n  \ntwo\n", encoding="utf-8")
    assert read_eval_texts(str(tmp_path / "docs.txt")) == ["one", "two"]
    pq.write_table(pa.table({"text": ["x", "", "y"]}), tmp_path / "t.parquet")
    assert read_eval_texts(str(tmp_path / "t.parquet")) == ["x", "y"]
    os.makedirs(tmp_path / "corpus" / "validation")
    os.makedirs(tmp_path / "corpus" / "train")
    pq.write_table(pa.table({"text": ["held out"]}), tmp_path / "corpus" / "validation" / "part-00000-of-00001.parquet")
    pq.write_table(pa.table({"text": ["trained on"]}), tmp_path / "corpus" / "train" / "part-00000-of-00001.parquet")
    assert read_eval_texts(str(tmp_path / "corpus")) == ["held out"]  # a corpus: its validation split
    name, path = parse_eval_spec("wikitext")
    assert name == "wikitext" and len(read_eval_texts(path)) > 50
    assert parse_eval_spec("wiki=docs.txt") == ("wiki", "docs.txt")


def test_pretrain_logs_bpb_per_eval_and_their_mean(tokens_with_validation, tmp_path, capsys):
    mine = tmp_path / "mine.txt"
    mine.write_text("\n".join(a[:600] for a in wikitext_articles()[:3]) + "\n", encoding="utf-8")
    out = str(tmp_path / "run")
    args = ["pretrain", "--tokens", tokens_with_validation, "--model", "gpt2-tiny", "--budget-tokens",
            str(20 * 8 * 64), "--batch-size", "8", "--lr", "3e-3", "--validation-tokens", "2048",
            "--eval-every", "10", "--log-every", "10", "--device", "cpu", "--out", out,
            "--eval", "wikitext", "--eval", "botchan", "--eval", f"mine={mine}"]
    assert main(args) == 0
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    evaluated = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in evaluated] == [10, 20]
    for r in evaluated:
        assert set(r["eval_bpb"]) == {"wikitext", "botchan", "mine"}
        assert r["eval_bpb_mean"] == pytest.approx(sum(r["eval_bpb"].values()) / 3)
    first, last = evaluated
    assert all(last["eval_bpb"][k] < first["eval_bpb"][k] for k in first["eval_bpb"])  # it learns
    assert all(2.0 < v < 8.5 for v in last["eval_bpb"].values())  # bytes: at most log2(257) ≈ 8 untrained
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        summary = json.load(f)
    assert summary["eval_bpb"] == last["eval_bpb"] and summary["eval_bpb_mean"] == last["eval_bpb_mean"]


@pytest.mark.parametrize("spec, needle", [
    ("nope=/no/such/file.txt", "no such file or folder"),
    ("bad=BINARY", "not UTF-8 text"),
    ("a=TEXT --eval a=TEXT", "given twice"),
])
def test_bad_eval_sources_are_one_line_and_exit_2(tokens_with_validation, tmp_path, capsys, spec, needle):
    (tmp_path / "bin").write_bytes(bytes(range(128, 256)))
    (tmp_path / "t.txt").write_text("fine\n", encoding="utf-8")
    evals = spec.replace("BINARY", str(tmp_path / "bin")).replace("TEXT", str(tmp_path / "t.txt")).split(" --eval ")
    args = ["pretrain", "--tokens", tokens_with_validation, "--model", "gpt2-tiny", "--budget-tokens", "1024",
            "--batch-size", "8", "--device", "cpu", "--out", str(tmp_path / "run")]
    for e in evals:
        args += ["--eval", e]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert not os.path.exists(tmp_path / "run" / "metrics.jsonl")


# ---- two real tokenizers on the same text ------------------------------------------------------


@pytest.fixture(scope="module")
def text_corpus(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("bpb-corpus")
    docs = wikitext_articles()[8:] + botchan_passages()
    os.makedirs(root / "train")
    pq.write_table(pa.table({"text": docs}), root / "train" / "part-00000-of-00001.parquet")
    (root / "_SUCCESS").write_text("")
    return str(root)


def train_and_score(corpus: str, base, kind: str) -> float:
    """tokenizer train → tokenize → pretrain --eval wikitext; the run's bits per byte."""
    tok, tokens, out = str(base / "tok"), str(base / "tokens"), str(base / "run")
    assert main(["tokenizer", "train", "--corpus", corpus, "--output", tok, "--kind", kind,
                 "--vocab-size", "600", "--threads", "1"]) == 0
    assert main(["tokenize", "--corpus", corpus, "--tokenizer", tok, "--output", tokens, "--workers", "1"]) == 0
    with open(os.path.join(tokens, "manifest.json"), encoding="utf-8") as f:
        copy = json.load(f)["tokenizer"]["copy"]
    assert os.path.isfile(os.path.join(tokens, copy))  # the token directory carries its tokenizer
    assert main(["pretrain", "--tokens", tokens, "--model", "gpt2-tiny", "--budget-tokens", str(40 * 16 * 64),
                 "--batch-size", "16", "--lr", "3e-3", "--validation-tokens", "4096", "--eval-every", "40",
                 "--device", "cpu", "--out", out, "--eval", "wikitext"]) == 0
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        return json.load(f)["eval_bpb"]["wikitext"]


@pytest.fixture(scope="module")
def bpb_by_tokenizer(text_corpus, tmp_path_factory) -> dict[str, float]:
    return {kind: train_and_score(text_corpus, tmp_path_factory.mktemp(kind), kind)
            for kind in ("byte-bpe", "sentencepiece-bpe")}


def test_each_tokenizer_learns_the_eval_text(bpb_by_tokenizer):
    for kind, bpb in bpb_by_tokenizer.items():
        assert 1.5 < bpb < 6.0, (kind, bpb)  # an untrained model: log2(600) × tokens per byte, ~9 × 0.4


def test_two_tokenizers_give_comparable_bits_per_byte(bpb_by_tokenizer):
    a, b = bpb_by_tokenizer.values()
    assert abs(a - b) / min(a, b) < 0.33, bpb_by_tokenizer


def test_a_sweep_reports_bits_per_byte_per_eval_and_their_mean(tokens_without_validation, tmp_path, capsys):
    out = str(tmp_path / "sweep")
    budget = 12 * 8 * 64
    assert main(["experiment", "repetition", "--tokens", tokens_without_validation, "--model", "gpt2-tiny",
                 "--budget-tokens", str(budget), "--unique-tokens", f"{budget},{budget // 8}", "--batch-size", "8",
                 "--validation-tokens", "2048", "--eval-every", "12", "--device", "cpu", "--out", out,
                 "--eval", "wikitext", "--eval", "botchan"]) == 0
    with open(os.path.join(out, "results.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for r in rows:
        assert float(r["bpb_mean"]) == pytest.approx((float(r["bpb_wikitext"]) + float(r["bpb_botchan"])) / 2)
    with open(os.path.join(out, "results.md"), encoding="utf-8") as f:
        assert "| wikitext bits/byte | botchan bits/byte | mean bits/byte |" in f.read()
    with open(os.path.join(out, "bpb_vs_repeats.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "report.html"), encoding="utf-8") as f:
        assert "botchan bits/byte" in f.read()


def test_eval_needs_the_runs_tokenizer_and_a_causal_lm(tokens_with_validation, tmp_path, capsys):
    import shutil

    tokens = shutil.copytree(tokens_with_validation, str(tmp_path / "tokens"))
    with open(os.path.join(tokens, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    manifest["tokenizer"].update(kind="byte-bpe", path=str(tmp_path / "gone"))  # no copy, recorded file gone
    with open(os.path.join(tokens, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    base = ["pretrain", "--tokens", tokens, "--budget-tokens", "1024", "--batch-size", "8", "--device", "cpu",
            "--eval", "wikitext"]
    assert main([*base, "--model", "gpt2-tiny", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip()
    assert "the tokenizer of" in err and "gone" in err and len(err.splitlines()) == 1, err
    assert main(["pretrain", "--tokens", tokens_with_validation, "--budget-tokens", "1024", "--batch-size", "8",
                 "--device", "cpu", "--eval", "wikitext", "--objective", "span-corruption", "--model", "t5-tiny",
                 "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert "span-corruption" in err and len(err.splitlines()) == 1, err
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "no-text.parquet")
    assert main(["pretrain", "--tokens", tokens_with_validation, "--budget-tokens", "1024", "--batch-size", "8",
                 "--device", "cpu", "--model", "gpt2-tiny", "--out", str(tmp_path / "c"),
                 "--eval", f"x={tmp_path / 'no-text.parquet'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read a text column" in err and len(err.splitlines()) == 1, err
