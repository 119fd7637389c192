"""Tokenizer benchmarks: cleancrawl's wrappers against the libraries called directly.

1. Training a 32k vocabulary on the sample corpus (the bundled crawl's 323 real pages, as a
   built corpus of Parquet shards): `cleancrawl tokenizer train` (stream Parquet, sample,
   train, write metadata) against SentencePiece's trainer on a plain text file of the same
   lines / `tokenizers`' trainer on the same texts. Prints the ratio (ours / direct).
2. Encoding: `cleancrawl tokenize` (Parquet → token shards, one process per shard) in MB/s per
   core, against a plain single-process `encode` loop over the same texts held in memory.

    .venv/bin/python bench/bench_tokenizer.py [--vocab-size 32000] [--copies 2] [--workers 2]

Results are printed as tables and saved to bench/out/tokenizer.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import OUT_DIR, Timer, sample_records  # noqa: E402

from cleancrawl.corpus.record import Document, documents_to_table  # noqa: E402
from cleancrawl.layout import SUCCESS_MARKER, list_shards, shard_name  # noqa: E402
from cleancrawl.storage import iter_texts  # noqa: E402
from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus  # noqa: E402
from cleancrawl.tokenizer.model import load_tokenizer  # noqa: E402
from cleancrawl.tokenizer.train import SampleStats, TokenizerTrainConfig, train_tokenizer, training_sentences  # noqa: E402

KINDS = ("sentencepiece-unigram", "sentencepiece-bpe", "byte-bpe")
THREADS = 16  # cleancrawl's default; the direct calls get the same


def build_sample_corpus(directory: str, copies: int, train_shards: int = 4) -> str:
    """The sample pages (× copies, distinct URLs) as a built corpus: 4 train shards, 1 validation."""
    if os.path.exists(os.path.join(directory, SUCCESS_MARKER)):
        return directory
    records = sample_records()
    docs = []
    for copy in range(copies):
        for url, date, payload in records:
            u = f"{url}#copy{copy}" if copy else url
            docs.append(Document(url=u, normalized_url=u, timestamp=date, text=payload.decode("utf-8", "replace")))
    validation, train = docs[::20], [d for i, d in enumerate(docs) if i % 20]
    for split, split_docs, n in (("train", train, train_shards), ("validation", validation, 1)):
        os.makedirs(os.path.join(directory, split), exist_ok=True)
        for i in range(n):
            table = documents_to_table(split_docs[i::n])
            pq.write_table(table, os.path.join(directory, split, shard_name(i, n)), compression="zstd")
    open(os.path.join(directory, SUCCESS_MARKER), "w").close()
    return directory


# ---------------------------------------------------------------------------------------------
# Training


def _direct_sentencepiece(kind: str, vocab_size: int, text_file: str, model_prefix: str) -> None:
    """SentencePiece's own trainer on a text file, with the options cleancrawl passes."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        input=text_file, model_prefix=model_prefix, model_type=kind.removeprefix("sentencepiece-"),
        vocab_size=vocab_size, character_coverage=0.9995, byte_fallback=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        max_sentence_length=16384, input_sentence_size=0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        pad_piece="<pad>", eos_piece="<eos>", unk_piece="<unk>", user_defined_symbols=["\n"],
        num_threads=THREADS, minloglevel=2,
    )


