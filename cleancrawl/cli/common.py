"""What the subcommand modules share: one way to add a command, and the `--workers` option.

`add_command` is the whole of a typical `register()`: the parser, its options generated from the
command's config dataclass (`cleancrawl/options.py`: help, defaults and `--config FILE` come with
them), and the function it runs. Commands that pass unknown options on to Beam say so with
`pipeline_options`; commands that only read or write remote paths take Beam's file-system options
with `filesystem_options`.
"""
from __future__ import annotations

import argparse
from typing import Callable

from cleancrawl import options
from cleancrawl.corpus.errors import UserError


def add_command(subparsers, name: str, config, run: Callable[[argparse.Namespace], int], *, help: str,
                description: str | None = None, pipeline_options: bool = False, filesystem_options: bool = False,
                groups: dict | None = None) -> argparse.ArgumentParser:
    """Add subcommand `name`: options from the dataclass `config`, `run(args)` when chosen."""
    parser = subparsers.add_parser(name, help=help, description=description or help,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_arguments(parser, config, groups=groups)
    parser.set_defaults(func=run, accepts_pipeline_options=pipeline_options,
                        accepts_filesystem_options=filesystem_options)
    return parser


def add_workers_argument(parser) -> None:
    parser.add_argument("--workers", type=int, default=1,
                        help="DirectRunner worker processes (short for --direct_num_workers N "
                             "--direct_running_mode multi_processing; default: %(default)s); "
                             "other runners size themselves (--num_workers, --parallelism, ...)")


def with_direct_workers(workers: int, pipeline_args: list[str]) -> list[str]:
    """Beam options for `--workers N` on the DirectRunner; a clear error where it does not apply."""
    if workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1")
    if workers == 1:
        return pipeline_args
    runner = next((a.split("=", 1)[1] if "=" in a else (pipeline_args[i + 1] if i + 1 < len(pipeline_args) else "")
                   for i, a in enumerate(pipeline_args) if a.split("=", 1)[0] == "--runner"), "DirectRunner")
    if runner not in ("DirectRunner", "direct"):
        raise UserError(f"--workers is for the DirectRunner; {runner} takes its own worker options")
    if any(a.split("=", 1)[0] in ("--direct_num_workers", "--direct_running_mode") for a in pipeline_args):
        raise UserError("--workers and --direct_num_workers/--direct_running_mode: give one or the other")
    return [*pipeline_args, f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]
