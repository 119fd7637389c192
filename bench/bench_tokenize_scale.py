"""Tokenizing at corpus scale: MB of text per CPU-second, `cleancrawl tokenize` against the libraries.

A 32k byte-level BPE and a 32k SentencePiece unigram are trained here on real text (the sample
crawl's 323 pages, botchan.txt and wikitext-2), then the sample pages, replicated with distinct
URLs to --mb megabytes of text, are encoded seven ways, one worker, one thread:

    byte-bpe  cleancrawl tokenize (tiktoken, the default when exact)
    byte-bpe  cleancrawl tokenize with the encoder forced to `tokenizers`
    byte-bpe  plain `tokenizers` encode_batch loop over the texts in memory (batches of 256)
    byte-bpe  cleancrawl's encode_batch (fast_bpe: tiktoken) over the texts in memory
    sp        cleancrawl tokenize (SentencePiece)
    sp        plain SentencePiece `encode(text)` loop over the texts in memory
    sp        cleancrawl's encode_batch over the texts in memory (the call tokenize makes)

`cleancrawl tokenize` includes reading Parquet, writing token shards and loading (the tiktoken
self-check); the plain loops only encode. Figures are CPU seconds of this process
(time.process_time), so another job on a shared machine slows the wall clock, not the figures.
It also checks that the tiktoken and `tokenizers` shards are byte-identical.

    .venv/bin/python bench/bench_tokenize_scale.py [--mb 32] [--repeats 1]

Saved to bench/out/tokenize_scale.json.
"""
from __future__ import annotations

import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"  # before tokenizers starts its thread pool: one thread
os.environ["RAYON_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_tokenizer import build_sample_corpus  # noqa: E402
from common import OUT_DIR, ROOT, sample_records  # noqa: E402

from cleancrawl.corpus.record import Document, documents_to_table  # noqa: E402
from cleancrawl.layout import SUCCESS_MARKER, list_shards, shard_name  # noqa: E402
from cleancrawl.storage import iter_texts  # noqa: E402
from cleancrawl.tokenizer import fast_bpe  # noqa: E402
from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus  # noqa: E402
from cleancrawl.tokenizer.model import load_tokenizer  # noqa: E402
from cleancrawl.tokenizer.train import TrainConfig, train_tokenizer  # noqa: E402

TEXT_DIR = os.path.join(ROOT, "tests", "data", "text")


def _training_corpus(directory: str) -> str:
    """Sample pages plus the two texts, as a built corpus (what `tokenizer train` reads)."""
    if os.path.exists(os.path.join(directory, SUCCESS_MARKER)):
        return directory
    docs = [Document(url=u, normalized_url=u, timestamp=d, text=p.decode("utf-8", "replace"))
            for u, d, p in sample_records()]
    for name in sorted(os.listdir(TEXT_DIR)):
        with open(os.path.join(TEXT_DIR, name), encoding="utf-8") as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines), 50):
            u = f"file://{name}#{i}"
            docs.append(Document(url=u, normalized_url=u, timestamp="", text="\n".join(lines[i:i + 50])))
    for split, part in (("train", docs), ("validation", docs[:3])):
        os.makedirs(os.path.join(directory, split), exist_ok=True)
        pq_write(documents_to_table(part), os.path.join(directory, split, shard_name(0, 1)))
    open(os.path.join(directory, SUCCESS_MARKER), "w").close()
    return directory


