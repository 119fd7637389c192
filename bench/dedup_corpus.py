"""Labelled near-duplicates made from real documents, for bench_dedup.py.

Base documents are real text: the bundled sample crawl's pages after C4's clean stage, the
sections of WikiText-2 (validation) and ~300-word blocks of Botchan. Each base document gets
one planted variant whose exact Jaccard similarity (5-word shingles, corpus.dedup.minhash)
is spread over about 0.5-1.0 by one of:

  edit         substitute / delete / insert words at a random rate (typos, rewording)
  boilerplate  add real boilerplate lines (lines repeated across crawl pages: menus, footers,
               cookie notices) before and after the text
  truncate     keep a prefix of the text
  mixed        light edits plus boilerplate or truncation

One variant per base document, so that a labelled pair is not tied to another labelled
pair through a shared document (clusters are connected components: variants of one base
would chain). Ground truth is the exact Jaccard of every pair of documents in the corpus
(a sparse shingle-incidence product), not only the labelled ones.
"""
from __future__ import annotations

import os
import random
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_WET = os.path.join(ROOT, "cleancrawl", "corpus", "data", "sample", "pages.warc.wet.gz")
WIKITEXT = os.path.join(ROOT, "tests", "data", "text", "wikitext-2-valid.txt")
BOTCHAN = os.path.join(ROOT, "tests", "data", "text", "botchan.txt")
KINDS = ("edit", "boilerplate", "truncate", "mixed")


@dataclass
class LabelledCorpus:
    docs: list[dict]                          # {"id", "url", "text"}
    pairs: list[tuple[str, str, float, str]]  # (base id, variant id, exact Jaccard, kind)


def _sample_pages() -> tuple[list[str], list[str]]:
    """(cleaned page texts, boilerplate lines repeated across raw pages)."""
    from cleancrawl.corpus.filters import C4Cleaner
    from cleancrawl.corpus.readers import read_local_file
    from cleancrawl.corpus.record import Document

    raw = [d for d in read_local_file(SAMPLE_WET) if isinstance(d, Document)]
    cleaner = C4Cleaner()
    cleaned = [r.text for r in (cleaner(d) for d in raw) if isinstance(r, Document)]
    counts = Counter(line.strip() for d in raw for line in set(d.text.splitlines()) if len(line.split()) >= 3)
    boilerplate = sorted(line for line, n in counts.items() if n >= 2)
    return cleaned, boilerplate


def _wikitext_sections() -> list[str]:
    sections, current = [], []
    for line in open(WIKITEXT, encoding="utf-8"):
        if re.match(r"^ = [^=]", line) or re.match(r"^ = = [^=]", line):
            if current:
                sections.append("\n".join(current))
            current = []
        elif line.strip():
            current.append(line.strip())
    if current:
        sections.append("\n".join(current))
    return sections


def _botchan_blocks(words_per_block: int = 300) -> list[str]:
    paragraphs = [p.strip() for p in open(BOTCHAN, encoding="utf-8").read().split("\n\n") if p.strip()]
    blocks, current, size = [], [], 0
    for p in paragraphs:
        current.append(p)
        size += len(p.split())
        if size >= words_per_block:
            blocks.append("\n".join(current))
            current, size = [], 0
    return blocks


def base_documents(min_words: int = 80) -> tuple[list[str], list[str]]:
    pages, boilerplate = _sample_pages()
    texts = pages + _wikitext_sections() + _botchan_blocks()
    return [t for t in texts if len(t.split()) >= min_words], boilerplate


# ---------------------------------------------------------------------------- variants

def _edit(text: str, rate: float, rng: random.Random, vocabulary: list[str]) -> str:
    lines = []
    for line in text.split("\n"):
        out = []
        for word in line.split(" "):
            if rng.random() >= rate:
                out.append(word)
                continue
            op = rng.randrange(3)
            if op == 0:
                out.append(rng.choice(vocabulary))
            elif op == 2:
                out += [word, rng.choice(vocabulary)]
        lines.append(" ".join(out))
    return "\n".join(lines)


def _truncate(text: str, keep: float) -> str:
    words = list(re.finditer(r"\S+", text))
    cut = max(1, int(len(words) * keep))
    return text[: words[cut - 1].end()]


def _add_boilerplate(text: str, fraction: float, rng: random.Random, boilerplate: list[str]) -> str:
    target = int(len(text.split()) * fraction)
    head, tail, added = [], [], 0
    while added < target:
        line = rng.choice(boilerplate)
        (head if rng.random() < 0.5 else tail).append(line)
        added += len(line.split())
    return "\n".join(head + [text] + tail)


def make_variant(text: str, kind: str, rng: random.Random, vocabulary: list[str], boilerplate: list[str]) -> str:
    if kind == "edit":
        return _edit(text, rng.uniform(0.0, 0.06), rng, vocabulary)
    if kind == "boilerplate":
        return _add_boilerplate(text, rng.uniform(0.0, 0.8), rng, boilerplate)
    if kind == "truncate":
        return _truncate(text, rng.uniform(0.55, 1.0))
    text = _edit(text, rng.uniform(0.0, 0.03), rng, vocabulary)
    if rng.random() < 0.5:
        return _add_boilerplate(text, rng.uniform(0.0, 0.4), rng, boilerplate)
    return _truncate(text, rng.uniform(0.7, 1.0))


def labelled_corpus(seed: int = 0, ngram: int = 5) -> LabelledCorpus:
    from cleancrawl.corpus.dedup.minhash import jaccard, shingle_hashes

    rng = random.Random(seed)
    texts, boilerplate = base_documents()
    vocabulary = sorted({w for t in texts for w in t.split() if w.isalpha()})
    docs, pairs = [], []
    for i, text in enumerate(texts):
        kind = KINDS[i % len(KINDS)]
        variant = make_variant(text, kind, rng, vocabulary, boilerplate)
        base_id, variant_id = f"b{i:05d}", f"v{i:05d}"
        docs.append({"id": base_id, "url": f"https://base.example/{i}", "text": text})
        docs.append({"id": variant_id, "url": f"https://variant.example/{i}", "text": variant})
        similarity = jaccard(shingle_hashes(text, ngram), shingle_hashes(variant, ngram))
        pairs.append((base_id, variant_id, similarity, kind))
    return LabelledCorpus(docs, pairs)


def all_similar_pairs(docs: list[dict], threshold: float, ngram: int = 5) -> dict[tuple[str, str], float]:
    """Every pair (id_a < id_b) with exact Jaccard >= threshold, via a sparse incidence product."""
    from scipy import sparse

    from cleancrawl.corpus.dedup.minhash import shingle_hashes

    sets = [shingle_hashes(d["text"], ngram) for d in docs]
    vocabulary = np.unique(np.concatenate(sets))
    rows = np.concatenate([np.full(len(s), i) for i, s in enumerate(sets)])
    cols = np.concatenate([np.searchsorted(vocabulary, s) for s in sets])
    incidence = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                                  shape=(len(docs), len(vocabulary)))
    common = sparse.triu(incidence @ incidence.T, k=1).tocoo()
    sizes = np.array([len(s) for s in sets])
    union = sizes[common.row] + sizes[common.col] - common.data
    similarity = common.data / union
    keep = similarity >= threshold
    ids = [d["id"] for d in docs]
    found = {}
    for a, b, s in zip(common.row[keep], common.col[keep], similarity[keep]):
        found[tuple(sorted((ids[a], ids[b])))] = float(s)
    return found
