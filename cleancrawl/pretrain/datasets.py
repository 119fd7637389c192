"""Which corpus is better at a fixed budget: T5's Table 8 at any scale (`experiment datasets`).

The same model trains for the same number of tokens on each dataset (each token directory with its
own tokenizer), then every model is scored on every `--eval` text in bits per byte (`pretrain.bpb`),
which compares across tokenizers. Finished runs are skipped and interrupted ones resumed, as in the
repetition sweep; under `torchrun` every rank runs the loop and each run uses all ranks.

    OUT/<dataset>/      one run directory per dataset, as `pretrain.train` writes it
    OUT/results.json    {"bpb": {DATASET: {EVAL: bits/byte}}, "bpb_mean": {DATASET: macro mean},
                         "val_loss": {DATASET: loss on its own validation data (nats/token, not comparable)},
                         "model", "budget_tokens", "tokens": {DATASET: DIR}}
    OUT/results.md, results.csv   datasets × evals (+ mean); the best (lowest) of each column marked
    OUT/bpb.png         bits per byte per eval text, one bar per dataset

and nothing else (`pretrain.folders`): a dataset's name is a plain name (never `..` or a path: its run
folder lies inside OUT), the experiment holds OUT's lock while it runs, each run its own folder's,
and a file or folder of the user's in OUT is refused before any run starts.
"""
from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import replace

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import DatasetsConfig
from cleancrawl.pretrain.folders import (
    DATASETS_RESULTS as RESULTS,
    check_out_not_tokens,
    check_plain_name,
    prepare_experiment_folder,
    run_folder,
    write_errors_are_one_line,
    write_file,
)


def is_dataset_name(name: str) -> bool:
    try:
        check_plain_name(name, "--tokens", RESULTS)
    except UserError:
        return False
    return True


def parse_datasets(specs) -> dict[str, str]:
    """`NAME=DIR` (or `DIR`, named by its folder) → {NAME: DIR}; one line for a name given twice,
    or one that is not a plain name (`..`, `.`, a path: its run folder would lie outside --out)."""
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not (sep and name and "/" not in name and path):
            path = spec
            name = os.path.basename(spec.rstrip("/")) or spec
        check_plain_name(name, f"--tokens {spec}: the dataset name", RESULTS)
        if name in out:
            raise UserError(f"--tokens {spec}: the dataset name {name} is given twice (use NAME=DIR)")
        out[name] = path
    return out


def datasets_experiment(config: DatasetsConfig) -> dict | None:
    """Train on every dataset, then write the results; None when a run stopped early (re-run to finish)."""
    from cleancrawl.pretrain.distributed import on_main_rank, setup_world
    from cleancrawl.pretrain.objectives import check_objective

    base = config.train
    datasets = parse_datasets(config.datasets)
    if not base.out:
        raise UserError("the following arguments are required: --out")
    if not base.evals:
        raise UserError("--eval: name at least one evaluation text (NAME=PATH, or wikitext / botchan)")
    check_objective(replace(base, tokens=next(iter(datasets.values()))))
    for path in datasets.values():
        check_out_not_tokens(base.out, path)
    runs = {name: run_folder(base.out, name) for name in datasets}
    world = setup_world(base.device)
    lock = on_main_rank(world, prepare_experiment_folder, base.out, "datasets", RESULTS, runs, is_dataset_name)
    try:
        with write_errors_are_one_line(base.out):  # the results files (each run's: `train`)
            return _train_each(base, datasets, runs, world)
    finally:
        if lock is not None:
            lock.release()