def _direct_byte_bpe(vocab_size: int, texts: list[str]) -> None:
    """`tokenizers`' GPT-2-style byte-level BPE trainer on texts in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=["<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)


def bench_training(corpus: str, work: str, vocab_size: int, repeats: int) -> list[dict]:
    texts = list(iter_texts(list_shards(corpus)))
    text_file = os.path.join(work, "train-lines.txt")
    with open(text_file, "w", encoding="utf-8") as f:  # what a direct user would prepare
        for line in training_sentences(iter(texts), 16384, SampleStats()):
            f.write(line + "\n")
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    rows = []
    for kind in KINDS:
        ours, direct = [], []
        for _ in range(repeats):
            with Timer() as t:
                train_tokenizer(TokenizerTrainConfig(corpus=corpus, output=os.path.join(work, f"tok-{kind}"), kind=kind,
                                            vocab_size=vocab_size, sample_bytes=None, threads=THREADS,
                                            overwrite=True), progress=False)
            ours.append(t.seconds)
            with Timer() as t:
                if kind == "byte-bpe":
                    _direct_byte_bpe(vocab_size, texts)
                else:
                    _direct_sentencepiece(kind, vocab_size, text_file, os.path.join(work, f"direct-{kind}"))
            direct.append(t.seconds)
        rows.append({"kind": kind, "vocab_size": vocab_size, "text_mb": round(mb, 2),
                     "cleancrawl_s": round(min(ours), 3), "direct_s": round(min(direct), 3),
                     "ratio": round(min(ours) / min(direct), 3)})
    return rows


# ---------------------------------------------------------------------------------------------
# Encoding


def _plain_encode_loop(tokenizer_dir: str, texts: list[str]) -> float:
    """Seconds for `for text in texts: encode(text)` with the library itself, one thread."""
    tok = load_tokenizer(tokenizer_dir)
    if hasattr(tok, "_sp"):
        encode = tok._sp.encode
    else:
        hf = tok._tok
        encode = lambda text: hf.encode(text, add_special_tokens=False).ids  # noqa: E731
    with Timer() as t:
        for text in texts:
            encode(text)
    return t.seconds


def bench_encoding(corpus: str, work: str, workers_list: list[int], repeats: int) -> list[dict]:
    texts = list(iter_texts(list_shards(corpus, split=None)))
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # the plain loop and in-process runs: one thread
    rows = []
    for kind in KINDS:
        tokenizer_dir = os.path.join(work, f"tok-{kind}")
        plain, tokenize_s = [], {w: [] for w in workers_list}
        for _ in range(repeats):  # interleaved, best of N: the machine may be shared
            plain.append(_plain_encode_loop(tokenizer_dir, texts))
            for workers in workers_list:
                with Timer() as t:
                    tokenize_corpus(TokenizeConfig(tokenizer_dir, corpus, os.path.join(work, f"tokens-{kind}"),
                                                   workers=workers, overwrite=True), progress=False)
                tokenize_s[workers].append(t.seconds)
        plain_rate = mb / min(plain)
        row = {"kind": kind, "text_mb": round(mb, 2), "plain_loop_mb_s": round(plain_rate, 2)}
        for workers in workers_list:
            per_core = mb / min(tokenize_s[workers]) / workers
            row[f"tokenize_w{workers}_mb_s_per_core"] = round(per_core, 2)
            row[f"tokenize_w{workers}_vs_plain"] = round(per_core / plain_rate, 3)
        rows.append(row)
    return rows


def _print_table(title: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print(f"\n{title}")
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(str(r[c]).rjust(w) for c, w in zip(columns, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=32000)
    parser.add_argument("--encode-copies", type=int, default=4,
                        help="encode the sample pages this many times over (distinct URLs), so that "
                             "process start-up does not dominate")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--repeats", type=int, default=2, help="best of N")
    args = parser.parse_args(argv)

    work = os.path.join(OUT_DIR, "tokenizer")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    corpus = build_sample_corpus(os.path.join(work, "corpus"), copies=1)
    training = bench_training(corpus, work, args.vocab_size, args.repeats)
    _print_table(f"Training a {args.vocab_size:,} vocabulary: cleancrawl vs the trainer called directly "
                 "(seconds; ratio = cleancrawl / direct)", training)
    encode_corpus = build_sample_corpus(os.path.join(work, "encode-corpus"), copies=args.encode_copies)
    encoding = bench_encoding(encode_corpus, work, sorted(set(args.workers)), args.repeats)
    _print_table("Encoding: `cleancrawl tokenize` (Parquet → token shards) vs a plain single-process encode "
                 f"loop (MB/s per core, {os.cpu_count()} cores)", encoding)
    with open(os.path.join(OUT_DIR, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump({"training": training, "encoding": encoding, "cores": os.cpu_count()}, f, indent=2)
    print(f"\nsaved {os.path.join(OUT_DIR, 'tokenizer.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
