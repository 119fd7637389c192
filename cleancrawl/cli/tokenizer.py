"""Subcommands `cleancrawl tokenizer train|eval`, `cleancrawl tokenize` and `cleancrawl tokens export`.

Each parses options into a config and calls one library function: train → train.train_tokenizer,
eval → evaluate.evaluate, tokenize → encode_shards.tokenize_corpus, export → export.export_tokens.
"""
from __future__ import annotations

import os
import sys

from cleancrawl import options
from cleancrawl.cli.common import add_command
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
    from cleancrawl.tokenizer.train import TokenizerTrainConfig

    # -v/--verbose (every command's, added in cleancrawl/cli/__init__.py) also shows the trainer's own logs
    add_command(subparsers, "train", TokenizerTrainConfig, _run_train, filesystem_options=True,
                help="train a tokenizer on a built corpus's train split")


# ---------------------------------------------------------------------------------------------
# tokenizer eval


def _run_eval(args) -> int:
    from cleancrawl.tokenizer.evaluate import (
        EvalConfig,
        check_results_path,
        default_json_path,
        evaluate,
        format_table,
        write_results,
    )

    config = options.from_args(EvalConfig, args)
    if not config.tokenizer:
        raise UserError("the following arguments are required: --tokenizer")
    json_path = config.json or default_json_path(config.tokenizer[0])
    check_results_path(json_path)  # before the work: a user's file there is never replaced
    results = evaluate(config.tokenizer, config.corpus, max_bytes=config.max_bytes or None)
    print(format_table(results))
    write_results(json_path, results, config.corpus)
    print(f"\nwrote {json_path}")
    return 0


def _add_eval_parser(subparsers) -> None:
    from cleancrawl.tokenizer.evaluate import EvalConfig

    add_command(subparsers, "eval", EvalConfig, _run_eval, filesystem_options=True,
                help="bytes/token, tokens/word, unk and byte-fallback rates on held-out text")


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
    from cleancrawl.tokenizer.encode_shards import TokenizeConfig

    add_command(subparsers, "tokenize", TokenizeConfig, _run_tokenize, filesystem_options=True,
                help="encode a built corpus into token shards for pretraining")


# ---------------------------------------------------------------------------------------------
# tokens export


def _run_export(args) -> int:
    from cleancrawl.tokenizer.export import EXPORT_MANIFEST, ExportConfig, export_tokens

    config = options.from_args(ExportConfig, args)
    result = export_tokens(config.tokens, config.output, config.format, overwrite=config.overwrite)
    for entry in result.files:
        print(f"{entry['split']}: {entry['num_tokens']:,} tokens → {os.path.join(result.output, entry['path'])}")
        if entry["num_tokens"] == 0:
            print(f"cleancrawl tokens export: warning: {entry['path']} holds no tokens (the {entry['split']} split "
                  "is empty); a trainer cannot read from it", file=sys.stderr)
    print(f"wrote {os.path.join(result.output, EXPORT_MANIFEST)}")
    return 0


def _add_export_parser(subparsers) -> None:
    from cleancrawl.tokenizer.export import ExportConfig  # numpy only

    tokens = subparsers.add_parser("tokens", help="work with token directories written by `tokenize`")
    actions = tokens.add_subparsers(dest="tokens_command", metavar="ACTION")
    actions.required = True
    add_command(actions, "export", ExportConfig, _run_export, help="copy token shards to llm.c, nanoGPT or .npy files")


def register(subparsers) -> None:
    tokenizer = subparsers.add_parser("tokenizer", help="train and evaluate tokenizers")
    tokenizer_sub = tokenizer.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    tokenizer_sub.required = True
    _add_train_parser(tokenizer_sub)
    _add_eval_parser(tokenizer_sub)
    _add_tokenize_parser(subparsers)
    _add_export_parser(subparsers)