def _train_each(base, datasets: dict[str, str], runs: dict[str, str], world) -> dict | None:
    from cleancrawl.pretrain.bpb import parse_eval_spec
    from cleancrawl.pretrain.train import train

    summaries = {}
    for name, path in datasets.items():
        if world.is_main:
            print(f"== {name}: {base.budget_tokens} tokens of {path} ==", flush=True)
        summary = train(replace(base, tokens=path, out=runs[name], resume=True))
        if not summary.get("finished"):
            return None
        wanted = [parse_eval_spec(e)[0] for e in base.evals]
        if sorted(summary.get("eval_bpb") or {}) != sorted(wanted):
            raise UserError(f"{runs[name]}: finished earlier with --eval "
                            f"{', '.join(summary.get('eval_bpb') or {}) or 'none'}, not {', '.join(wanted)}; "
                            f"choose another --out")
        summaries[name] = summary
    results = {
        "model": base.model, "budget_tokens": base.budget_tokens, "tokens": datasets,
        "bpb": {name: s["eval_bpb"] for name, s in summaries.items()},
        "bpb_mean": {name: s["eval_bpb_mean"] for name, s in summaries.items()},
        "val_loss": {name: s["final_val_loss"] for name, s in summaries.items()},
    }
    if world.is_main:
        for path in write_results(base.out, results):
            print(path, flush=True)
    return results


def table(results: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows (datasets × evals + mean), the lowest of each column in bold."""
    evals = list(dict.fromkeys(e for per in results["bpb"].values() for e in per))
    columns = [(e, {d: v.get(e) for d, v in results["bpb"].items()}) for e in evals]
    columns.append(("mean", dict(results["bpb_mean"])))
    best = {name: min((v for v in col.values() if v is not None), default=None) for name, col in columns}
    rows = []
    for dataset in results["bpb"]:
        cells = [dataset]
        for name, col in columns:
            v = col.get(dataset)
            cells.append("–" if v is None else f"**{v:.4f}**" if v == best[name] else f"{v:.4f}")
        rows.append(cells)
    return ["dataset"] + [f"{name} bits/byte" for name, _ in columns], rows


def write_results(out: str, results: dict) -> list[str]:
    """results.json, results.md, results.csv and bpb.png into `out`, each written atomically."""
    paths = [os.path.join(out, name) for name in RESULTS]
    write_file(paths[0], json.dumps(results, indent=2) + "\n")
    header, rows = table(results)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    write_file(paths[1], f"# Datasets at one budget\n\n{results['model']}, {results['budget_tokens']:,} training "
                         f"tokens per dataset. Bits per byte on each evaluation text (lower is better; the best of "
                         f"each column in bold; mean = macro average).\n\n" + "\n".join(lines) + "\n")
    evals = header[1:-1]
    with io.StringIO(newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["dataset"] + [f"bpb_{h.removesuffix(' bits/byte')}" for h in header[1:]] + ["best_of"])
        for dataset in results["bpb"]:
            values = [results["bpb"][dataset].get(h.removesuffix(" bits/byte")) for h in evals]
            values.append(results["bpb_mean"][dataset])
            best_of = [h.removesuffix(" bits/byte")
                       for h, cell in zip(header[1:], rows[list(results["bpb"]).index(dataset)][1:])
                       if cell.startswith("**")]
            writer.writerow([dataset] + ["" if v is None else v for v in values] + [";".join(best_of)])
        write_file(paths[2], f.getvalue())
    write_file(paths[3], _plot(results))
    return paths


def _plot(results: dict) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(results["bpb"])
    evals = list(dict.fromkeys(e for per in results["bpb"].values() for e in per)) + ["mean"]
    width = 0.8 / max(1, len(datasets))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(evals) + 2), 4.0))
    for i, dataset in enumerate(datasets):
        values = [results["bpb"][dataset].get(e, float("nan")) if e != "mean" else results["bpb_mean"][dataset]
                  for e in evals]
        ax.bar([j + i * width for j in range(len(evals))], values, width, label=dataset, color=f"C{i}")
    ax.set_xticks([j + width * (len(datasets) - 1) / 2 for j in range(len(evals))], evals)
    ax.set_ylabel("bits per byte (lower is better)")
    ax.set_title(f"{results['model']}, {results['budget_tokens']:,} tokens per dataset")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()
