"""Subcommands `cleancrawl tokenizer train|eval` and `cleancrawl tokenize`.

Each parses options into a config and calls one library function:
train → train.train_tokenizer, eval → evaluate.evaluate, tokenize → encode_shards.tokenize_corpus.
"""
from __future__ import annotations

import argparse
import os

from cleancrawl.corpus import columns
from cleancrawl.corpus.errors import UserError
from cleancrawl.tokenizer.model import KINDS


def _byte_count(value: str) -> int:
    """'1000000', '500M', '2G', '64k' → bytes (decimal units)."""
    units = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
    text = value.strip().lower().removesuffix("b")
    try:
        if text and text[-1] in units:
            return int(float(text[:-1]) * units[text[-1]])
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a byte count: {value!r} (e.g. 500M, 2G)") from None


# ---------------------------------------------------------------------------------------------
# tokenizer train


def _run_train(args) -> int:
    from cleancrawl.tokenizer.train import TrainConfig, train_tokenizer

    config = TrainConfig(
        corpus=args.corpus, output=args.output, kind=args.kind, vocab_size=args.vocab_size,
        sample_bytes=args.sample_bytes or None, seed=args.seed, byte_fallback=not args.no_byte_fallback,
        pad=not args.no_pad, unk=args.unk, sentinels=args.sentinels,
        character_coverage=args.character_coverage, normalization=args.normalization,
        threads=args.threads, overwrite=args.overwrite, verbose=args.verbose, text_column=args.text_column,
    )
    result = train_tokenizer(config, progress=False if args.quiet else None)  # None: on a terminal
    sample = result.sample
    print(f"trained {result.kind} ({result.vocab_size:,} tokens) in {result.seconds:.1f} s on "
          f"{sample.documents_sampled:,} of {sample.documents_read:,} documents "
          f"({sample.bytes_sampled / 1e6:,.1f} MB)")
    print(f"wrote {os.path.join(result.output, result.file)}  sha256 {result.sha256[:16]}…")
    return 0


def _add_train_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a tokenizer on a built corpus's train split")
    p.add_argument("--corpus", required=True, help="built corpus (its train split) or a directory of Parquet shards")
    p.add_argument("--kind", choices=KINDS, default="sentencepiece-unigram")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--output", required=True, help="tokenizer directory to write")
    p.add_argument("--sample-bytes", type=_byte_count, default=1_000_000_000,
                   help="train on a reproducible sample of at most this much text (default 1G; 0 = all)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--no-byte-fallback", action="store_true",
                   help="SentencePiece: map unseen characters to <unk> instead of byte pieces")
    p.add_argument("--no-pad", action="store_true", help="no <pad> token")
    p.add_argument("--unk", action="store_true", help="byte-bpe: add an <unk> token (SentencePiece always has one)")
    p.add_argument("--sentinels", type=int, default=0, metavar="N",
                   help="add N sentinel tokens <extra_id_0>... for span corruption (T5 uses 100)")
    p.add_argument("--character-coverage", type=float, default=0.9995)
    p.add_argument("--normalization", default="identity",
                   help="SentencePiece normalisation rule (identity keeps text lossless; nmt_nfkc is T5's)")
    p.add_argument("--threads", type=int, default=16,
                   help="trainer threads (default 16 on any machine: SentencePiece's result depends on it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    # -v/--verbose (every command's, added in cleancrawl/cli/__init__.py) also shows the trainer's own logs
    columns.add_arguments(p, "text")
    p.set_defaults(func=_run_train, accepts_filesystem_options=True)


# ---------------------------------------------------------------------------------------------
# tokenizer eval


def _run_eval(args) -> int:
    from cleancrawl.tokenizer.evaluate import evaluate, format_table, write_results

    results = evaluate(args.tokenizer, args.corpus, max_bytes=args.max_bytes or None)
    print(format_table(results))
    json_path = args.json or _default_json_path(args.tokenizer[0])
    write_results(json_path, results, args.corpus)
    print(f"\nwrote {json_path}")
    return 0


def _default_json_path(tokenizer: str) -> str:
    directory = tokenizer if os.path.isdir(tokenizer) else os.path.dirname(tokenizer) or "."
    return os.path.join(directory, "eval.json")


def _add_eval_parser(subparsers) -> None:
    p = subparsers.add_parser("eval", help="bytes/token, tokens/word, unk and byte-fallback rates on held-out text")
    p.add_argument("--tokenizer", action="append", required=True,
                   help="tokenizer directory or tokenizer.json/.model; repeat to compare side by side")
    p.add_argument("--corpus", required=True, help="built corpus (its validation split) or a directory of Parquet shards")
    p.add_argument("--max-bytes", type=_byte_count, default=50_000_000,
                   help="evaluate on at most this much text (default 50M; 0 = all)")
    p.add_argument("--json", help="where to save the figures (default: eval.json in the first tokenizer's directory)")
    p.set_defaults(func=_run_eval, accepts_filesystem_options=True)


# ---------------------------------------------------------------------------------------------
# tokenize


def _run_tokenize(args) -> int:
    from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    result = tokenize_corpus(TokenizeConfig(
        tokenizer=args.tokenizer, corpus=args.corpus, output=args.output,
        workers=args.workers, batch_size=args.batch_size, overwrite=args.overwrite, text_column=args.text_column,
    ), progress=False if args.quiet else None)
    for split, entries in result.manifest["splits"].items():
        print(f"{split}: {len(entries)} shards, {sum(e['num_docs'] for e in entries):,} documents, "
              f"{sum(e['num_tokens'] for e in entries):,} tokens")
    rate = result.text_bytes / 1e6 / result.seconds if result.seconds else 0.0
    encoder = f" (not tiktoken: {result.encoder_reason})" if result.encoder_reason else ""
    print(f"encoded with {result.encoder}{encoder}")
    print(f"{result.text_bytes / 1e6:,.1f} MB of text in {result.seconds:.1f} s ({rate:.2f} MB/s); "
          f"wrote {os.path.join(result.output, 'manifest.json')}")
    return 0


def _add_tokenize_parser(subparsers) -> None:
    p = subparsers.add_parser("tokenize", help="encode a built corpus into token shards for pretraining")
    p.add_argument("--tokenizer", required=True, help="tokenizer directory (from `tokenizer train`) or file")
    p.add_argument("--corpus", required=True, help="built corpus (both splits) or one split directory")
    p.add_argument("--output", required=True, help="token directory to write")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes, one shard each at a time")
    p.add_argument("--batch-size", type=int, default=256, help="documents per encode call")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    columns.add_arguments(p, "text")
    p.set_defaults(func=_run_tokenize, accepts_filesystem_options=True)


def register(subparsers) -> None:
    tokenizer = subparsers.add_parser("tokenizer", help="train and evaluate tokenizers")
    tokenizer_sub = tokenizer.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    tokenizer_sub.required = True
    _add_train_parser(tokenizer_sub)
    _add_eval_parser(tokenizer_sub)
    _add_tokenize_parser(subparsers)
    from cleancrawl.tokenizer import export  # `cleancrawl tokens export` (numpy only)
    export.register(subparsers)
