"""`cleancrawl` — one console command; each subcommand lives beside the code it runs.

Every module in SUBCOMMAND_MODULES has `register(subparsers)`, which adds its parsers and
sets `func` to a function taking the parsed arguments and returning an exit code. The CLI
stays thin: each `func` parses nothing itself and calls one library function.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from cleancrawl.corpus.errors import UserError

SUBCOMMAND_MODULES = [
    "cleancrawl.pipelines.cli",
    "cleancrawl.pipelines.dedup_cli",
    "cleancrawl.pipelines.reddit_cli",
    "cleancrawl.tokenizer.cli",
    "cleancrawl.pretrain.cli",
    "cleancrawl.corpus.stats_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cleancrawl",
        description="Turn raw web crawls into C4/WebText-style pretraining corpora.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_parser(build_parser(), argv)


def run_parser(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse, run the chosen subcommand's `func`, and turn a UserError into one line and exit 2.
    Shared with `python -m cleancrawl.pretrain.cli`, the same subcommands without Beam."""
    args, unknown = parser.parse_known_args(argv)
    # `build`-like commands pass extra arguments to Beam as pipeline options; commands that only
    # read or write remote paths accept Beam's file-system options (--s3_endpoint_url, ...).
    takes_pipeline_options = getattr(args, "accepts_pipeline_options", False)
    takes_filesystem_options = getattr(args, "accepts_filesystem_options", False)
    if unknown and not (takes_pipeline_options or takes_filesystem_options):
        parser.error("unrecognized arguments: " + " ".join(unknown))
    args.pipeline_args = unknown
    try:
        if unknown and takes_filesystem_options:
            from cleancrawl.corpus.shards import set_filesystem_options
            set_filesystem_options(unknown)
        return int(args.func(args) or 0)
    except UserError as err:
        from cleancrawl.corpus.safe_text import safe  # messages name files and URLs from the data
        print(f"{parser.prog} {args.command}: error: {safe(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
