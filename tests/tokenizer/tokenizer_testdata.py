"""Helpers for the tokenizer tests: small built corpora made from real text, small tokenizers.

A module of its own (not conftest) so that test files can import it by a unique name.

Train split: a novel (botchan.txt, English prose), Wikipedia articles (wikitext-2), and real web
pages from the sample WET file (many languages, emoji, CJK). Validation split: other web pages
and other articles. Laid out exactly like a `cleancrawl build` output.
"""
from __future__ import annotations

import os

import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

from cleancrawl.corpus.record import Document, documents_to_table
from cleancrawl.layout import SUCCESS_MARKER, shard_name

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
TEXT_DIR = os.path.join(ROOT, "tests", "data", "text")
SAMPLE_WET = os.path.join(ROOT, "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")


def wet_pages(path: str = SAMPLE_WET) -> list[tuple[str, str]]:
    """(url, text) of every conversion record in a WET file."""
    pages = []
    with open(path, "rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type == "conversion":
                url = record.rec_headers.get_header("WARC-Target-URI")
                pages.append((url, record.content_stream().read().decode("utf-8", errors="replace")))
    return pages


def botchan_chapters(lines_per_doc: int = 40) -> list[str]:
    with open(os.path.join(TEXT_DIR, "botchan.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    return ["\n".join(lines[i: i + lines_per_doc]) for i in range(0, len(lines), lines_per_doc)]


def wikitext_articles() -> list[str]:
    with open(os.path.join(TEXT_DIR, "wikitext-2-valid.txt"), encoding="utf-8") as f:
        text = f.read()
    articles, current = [], []
    for line in text.split("\n"):
        if line.startswith(" = ") and not line.startswith(" = = ") and current:
            articles.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    articles.append("\n".join(current).strip("\n"))
    return [a for a in articles if a.strip()]


def _doc(url: str, text: str) -> Document:
    return Document(url=url, normalized_url=url, timestamp="2024-05-18T00:00:00Z", text=text)


def write_corpus(out_dir: str, splits: dict[str, list[list[tuple[str, str]]]]) -> str:
    """Write {split: [shard docs, ...]} as Parquet shards plus the _SUCCESS marker."""
    for split, shard_docs in splits.items():
        os.makedirs(os.path.join(out_dir, split), exist_ok=True)
        for i, docs in enumerate(shard_docs):
            table = documents_to_table([_doc(u, t) for u, t in docs])
            pq.write_table(table, os.path.join(out_dir, split, shard_name(i, len(shard_docs))), compression="zstd")
    open(os.path.join(out_dir, SUCCESS_MARKER), "w").close()
    return out_dir


KINDS = ("sentencepiece-unigram", "sentencepiece-bpe", "byte-bpe")
VOCAB_SIZE = 2000  # the web pages hold ~1,100 distinct characters; SentencePiece needs room for them


def train_small(corpus: str, output: str, kind: str, **options) -> str:
    from cleancrawl.tokenizer.train import TokenizerTrainConfig, train_tokenizer

    config = TokenizerTrainConfig(corpus=corpus, output=output, kind=kind, vocab_size=VOCAB_SIZE,
                         sample_bytes=1_000_000, threads=2, **options)
    train_tokenizer(config, progress=False)
    return output
