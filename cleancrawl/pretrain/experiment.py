"""The dataset-size / repetition experiment: same token budget, less and less unique data.

Each run trains for the same number of tokens on a fixed subset of U unique tokens (a prefix
of one seeded document order, so smaller subsets sit inside larger ones); the only thing that
changes between runs is how many times the data repeats, budget / U. The questions are T5's
(Raffel et al. 2020, Table 9: 64 repeats cost little, 1,024-4,096 cost a lot as the model
memorises) and Muennighoff et al. 2023's (up to about 4 epochs is nearly as good as fresh data).
T5 asked it of span corruption on an encoder-decoder: `--objective span-corruption` with t5-*
models runs the sweep on that objective, budget and U counted in raw tokens before corruption.

    OUT/<model>_u<U>/   one run directory per (model, U), as `pretrain.train` writes it
    OUT/results.md, results.csv, *.png, report.html, fit.json    from `pretrain.report`

and nothing else (`pretrain.folders`): the sweep holds OUT's lock while it runs, each run its own
folder's; a file or folder of the user's in OUT is refused before any run starts.

Runs already finished are skipped and interrupted ones resumed, so re-running the same
command after a crash or pre-emption finishes the sweep. Under `torchrun`, every rank runs the
sweep loop and each run uses all ranks.
"""
from __future__ import annotations

import os
import re
from dataclasses import replace

from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.distributed import World, on_main_rank, setup_world
from cleancrawl.pretrain.folders import (
    REPETITION_RESULTS,
    check_out_not_tokens,
    prepare_experiment_folder,
    run_folder,
    write_errors_are_one_line,
)
from cleancrawl.pretrain.objectives import check_objective
from cleancrawl.pretrain.train import train

RUN_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*_u(all|[0-9][0-9.]*[kMG]?)$")  # run_name's, of any earlier sweep


def is_run_name(name: str) -> bool:
    return bool(RUN_NAME.match(name))


def short_count(n: int | None) -> str:
    """200000000 -> '200M', 12500000 -> '12.5M', 3100000 -> '3.1M', None -> 'all'."""
    if n is None:
        return "all"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.4g}{unit}"
    return str(n)


def run_name(model: str, unique_tokens: int | None) -> str:
    return f"{model}_u{short_count(unique_tokens)}"


def repetition_sweep(base: PretrainConfig, *, models: list[str], unique_tokens: list[int | None]) -> list[dict]:
    """Train every (model, U) at `base.budget_tokens`, then write the report into `base.out`.

    Every model trains with `base.objective`; a model of the other kind is refused before any run.
    """
    for model in models:
        check_objective(replace(base, model=model))
    check_out_not_tokens(base.out, base.tokens)  # the report is written into base.out
    names = [run_name(model, u) for model in models for u in unique_tokens]
    world: World = setup_world(base.device)
    lock = on_main_rank(world, prepare_experiment_folder, base.out, "repetition", REPETITION_RESULTS, names,
                        is_run_name)
    try:
        with write_errors_are_one_line(base.out):  # the report's files (each run's: `train`)
            return _sweep(base, models, unique_tokens, world)
    finally:
        if lock is not None:
            lock.release()


def _sweep(base: PretrainConfig, models: list[str], unique_tokens: list[int | None], world: World) -> list[dict]:
    summaries = []
    for model in models:
        for u in unique_tokens:
            config = replace(base, model=model, unique_tokens=u, resume=True,
                             out=run_folder(base.out, run_name(model, u)))
            if world.is_main:
                print(f"== {run_name(model, u)}: {base.budget_tokens} tokens over "
                      f"{short_count(u)} unique ==", flush=True)
            summary = train(config)
            if not summary.get("finished"):  # stopped by a signal: leave the rest for the re-run
                return summaries
            summaries.append(summary)
    if world.is_main:
        from cleancrawl.pretrain.report import write_report
        for path in write_report(base.out):
            print(path, flush=True)
            if os.path.basename(path) == "fit.json":  # the fitted R* beside the published 15.4
                import json

                from cleancrawl.pretrain.fit import describe
                with open(path, encoding="utf-8") as f:
                    for model, fit in json.load(f).items():
                        print(f"{model}: {describe(fit)}", flush=True)
    return summaries
