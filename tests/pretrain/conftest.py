"""Token directories of real text for the pretraining tests, encoded byte by byte.

Bytes are token ids 0..255 and 256 is eos (vocabulary 257): real text, no tokenizer to train.
Documents: the Wikipedia articles of wikitext-2's validation file (split at top-level headings)
and Botchan's lines gathered into ~2 KB passages.
"""
from __future__ import annotations

import os
import re

import pytest
import torch

from cleancrawl.tokenizer.token_shards import write_manifest, write_token_shard

DATA = os.path.join(os.path.dirname(__file__), "..", "data", "text")
# One thread per test process: `make test` runs two pytest workers on two cores, and OpenMP
# threads beyond the cores spin against each other (a tenfold slowdown measured here).
torch.set_num_threads(1)

EOS = 256
VOCAB = 257
TOKENIZER_HASH = "bytes-utf8"


def wikitext_articles() -> list[str]:
    with open(os.path.join(DATA, "wikitext-2-valid.txt"), encoding="utf-8") as f:
        text = f.read()
    parts = re.split(r"\n(?= = [^=\n]+ = \n)", text)
    return [p.strip() for p in parts if len(p.strip()) > 500]


def botchan_passages(size: int = 2000) -> list[str]:
    """Consecutive lines of the novel gathered until a passage holds `size` characters."""
    with open(os.path.join(DATA, "botchan.txt"), encoding="utf-8-sig") as f:
        lines = [line.strip() for line in f if line.strip()]
    passages, current = [], ""
    for line in lines:
        current = f"{current}\n{line}" if current else line
        if len(current) >= size:
            passages.append(current)
            current = ""
    return passages + ([current] if current else [])


def encode(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def write_byte_tokens(root: str, splits: dict[str, list[list[str]]]) -> str:
    """splits: name -> shards -> documents; returns the token directory."""
    manifest_splits = {}
    for split, shards in splits.items():
        entries = []
        for i, docs in enumerate(shards):
            rel = f"{split}/part-{i:05d}-of-{len(shards):05d}.tok"
            header = write_token_shard(os.path.join(root, rel), (encode(d) for d in docs),
                                       vocab_size=VOCAB, eos_id=EOS, tokenizer_hash=TOKENIZER_HASH)
            entries.append({"path": rel, "num_tokens": header.num_tokens, "num_docs": header.num_docs})
        manifest_splits[split] = entries
    write_manifest(root, {
        "tokenizer": {"path": "", "kind": "bytes", "hash": TOKENIZER_HASH, "vocab_size": VOCAB, "eos_id": EOS},
        "splits": manifest_splits,
    })
    return root


@pytest.fixture(scope="session")
def tokens_with_validation(tmp_path_factory) -> str:
    """Two training shards (wikitext articles and Botchan) and a validation split of 8 articles."""
    articles = wikitext_articles()
    validation, train_articles = articles[:8], articles[8:]
    root = str(tmp_path_factory.mktemp("tokens-val"))
    return write_byte_tokens(root, {"train": [train_articles, botchan_passages()], "validation": [validation]})


@pytest.fixture(scope="session")
def tokens_without_validation(tmp_path_factory) -> str:
    """Training shards only, and an empty validation split: validation must be held out by hash."""
    root = str(tmp_path_factory.mktemp("tokens-noval"))
    return write_byte_tokens(root, {"train": [wikitext_articles(), botchan_passages()], "validation": [[]]})
