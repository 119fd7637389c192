"""Evaluation figures on held-out real text, and the side-by-side table."""
from __future__ import annotations

import json

import pytest

from cleancrawl.layout import list_shards
from cleancrawl.storage import iter_texts
from cleancrawl.tokenizer.evaluate import evaluate, format_table, load_eval_texts, write_results

from tokenizer_testdata import KINDS


@pytest.fixture(scope="module")
def results(trained, corpus_dir):
    return evaluate([trained[k] for k in KINDS], corpus_dir)


def test_figures_are_consistent_with_the_text(results, corpus_dir):
    texts = list(iter_texts(list_shards(corpus_dir, split="validation")))
    for r in results:
        assert r.documents == len(texts)
        assert r.bytes == sum(len(t.encode("utf-8")) for t in texts)
        assert r.words == sum(len(t.split()) for t in texts)
        assert r.bytes_per_token == pytest.approx(r.bytes / r.tokens)
        assert r.tokens_per_word == pytest.approx(r.tokens / r.words)
        assert r.round_trip_rate == 1.0
        assert r.unk_rate == 0.0
        assert 0 < r.vocab_utilisation <= 1
        # a 2k vocabulary compresses multilingual web text, but not by much
        assert 1.5 < r.bytes_per_token < 4
        # the held-out pages hold scripts the 1 MB sample barely covered: some bytes, not many
        assert 0 < r.byte_fallback_rate < 0.1


def test_byte_level_bpe_compresses_better_at_equal_vocab(results):
    # SentencePiece spends ~1,050 of its 2,000 entries on characters (plus 256 bytes);
    # byte-level BPE starts from 256 bytes and spends the rest on merges.
    by_kind = {r.kind: r for r in results}
    assert by_kind["byte-bpe"].bytes_per_token > by_kind["sentencepiece-unigram"].bytes_per_token


def test_no_byte_fallback_shows_unknowns_and_lossy_round_trips(no_byte_fallback, corpus_dir):
    (r,) = evaluate([no_byte_fallback], corpus_dir)
    assert r.unk_rate > 0 and r.byte_fallback_rate == 0
    assert r.round_trip_rate < 1


def test_table_and_json(results, corpus_dir, tmp_path):
    table = format_table(results)
    lines = table.splitlines()
    assert all(r.tokenizer in lines[0] for r in results)
    assert lines[2].split()[1:] == list(KINDS)
    assert any(line.startswith("bytes / token") for line in lines)
    path = tmp_path / "eval.json"
    write_results(str(path), results, corpus_dir)
    saved = json.loads(path.read_text())
    assert [r["kind"] for r in saved["results"]] == list(KINDS)
    assert saved["results"][0]["tokens"] == results[0].tokens


def test_max_bytes_limits_the_text(corpus_dir):
    texts = load_eval_texts(corpus_dir, max_bytes=100_000)
    total = sum(len(t.encode()) for t in texts)
    assert 100_000 <= total < 100_000 + max(len(t.encode()) for t in texts)
