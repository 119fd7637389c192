"""`python -m cleancrawl.pretrain pretrain|experiment ...`: torchrun's entry, and the GPU machines'.

The same runner and subcommand functions as `cleancrawl pretrain` / `cleancrawl experiment`
(`cleancrawl.cli.pretrain`), with only those registered, so it needs no Beam, warcio or
tokenizer libraries: torch, numpy and pyarrow are enough.
"""
import sys

from cleancrawl.cli import build_parser, run_parser

sys.exit(run_parser(build_parser(["cleancrawl.cli.pretrain"], prog="python -m cleancrawl.pretrain")))
