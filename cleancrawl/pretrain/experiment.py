"""The dataset-size / repetition experiment: same token budget, less and less unique data.

Each run trains for the same number of tokens on a fixed subset of U unique tokens (a prefix
of one seeded document order, so smaller subsets sit inside larger ones); the only thing that
changes between runs is how many times the data repeats, budget / U. The questions are T5's
(Raffel et al. 2020, Table 9: 64 repeats cost little, 1,024-4,096 cost a lot as the model
memorises) and Muennighoff et al. 2023's (up to about 4 epochs is nearly as good as fresh data).
T5 asked it of span corruption on an encoder-decoder: `--objective span-corruption` with t5-*
models runs the sweep on that objective, budget and U counted in raw tokens before corruption.

RoBERTa (Liu et al. 2019, section 4.1, table 1) found dynamic masking (a new mask each time a
sequence is seen) comparable to or slightly better than BERT's static masking (each sequence
masked once, the data duplicated so it is seen with 10 masks over 40 epochs): a repetition effect.
`--masking static,dynamic` with a corrupting objective (mlm, bert-style) runs both at every U, and
the report sets them side by side, each with its own fit.

    OUT/<model>_u<U>/   one run directory per (model, U), as `pretrain.train` writes it
                        (<model>_u<U>_<masking>/ when the sweep names a masking other than dynamic)
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

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import MASKINGS, PretrainConfig
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

RUN_NAME = re.compile(  # run_name's, of any earlier sweep
    r"^[a-z0-9][a-z0-9.-]*_u(all|[0-9][0-9.]*[kMG]?)(_(dynamic|static(-[0-9]+)?))?$")


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


def run_name(model: str, unique_tokens: int | None, masking: str | None = None) -> str:
    """'gpt2-tiny_u1.6k'; with a masking label (a sweep that compares them), 't5-tiny_u1.6k_static'."""
    return f"{model}_u{short_count(unique_tokens)}" + (f"_{masking}" if masking else "")


def masking_runs(base: PretrainConfig, maskings: list[str] | None) -> list[tuple[PretrainConfig, str | None]]:
    """(the base with each masking, its run-name suffix): none for a dynamic-only sweep (the names of
    sweeps before masking existed), the label (dynamic, static, static-K) otherwise."""
    maskings = list(dict.fromkeys(maskings or [base.masking]))
    unknown = [m for m in maskings if m not in MASKINGS]
    if unknown:
        raise UserError(f"--masking {','.join(unknown)}: unknown; choose from {', '.join(MASKINGS)}")
    configs = [replace(base, masking=m, static_copies=base.static_copies if m == "static" else 1) for m in maskings]
    if maskings == ["dynamic"]:
        return [(configs[0], None)]
    return [(c, c.masking if c.static_copies == 1 else f"{c.masking}-{c.static_copies}") for c in configs]


def repetition_sweep(base: PretrainConfig, *, models: list[str], unique_tokens: list[int | None],
                     maskings: list[str] | None = None) -> list[dict]:
    """Train every (model, U, masking) at `base.budget_tokens`, then write the report into `base.out`.

    Every model trains with `base.objective`; a model of the other kind, or a masking the objective
    does not take, is refused before any run. `maskings` (default: `base.masking`) are run at each U.
    """
    variants = masking_runs(base, maskings)
    for model in models:
        for config, _ in variants:
            check_objective(replace(config, model=model))
    check_out_not_tokens(base.out, base.tokens)  # the report is written into base.out
    names = [run_name(model, u, suffix) for model in models for u in unique_tokens for _, suffix in variants]
    world: World = setup_world(base.device)
    lock = on_main_rank(world, prepare_experiment_folder, base.out, "repetition", REPETITION_RESULTS, names,
                        is_run_name)
    try:
        with write_errors_are_one_line(base.out):  # the report's files (each run's: `train`)
            return _sweep(variants, models, unique_tokens, world)
    finally:
        if lock is not None:
            lock.release()


def _sweep(variants: list[tuple[PretrainConfig, str | None]], models: list[str], unique_tokens: list[int | None],
           world: World) -> list[dict]:
    summaries = []
    base = variants[0][0]
    for model in models:
        for u in unique_tokens:
            for masked, suffix in variants:
                name = run_name(model, u, suffix)
                config = replace(masked, model=model, unique_tokens=u, resume=True, out=run_folder(base.out, name))
                if world.is_main:
                    print(f"== {name}: {base.budget_tokens} tokens over {short_count(u)} unique ==", flush=True)
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
                    for series, fit in json.load(f).items():
                        print(f"{series}: {describe(fit)}", flush=True)
    return summaries
