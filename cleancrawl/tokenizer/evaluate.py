"""`cleancrawl tokenizer eval`: how well a tokenizer compresses held-out text, side by side.

Figures per tokenizer, over the same documents:
  bytes_per_token      UTF-8 bytes / tokens (higher = better compression)
  tokens_per_word      tokens / whitespace-separated words (GPT-2 English is ~1.3)
  unk_rate             share of tokens that are <unk> (0 for byte-level BPE and byte fallback)
  byte_fallback_rate   share of tokens that are raw bytes rather than whole characters
                       (SentencePiece <0xNN> pieces; byte-level tokens not valid UTF-8 alone)
  vocab_utilisation    share of the vocabulary used at least once
  round_trip_rate      share of documents with decode(encode(text)) == text
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from cleancrawl import layout, output_folder, storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.options import byte_count, option
from cleancrawl.tokenizer.model import EVAL_NAME, Tokenizer, load_tokenizer

_BATCH = 256  # documents encoded per call


@dataclass
class EvalResult:
    tokenizer: str
    kind: str
    sha256: str
    vocab_size: int
    documents: int
    bytes: int
    words: int
    tokens: int
    bytes_per_token: float
    tokens_per_word: float
    unk_rate: float
    byte_fallback_rate: float
    vocab_utilisation: float
    round_trip_rate: float


def load_eval_texts(corpus: str, max_bytes: int | None = None) -> list[str]:
    """Held-out documents: the validation split of a built corpus, or a directory of shards.

    Stops after `max_bytes` of UTF-8 text (documents kept whole, in stored order).
    """
    paths = layout.list_shards(corpus, split="validation")
    if not paths:
        raise UserError(f"{corpus}: no Parquet shards to evaluate on")
    texts, total = [], 0
    for text in storage.iter_texts(paths):
        if max_bytes and total >= max_bytes:
            break
        texts.append(text)
        total += len(text.encode("utf-8"))
    return texts


def evaluate_tokenizer(tok: Tokenizer, texts: list[str], name: str = "") -> EvalResult:
    """Encode (and decode) every text once and gather the figures."""
    counts = np.zeros(tok.vocab_size, dtype=np.int64)
    n_bytes = n_words = n_tokens = round_trips = 0
    threads = os.cpu_count() or 1
    for start in range(0, len(texts), _BATCH):
        batch = texts[start: start + _BATCH]
        encoded = tok.encode_batch(batch, num_threads=threads)
        for text, ids in zip(batch, encoded):
            n_bytes += len(text.encode("utf-8"))
            n_words += len(text.split())
            n_tokens += len(ids)
            round_trips += tok.decode(ids) == text
        all_ids = np.fromiter((i for ids in encoded for i in ids), dtype=np.int64)
        counts += np.bincount(all_ids, minlength=tok.vocab_size)[: tok.vocab_size]
    unk = int(counts[tok.unknown_token_mask()].sum())
    byte_tokens = int(counts[tok.byte_token_mask()].sum())
    return EvalResult(
        tokenizer=name or tok.path, kind=tok.kind, sha256=tok.hash, vocab_size=tok.vocab_size,
        documents=len(texts), bytes=n_bytes, words=n_words, tokens=n_tokens,
        bytes_per_token=_ratio(n_bytes, n_tokens),
        tokens_per_word=_ratio(n_tokens, n_words),
        unk_rate=_ratio(unk, n_tokens),
        byte_fallback_rate=_ratio(byte_tokens, n_tokens),
        vocab_utilisation=_ratio(int((counts > 0).sum()), tok.vocab_size),
        round_trip_rate=_ratio(round_trips, len(texts)),
    )


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0


def evaluate(tokenizers: list[str], corpus: str, max_bytes: int | None = None) -> list[EvalResult]:
    """Evaluate one or more tokenizers (directories or files) on the same held-out text."""
    texts = load_eval_texts(corpus, max_bytes)
    return [evaluate_tokenizer(load_tokenizer(path), texts, name=path) for path in tokenizers]


_TABLE_ROWS = [
    ("kind", "kind", "{}"),
    ("vocab size", "vocab_size", "{:,}"),
    ("documents", "documents", "{:,}"),
    ("bytes", "bytes", "{:,}"),
    ("tokens", "tokens", "{:,}"),
    ("bytes / token", "bytes_per_token", "{:.3f}"),
    ("tokens / word", "tokens_per_word", "{:.3f}"),
    ("unk rate", "unk_rate", "{:.4%}"),
    ("byte-fallback rate", "byte_fallback_rate", "{:.4%}"),
    ("vocab utilisation", "vocab_utilisation", "{:.2%}"),
    ("round trip", "round_trip_rate", "{:.2%}"),
]


def format_table(results: list[EvalResult]) -> str:
    """One column per tokenizer, one row per figure."""
    header = ["", *[r.tokenizer for r in results]]
    rows = [[label, *[fmt.format(getattr(r, attr)) for r in results]] for label, attr, fmt in _TABLE_ROWS]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass
class EvalConfig:
    """`cleancrawl tokenizer eval`."""

    corpus: str = option(help="built corpus (its validation split) or a directory of Parquet shards")
    tokenizer: list[str] = option(list="repeat", default_factory=list, help=(
        "tokenizer directory or tokenizer.json/.model; repeat to compare side by side"))
    max_bytes: int = option(50_000_000, type=byte_count,
                            help="evaluate on at most this much text (default 50M; 0 = all)")
    json: str | None = option(None, help=(
        "where to save the figures (default: eval.json in the first tokenizer's directory)"))


def default_json_path(tokenizer: str) -> str:
    """eval.json in the tokenizer's folder (a file of its layout: a retrained tokenizer replaces it)."""
    directory = tokenizer if os.path.isdir(tokenizer) else os.path.dirname(tokenizer) or "."
    return os.path.join(directory, EVAL_NAME)


def check_results_path(path: str) -> None:
    """Refuse to replace a file that is not an earlier `tokenizer eval` record (one line)."""
    output_folder.check_replaceable_json(path, "--json", "tokenizer eval",
                                         lambda data: set(data) == {"corpus", "results"})


def write_results(path: str, results: list[EvalResult], corpus: str) -> None:
    check_results_path(path)
    data = json.dumps({"corpus": corpus, "results": [asdict(r) for r in results]}, indent=2) + "\n"
    storage.write_atomically(path, data.encode("utf-8"))
