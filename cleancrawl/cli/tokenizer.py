"""Subcommands `cleancrawl tokenizer train|eval` and `cleancrawl tokenize`.

Each parses options into a config and calls one library function:
train → train.train_tokenizer, eval → evaluate.evaluate, tokenize → encode_shards.tokenize_corpus.
"""
from __future__ import annotations

import os

from cleancrawl import options
from cleancrawl.corpus.errors import UserError


# ---------------------------------------------------------------------------------------------
# tokenizer train


def _run_train(args) -> int:
    from cleancrawl.tokenizer.train import TokenizerTrainConfig, train_tokenizer

    config = options.from_args(TokenizerTrainConfig, args)  # verbose: the command's -v
    result = train_tokenizer(config, progress=False if args.quiet else None)  # None: on a terminal
    sample = result.sample
    print(f"trained {result.kind} ({result.vocab_size:,} tokens) in {result.seconds:.1f} s on "
          f"{sample.documents_sampled:,} of {sample.documents_read:,} documents "
          f"({sample.bytes_sampled / 1e6:,.1f} MB)")
    print(f"wrote {os.path.join(result.output, result.file)}  sha256 {result.sha256[:16]}…")
    return 0


def _add_train_parser(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a tokenizer on a built corpus's train split")
    from cleancrawl.tokenizer.train import TokenizerTrainConfig

    options.add_arguments(p, TokenizerTrainConfig)
    # -v/--verbose (every command's, added in cleancrawl/cli/__init__.py) also shows the trainer's own logs
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
    p.add_argument("--max-bytes", type=options.byte_count, default=50_000_000,
                   help="evaluate on at most this much text (default 50M; 0 = all)")
    p.add_argument("--json", help="where to save the figures (default: eval.json in the first tokenizer's directory)")
    p.set_defaults(func=_run_eval, accepts_filesystem_options=True)


# ---------------------------------------------------------------------------------------------
# tokenize


def _run_tokenize(args) -> int:
    from cleancrawl.tokenizer.encode_shards import TokenizeConfig, tokenize_corpus

    config = options.from_args(TokenizeConfig, args)
    if config.workers < 1:
        raise UserError("--workers must be at least 1")
    result = tokenize_corpus(config, progress=False if args.quiet else None)
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
    from cleancrawl.tokenizer.encode_shards import TokenizeConfig

    options.add_arguments(p, TokenizeConfig)
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
