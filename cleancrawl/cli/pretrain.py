"""`cleancrawl pretrain` and `cleancrawl experiment {repetition,datasets,report,fit}`: options in, one call out.

Counts accept scientific notation (`--budget-tokens 2e8`, `--unique-tokens 2e8,5e7,1.25e7`).
`--objective` picks what is trained: causal-lm, prefix-lm and mlm on gpt2-* shapes, span-corruption and
bert-style on t5-* encoder-decoders; without `--model`, each objective has its own default (gpt2-tiny,
t5-tiny). `--masking static|dynamic` (a sweep: `static,dynamic`) for the corrupting ones.
"""
from __future__ import annotations

import argparse
import dataclasses
import os

from cleancrawl import options, output_folder
from cleancrawl.cli.common import add_command
from cleancrawl.corpus.errors import UserError

# pretrain.config is torch-free, so that building the parser imports no torch (`cleancrawl --help` starts
# in a fraction of a second); pretrain.objectives imports its names.
from cleancrawl.pretrain.config import (  # noqa: F401 (the names and parse_count*: re-exported)
    ALL_MODELS,
    DEFAULT_MODEL,
    OBJECTIVES,
    DatasetsConfig,
    FitConfig,
    PretrainConfig,
    RepetitionConfig,
    ReportConfig,
    parse_count,
    parse_count_list,
)

# ---------------------------------------------------------------------------------------------
# Subcommands


def _run_pretrain(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from cleancrawl.pretrain.train import train

    try:
        summary = train(options.from_args(PretrainConfig, args))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0 if summary.get("finished") else 3  # 3: stopped early, continue with --resume


def _run_repetition(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from cleancrawl.pretrain.experiment import repetition_sweep

    config = options.from_args(RepetitionConfig, args)
    models = config.model_names()
    if not models:
        raise UserError("--model: no model named")
    base = dataclasses.replace(config.train, model=models[0], unique_tokens=None, resume=True)
    maskings = list(dict.fromkeys(config.maskings)) or None
    try:
        summaries = repetition_sweep(base, models=models, unique_tokens=list(config.unique_tokens),
                                     maskings=maskings)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0 if len(summaries) == len(models) * len(config.unique_tokens) * len(maskings or [None]) else 3


def _run_datasets(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from cleancrawl.pretrain.datasets import datasets_experiment

    try:
        results = datasets_experiment(options.from_args(DatasetsConfig, args))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0 if results is not None else 3


def _run_report(args: argparse.Namespace) -> int:
    import json

    from cleancrawl.pretrain.fit import describe
    from cleancrawl.pretrain.folders import write_errors_are_one_line
    from cleancrawl.pretrain.report import write_report

    sweep_dir = options.from_args(ReportConfig, args).sweep_dir
    if not sweep_dir:
        raise UserError("the following arguments are required: sweep_dir")
    if not os.path.isdir(sweep_dir):
        raise UserError(f"{sweep_dir}: no such sweep directory")
    # Not while a sweep (or another report) writes there: the folder's lock, as the sweep takes it.
    with output_folder.OutputLock.acquire(sweep_dir, "experiment report"), write_errors_are_one_line(sweep_dir):
        paths = write_report(sweep_dir)
    for path in paths:
        print(path)
        if os.path.basename(path) == "fit.json":
            with open(path, encoding="utf-8") as f:
                for model, fit in json.load(f).items():
                    print(f"{model}: {describe(fit)}")
    return 0


def _run_fit(args: argparse.Namespace) -> int:
    import json

    from cleancrawl.pretrain.fit import describe, fit_repetition_law, read_runs_csv
    from cleancrawl.storage import write_atomically

    config = options.from_args(FitConfig, args)
    if not config.results_csv:
        raise UserError("the following arguments are required: RESULTS.csv")
    if config.json and os.path.abspath(config.json) == os.path.abspath(config.results_csv):
        raise UserError(f"--json {config.json}: is the input RESULTS.csv; name another file")
    if config.bootstrap < 0:
        raise UserError(f"--bootstrap {config.bootstrap}: must be 0 (no interval) or more")
    fit = fit_repetition_law(read_runs_csv(config.results_csv), bootstrap=config.bootstrap, seed=config.seed)
    print(describe(fit))
    if config.json:
        try:  # temporary name, fsync, rename; removed on error
            write_atomically(config.json, (json.dumps(fit, indent=2) + "\n").encode("utf-8"))
        except OSError as e:
            raise UserError(f"--json {config.json}: cannot write ({e.strerror or e})") from None
        print(config.json)
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "pretrain", PretrainConfig, _run_pretrain, filesystem_options=True,  # --tokens s3://...
                help="train a GPT-2-style model (or a T5-style encoder-decoder) on token shards",
                description="Train a GPT-2-style decoder on token shards (next tokens, a prefix LM, or BERT's\n"
                            "masked LM), or with --objective span-corruption or bert-style a T5-style\n"
                            "encoder-decoder. Under torchrun, one process per device.")

    experiment = subparsers.add_parser("experiment", help="pretraining experiments (repetition sweep, report)")
    sub = experiment.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    sub.required = True
    add_command(sub, "repetition", RepetitionConfig, _run_repetition, filesystem_options=True,
                help="sweep unique-data sizes at a fixed token budget, then report",
                description="Train one run per (model, unique-token count) at the same token budget, so that runs\n"
                            "differ only in how often their data repeats; finished runs are skipped and\n"
                            "interrupted ones resumed. Writes the report into OUT.")
    add_command(sub, "datasets", DatasetsConfig, _run_datasets, filesystem_options=True,
                help="the same model and budget on each dataset, scored on every --eval (T5's Table 8)",
                description="Train the same model for the same number of tokens on each --tokens NAME=DIR (each with\n"
                            "its own tokenizer), score every model on every --eval in bits per byte, and write\n"
                            "results.json, results.md/.csv (best per column marked) and bpb.png into OUT. Finished\n"
                            "runs are skipped and interrupted ones resumed.")
    report = add_command(sub, "report", ReportConfig, _run_report, help="table and plots for a finished sweep",
                         description="Write results.md, results.csv, PNG plots and report.html into the sweep "
                                     "directory.")
    report.add_argument("sweep_dir", nargs="?", help="the sweep's --out directory (or `sweep_dir:` in --config)")
    fit = add_command(sub, "fit", FitConfig, _run_fit, help="fit the law of repetition (R*) to a sweep's results",
                      description=(
                          "Fit L = E + B / D'^beta with D' = U + U*R*(1 - exp(-R/R*)), R = tokens/U - 1\n"
                          "(Muennighoff et al. 2023; published R* = 15.4) to RESULTS.csv (columns unique_tokens,\n"
                          "tokens, val_loss, optional params; a report's results.csv works as is), with a robust\n"
                          "loss from several starting points and a seeded bootstrap interval for R*; also T5's\n"
                          "val_loss = a*ln(U) + b. Needs runs at 4 or more distinct repeat counts."))
    fit.add_argument("results_csv", metavar="RESULTS.csv", nargs="?",
                     help="a sweep's results.csv (or `results_csv:` in --config)")
