"""`cleancrawl` — one console command; one module per subcommand in this folder.

Every module in SUBCOMMAND_MODULES has `register(subparsers)`, which adds its parsers and
sets `func` to a function taking the parsed arguments and returning an exit code. The CLI
stays thin: each `func` parses nothing itself and calls one library function.

`python -m cleancrawl` is the same command; `python -m cleancrawl.pretrain` (torchrun's entry,
and GPU machines that hold only torch, numpy and pyarrow) is the same runner with only the
pretraining subcommands registered.
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import io
import logging
import os
import sys
import traceback

from cleancrawl import __version__, options, verbosity
from cleancrawl.corpus.errors import UserError

SUBCOMMAND_MODULES = [
    "cleancrawl.cli.build",
    "cleancrawl.cli.finish",
    "cleancrawl.cli.plan",
    "cleancrawl.cli.dedup",
    "cleancrawl.cli.reddit_urls",
    "cleancrawl.cli.tokenizer",
    "cleancrawl.cli.pretrain",
    "cleancrawl.cli.stats",
    "cleancrawl.cli.overlap",
]


def build_parser(modules: list[str] = SUBCOMMAND_MODULES, prog: str = "cleancrawl") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Turn raw web crawls into C4/WebText-style pretraining corpora.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in modules:  # each imports only argparse-level code: torch, Beam, ... load in `func`
        importlib.import_module(name).register(subparsers)
    add_verbosity_options(parser)
    return parser


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                yield from _all_parsers(sub)


def add_verbosity_options(parser: argparse.ArgumentParser) -> None:
    """-q/--quiet and -v/--verbose on the parser and every subcommand's (once; before or after the
    command name). Subcommands default to SUPPRESS so that `cleancrawl -v build` is not undone."""
    for i, p in enumerate(_all_parsers(parser)):
        if any("--quiet" in a.option_strings for a in p._actions):
            continue
        default = False if i == 0 else argparse.SUPPRESS
        group = p.add_argument_group("output").add_mutually_exclusive_group()
        group.add_argument("-q", "--quiet", action="store_true", default=default,
                           help="print nothing but errors and warnings (no summary, no progress)")
        group.add_argument("-v", "--verbose", action="store_true", default=default,
                           help="also show the libraries' logs and warnings (Beam, warcio, trainers)")


def _with_file_defaults(parser: argparse.ArgumentParser, args: argparse.Namespace, argv):
    """Parse again with the defaults `--recipe NAME` (cleancrawl.recipes) and then `--config FILE` give:
    the command line wins over the file, the file over the recipe (a file may name the recipe too)."""
    command = _command_parser(parser, args)
    config_file = getattr(args, options.CONFIG_DEST, None)
    applied = None
    for _ in range(2):  # a second round when the file named another recipe
        name = getattr(args, "recipe", None)
        if name and name != applied:
            from cleancrawl.pipelines.config import recipe_values

            options.apply_values(command, recipe_values(name), f"--recipe {name}")
            applied = name
        if config_file:
            options.apply_config_file(command, config_file)
        args, unknown = parser.parse_known_args(argv)
        args.quiet, args.verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
        if getattr(args, "recipe", None) == applied:
            break
    return args, unknown


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser of the command that was chosen, for its option names."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return _command_parser(action.choices[getattr(args, action.dest)], args)
    return parser


def _command_prog(parser: argparse.ArgumentParser, argv: list[str]) -> str:
    """`cleancrawl tokenizer train`: the prog of the (sub)command `argv` names."""
    for word in argv:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            break
        if word in subparsers[0].choices:
            parser = subparsers[0].choices[word]
    return parser.prog


def check_unknown_options(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str],
                          beam: bool) -> None:
    """A UserError naming what neither cleancrawl nor (where the command passes them on) Beam
    knows, with the nearest known option; Beam itself would only warn and drop them."""
    beam_parser = None
    wrong = list(unknown)
    if beam:
        from cleancrawl.storage import beam_option_parser

        try:
            beam_parser = beam_option_parser()
        except ImportError:  # `python -m cleancrawl.pretrain` on a machine without Beam: none are known
            beam = False
    if beam:
        complaint = io.StringIO()
        try:
            with contextlib.redirect_stderr(complaint):  # argparse prints all of Beam's usage first
                wrong = beam_parser.parse_known_args(unknown)[1]
        except SystemExit:  # a Beam option without its value, a bad choice
            said = (complaint.getvalue().strip().splitlines()[-1:] or [""])[0]
            raise UserError(f"Beam options {' '.join(unknown)}: {said.split('error: ', 1)[-1]}") from None
    if not wrong:
        return
    known = [o for a in _command_parser(parser, args)._actions for o in a.option_strings if o.startswith("--")]
    if beam_parser is not None:
        known += [o for o in beam_parser._option_string_actions if o.startswith("--")]
    hints = []
    for word in wrong:
        if word.startswith("--"):
            hints += difflib.get_close_matches(word.split("=", 1)[0], known, n=1, cutoff=0.75)
    hint = f" (did you mean {' or '.join(dict.fromkeys(hints))}?)" if hints else ""
    raise UserError("unrecognized arguments: " + " ".join(wrong) + hint)


def main(argv: list[str] | None = None) -> int:
    return run_parser(build_parser(), argv)


def run_parser(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse, run the chosen subcommand's `func`, and turn whatever it raises into one line (exit 2
    for a UserError and what the user can fix, 1 for an internal error: `cli/failures.py`). Shared
    with `python -m cleancrawl.pretrain`, the pretraining subcommands without Beam."""
    add_verbosity_options(parser)
    try:
        args, unknown = parser.parse_known_args(argv)
    except UserError as err:  # a value's own check while parsing (--dedup simhash): one line too
        from cleancrawl.corpus.safe_text import safe

        print(f"{_command_prog(parser, sys.argv[1:] if argv is None else argv)}: error: {safe(err)}", file=sys.stderr)
        return 2
    args.quiet, args.verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    if args.quiet and args.verbose:
        parser.error("-q/--quiet and -v/--verbose: give one or the other")
    from cleancrawl.corpus.safe_text import SafeFormatter  # log lines quote crawl data (URLs)
    verbosity.configure(args.verbose, args.quiet, SafeFormatter(logging.BASIC_FORMAT))
    try:
        if getattr(args, options.CONFIG_DEST, None) or getattr(args, "recipe", None):
            args, unknown = _with_file_defaults(parser, args, argv)
        # `build`-like commands pass extra arguments to Beam as pipeline options; commands that only
        # read or write remote paths accept Beam's file-system options (--s3_endpoint_url, ...).
        takes_pipeline_options = getattr(args, "accepts_pipeline_options", False)
        takes_filesystem_options = getattr(args, "accepts_filesystem_options", False)
        args.pipeline_args = unknown
        if unknown:
            check_unknown_options(parser, args, unknown, beam=takes_pipeline_options or takes_filesystem_options)
        if unknown and takes_filesystem_options:
            from cleancrawl.storage import set_filesystem_options
            set_filesystem_options(unknown)
        with contextlib.ExitStack() as stack:
            if args.quiet:  # -q: no summary, tables or paths on stdout; errors and warnings still show
                stack.enter_context(contextlib.redirect_stdout(stack.enter_context(open(os.devnull, "w"))))
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # every command ends in one line (cleancrawl/cli/failures.py), never a traceback
        from cleancrawl.cli import failures

        line, code = failures.describe(err)
        if args.verbose and not isinstance(err, UserError):
            traceback.print_exc()
        print(f"{parser.prog} {args.command}: error: {line}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