def pq_write(table, path: str) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path, compression="zstd")


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def _shards(directory: str) -> dict[str, bytes]:
    out = {}
    for root, _, files in os.walk(directory):
        for name in sorted(files):
            if name.endswith(".tok"):
                with open(os.path.join(root, name), "rb") as f:
                    out[os.path.relpath(os.path.join(root, name), directory)] = f.read()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=32, help="megabytes of page text to encode")
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=1, help="best of N (interleaved)")
    args = parser.parse_args(argv)

    work = os.path.join(OUT_DIR, "tokenize-scale")
    os.makedirs(work, exist_ok=True)
    train_corpus = _training_corpus(os.path.join(work, "train-corpus"))
    toks = {}
    for kind in ("byte-bpe", "sentencepiece-unigram"):
        toks[kind] = os.path.join(work, f"tok-{kind}-{args.vocab_size}")
        if not os.path.exists(os.path.join(toks[kind], "cleancrawl-tokenizer.json")):
            train_tokenizer(TrainConfig(corpus=train_corpus, output=toks[kind], kind=kind, vocab_size=args.vocab_size,
                                        sample_bytes=None, threads=2, overwrite=True), progress=False)
    page_mb = sum(len(p) for _, _, p in sample_records()) / 1e6
    copies = max(1, round(args.mb / page_mb))
    corpus = build_sample_corpus(os.path.join(work, f"encode-corpus-x{copies}"), copies=copies)
    texts = list(iter_texts(list_shards(corpus, split=None)))
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    bpe = load_tokenizer(toks["byte-bpe"])
    hf = bpe._tok
    sp = load_tokenizer(toks["sentencepiece-unigram"])._sp

    def tokenize(kind: str, name: str, force_tokenizers: bool = False):
        out = os.path.join(work, f"tokens-{name}")

        def run():
            saved = fast_bpe.tiktoken_encoder
            if force_tokenizers:
                fast_bpe.tiktoken_encoder = lambda *a, **k: fast_bpe.EncoderChoice(fast_bpe.TOKENIZERS, "forced")
            try:
                result = tokenize_corpus(TokenizeConfig(toks[kind], corpus, out, workers=1, overwrite=True),
                                         progress=False)
            finally:
                fast_bpe.tiktoken_encoder = saved
            assert result.encoder == ("tokenizers" if force_tokenizers else
                                      "tiktoken" if kind == "byte-bpe" else "sentencepiece"), result.encoder
        return run

    fast_bpe_enc = fast_bpe.fastest_encoding(bpe)
    fast_sp = fast_bpe.fastest_encoding(load_tokenizer(toks["sentencepiece-unigram"]))

    def in_memory(encoding):
        def run():
            for i in range(0, len(texts), 256):
                encoding.encode_batch(texts[i:i + 256])
        return run

    def hf_loop():
        for i in range(0, len(texts), 256):
            hf.encode_batch_fast(texts[i:i + 256], add_special_tokens=False)

    def sp_loop():
        for text in texts:
            sp.encode(text)

    ways = [
        ("byte-bpe", "cleancrawl tokenize, tiktoken", tokenize("byte-bpe", "tiktoken")),
        ("byte-bpe", "cleancrawl tokenize, tokenizers", tokenize("byte-bpe", "tokenizers", force_tokenizers=True)),
        ("byte-bpe", "plain tokenizers encode_batch loop", hf_loop),
        ("byte-bpe", "cleancrawl encode_batch in memory", in_memory(fast_bpe_enc)),
        ("sentencepiece-unigram", "cleancrawl tokenize", tokenize("sentencepiece-unigram", "sp")),
        ("sentencepiece-unigram", "plain sentencepiece encode loop", sp_loop),
        ("sentencepiece-unigram", "cleancrawl encode_batch in memory", in_memory(fast_sp)),
    ]
    seconds = {(kind, name): [] for kind, name, _ in ways}
    for _ in range(args.repeats):
        for kind, name, fn in ways:
            seconds[kind, name].append(_cpu(fn))
    identical = _shards(os.path.join(work, "tokens-tiktoken")) == _shards(os.path.join(work, "tokens-tokenizers"))

    rows = [{"tokenizer": f"{kind} {args.vocab_size // 1000}k", "how": name, "cpu_s": round(min(seconds[kind, name]), 2),
             "mb_per_cpu_s": round(mb / min(seconds[kind, name]), 2)} for kind, name, _ in ways]
    rate = {(kind, name): mb / min(seconds[kind, name]) for kind, name, _ in ways}
    bpe_k, sp_k = "byte-bpe", "sentencepiece-unigram"
    print(f"\n{mb:,.1f} MB of real page text ({len(texts):,} documents: the sample pages x {copies}), one worker, "
          f"one thread, CPU seconds (best of {args.repeats})")
    print(f"{'tokenizer':<26} {'how':<38} {'CPU s':>7} {'MB/CPU-s':>9}")
    for r in rows:
        print(f"{r['tokenizer']:<26} {r['how']:<38} {r['cpu_s']:>7} {r['mb_per_cpu_s']:>9}")
    speedup = rate[bpe_k, "cleancrawl tokenize, tiktoken"] / rate[bpe_k, "plain tokenizers encode_batch loop"]
    sp_ratio = rate[sp_k, "cleancrawl tokenize"] / rate[sp_k, "plain sentencepiece encode loop"]
    sp_encode_ratio = rate[sp_k, "cleancrawl encode_batch in memory"] / rate[sp_k, "plain sentencepiece encode loop"]
    print(f"tiktoken tokenize / plain tokenizers loop: {speedup:.2f}x; SentencePiece tokenize / plain loop: "
          f"{sp_ratio:.3f}x (its encode call alone, texts in memory: {sp_encode_ratio:.3f}x); tiktoken and tokenizers shards byte-identical: {identical}")
    with open(os.path.join(OUT_DIR, "tokenize_scale.json"), "w", encoding="utf-8") as f:
        json.dump({"text_mb": round(mb, 2), "documents": len(texts), "rows": rows, "tiktoken_speedup": round(speedup, 2),
                   "sentencepiece_vs_plain": round(sp_ratio, 3),
                   "sentencepiece_encode_vs_plain": round(sp_encode_ratio, 3), "shards_identical": identical}, f, indent=2)
    shutil.rmtree(os.path.join(work, "tokens-tiktoken"), ignore_errors=True)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
