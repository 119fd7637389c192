"""Fixtures for the tokenizer tests: a small built corpus of real text and tokenizers trained on it."""
from __future__ import annotations

import pytest

from tokenizer_testdata import KINDS, botchan_chapters, train_small, wet_pages, wikitext_articles, write_corpus


@pytest.fixture(scope="session")
def pages() -> list[tuple[str, str]]:
    return wet_pages()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, pages) -> str:
    """~1.5 MB of training text in two shards, ~0.4 MB of validation text in one."""
    out = str(tmp_path_factory.mktemp("corpus"))
    novel = [(f"botchan#{i}", t) for i, t in enumerate(botchan_chapters())]
    wiki = [(f"wikitext#{i}", t) for i, t in enumerate(wikitext_articles())]
    web_train, web_valid = pages[:120], pages[280:]
    return write_corpus(out, {
        "train": [novel + wiki[:20], web_train],
        "validation": [web_valid + wiki[50:]],
    })


@pytest.fixture(scope="session")
def trained(tmp_path_factory, corpus_dir) -> dict[str, str]:
    """One tokenizer directory per kind, trained on the test corpus (3 sentinels each)."""
    base = tmp_path_factory.mktemp("tokenizers")
    return {kind: train_small(corpus_dir, str(base / kind), kind, sentinels=3) for kind in KINDS}


@pytest.fixture(scope="session")
def no_byte_fallback(tmp_path_factory, corpus_dir) -> str:
    """A SentencePiece BPE trained without byte fallback: unseen characters become <unk>."""
    return train_small(corpus_dir, str(tmp_path_factory.mktemp("nofb") / "tok"), "sentencepiece-bpe",
                       byte_fallback=False)
