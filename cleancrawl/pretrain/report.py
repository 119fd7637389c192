"""The report of a repetition sweep: a table (Markdown, CSV) and plots (PNG, and an HTML page).

Reads every run directory under the sweep directory (config.json, metrics.jsonl, summary.json
as `pretrain.train` writes them) and writes beside them:

    results.md, results.csv      model, unique tokens, repeats, final train / validation loss, gap;
                                 the objective in the notes (and the CSV's objective column); the masking
                                 (dynamic, static, static-K; none for objectives that do not mask) in the
                                 CSV's masking column, and in the table when the sweep compares maskings,
                                 followed by a static-vs-dynamic table at each unique-token count
    val_loss_vs_repeats.png      final validation (and train) loss against repeats, per model
    bpb_vs_repeats.png           with --eval: bits per byte on each eval text and their mean, against repeats
                                 (also bpb_<NAME> and bpb_mean columns in the tables)
    curves.png                   train and validation loss against tokens seen, one panel per run
    report.html                  all of the above on one self-contained page
    fit.json                     per model (per model and masking in a masking sweep: "t5-tiny static")
                                 with runs at 4 or more distinct repeat counts: the fitted law
                                 of repetition (R*, its bootstrap interval, E, B, beta, R², T5's log fit;
                                 `pretrain.fit`), also in the notes and as a dashed curve on the plot
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from dataclasses import dataclass

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import CORRUPTING
from cleancrawl.pretrain.folders import write_file

COLUMNS = ["model", "unique_tokens", "repeats", "tokens_seen", "final_train_loss", "final_val_loss",
           "gap", "val_loss_vs_least_repeated", "objective", "masking"]


@dataclass
class Run:
    name: str
    config: dict            # config.json
    metrics: list[dict]     # metrics.jsonl
    summary: dict | None    # summary.json; None while unfinished

    @property
    def model(self) -> str:
        return self.config["config"]["model"]

    @property
    def unique_tokens(self) -> int:
        return self.config["unique_tokens"]

    @property
    def objective(self) -> str:
        return self.config["config"].get("objective", "causal-lm")  # runs from before objectives: GPTs

    @property
    def masking(self) -> str:
        """dynamic, static or static-K (K copies); none for an objective that does not mask."""
        if self.objective not in CORRUPTING:
            return "none"
        c = self.config["config"]
        mode, copies = c.get("masking", "dynamic"), c.get("static_copies", 1)
        return mode if copies == 1 else f"{mode}-{copies}"


def load_runs(sweep_dir: str) -> list[Run]:
    if not os.path.isdir(sweep_dir):
        raise UserError(f"{sweep_dir}: no such sweep directory")
    runs = []
    for name in sorted(os.listdir(sweep_dir)):
        run_dir = os.path.join(sweep_dir, name)
        config_path = os.path.join(run_dir, "config.json")
        if not os.path.isfile(config_path):
            continue
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
        metrics = []
        if os.path.exists(os.path.join(run_dir, "metrics.jsonl")):
            with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
                metrics = [json.loads(line) for line in f if line.strip()]
        summary = None
        if os.path.exists(os.path.join(run_dir, "summary.json")):
            with open(os.path.join(run_dir, "summary.json"), encoding="utf-8") as f:
                summary = json.load(f)
        runs.append(Run(name, config, metrics, summary))
    if not runs:
        raise UserError(f"{sweep_dir}: holds no runs (directories with config.json)")
    # By model, then most unique data (fewest repeats) first, the maskings of one size side by side.
    return sorted(runs, key=lambda r: (r.model, -r.unique_tokens, r.masking))


def result_rows(runs: list[Run]) -> list[dict]:
    rows = []
    baseline: dict[tuple[str, str], float] = {}
    for run in runs:
        s = run.summary
        if s is None:
            continue
        # The least-repeated finished run of the model (with the same masking)
        baseline.setdefault((run.model, run.masking), s["final_val_loss"])
        rows.append({
            "model": run.model, "unique_tokens": s["unique_tokens"], "repeats": s["repeats"],
            "tokens_seen": s["tokens_seen"], "final_train_loss": s["final_train_loss"],
            "final_val_loss": s["final_val_loss"], "gap": s["gap"],
            "val_loss_vs_least_repeated": s["final_val_loss"] - baseline[(run.model, run.masking)],
            "objective": run.objective, "masking": run.masking,
            **{f"bpb_{name}": v for name, v in (s.get("eval_bpb") or {}).items()},
            **({"bpb_mean": s["eval_bpb_mean"]} if "eval_bpb_mean" in s else {}),
        })
    return rows


def eval_names(rows: list[dict]) -> list[str]:
    """The --eval names any row has bits per byte for, in first-seen order."""
    return list(dict.fromkeys(k[4:] for r in rows for k in r if k.startswith("bpb_") and k != "bpb_mean"))


def compares_masking(rows: list[dict]) -> bool:
    """Whether the sweep's runs differ in masking, or mask statically (the table then shows it)."""
    labels = {r.get("masking", "none") for r in rows}
    return len(labels) > 1 or any(label.startswith("static") for label in labels)


def series(row: dict, rows: list[dict]) -> str:
    """What a line of the plot and a fit stand for: the model, and its masking in a masking sweep."""
    return f"{row['model']} {row['masking']}" if compares_masking(rows) else row["model"]


def markdown_table(rows: list[dict]) -> str:
    header = ["model", "unique tokens", "repeats", "tokens seen", "final train loss", "final val loss",
              "gap (val − train)", "Δ val vs least repeated"]
    masking = compares_masking(rows)
    if masking:
        header.insert(1, "masking")
    evals = eval_names(rows)
    if evals:
        header += [f"{name} bits/byte" for name in evals] + ["mean bits/byte"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * (1 + masking) + ["---:"] * (len(header) - 1 - masking)) + "|"]

    def bpb(r: dict, key: str) -> str:
        return f" {r[key]:.4f} |" if key in r else " – |"

    for r in rows:
        lines.append(
            f"| {r['model']} |" + (f" {r['masking']} |" if masking else "")
            + f" {r['unique_tokens']:,} | {r['repeats']:.4g} | {r['tokens_seen']:,} | "
            f"{r['final_train_loss']:.4f} | {r['final_val_loss']:.4f} | {r['gap']:+.4f} | "
            f"{r['val_loss_vs_least_repeated']:+.4f} |"
            + ("".join(bpb(r, f"bpb_{n}") for n in evals) + bpb(r, "bpb_mean") if evals else ""))
    return "\n".join(lines) + "\n"


def masking_table(rows: list[dict]) -> str:
    """Static against dynamic masking at each (model, unique tokens) that has both: final validation
    and train loss, and the differences (static − dynamic); empty where no such pair exists."""
    pairs = {}
    for r in rows:
        pairs.setdefault((r["model"], r["unique_tokens"]), {})[r["masking"]] = r
    lines = []
    for (model, unique), by in pairs.items():
        for static in sorted(k for k in by if k.startswith("static")):
            if "dynamic" not in by:
                continue
            s, d = by[static], by["dynamic"]
            lines.append(f"| {model} | {static} | {unique:,} | {s['repeats']:.4g} | {s['final_val_loss']:.4f} | "
                         f"{d['final_val_loss']:.4f} | {s['final_val_loss'] - d['final_val_loss']:+.4f} | "
                         f"{s['final_train_loss']:.4f} | {d['final_train_loss']:.4f} | "
                         f"{s['final_train_loss'] - d['final_train_loss']:+.4f} |")
    if not lines:
        return ""
    return ("| model | static | unique tokens | repeats | val static | val dynamic | Δ val (static − dynamic) | "
            "train static | train dynamic | Δ train |\n|---|---|" + "---:|" * 8 + "\n" + "\n".join(lines) + "\n")


def validation_sources(runs: list[Run]) -> list[str]:
    return sorted({r.config["validation_source"] for r in runs})


_MASKED_VALIDATION = "Validation text is held out and masked alike in every run, static or dynamic."
# What each objective trains and what its loss is per; {noise_density} and {mean_noise_span} from the run's config.
OBJECTIVE_NOTES = {
    "span-corruption": (
        "Objective: span-corruption (T5's, on an encoder-decoder: {noise_density:g} of the tokens dropped in spans "
        "of mean length {mean_noise_span:g}). Losses are nats per target token (sentinels and eos included), not "
        "comparable with a causal-lm loss; tokens and repeats count raw text before corruption."),
    "bert-style": (
        "Objective: bert-style (T5's BERT-style denoising on an encoder-decoder: {noise_density:g} of the tokens "
        "picked, 80% to a mask token, 10% random, 10% kept; the decoder writes the whole original). Losses are nats "
        "per target token, copied tokens included, comparable only with bert-style runs. " + _MASKED_VALIDATION),
    "mlm": (
        "Objective: mlm (BERT's masked LM on a bidirectional encoder of the GPT's shape: {noise_density:g} of the "
        "tokens picked, 80% to a mask token, 10% random, 10% kept). Losses are nats per picked token. "
        + _MASKED_VALIDATION),
    "prefix-lm": ("Objective: prefix-lm (a GPT with full attention over a random prefix of each sequence; nats per "
                  "token after the prefix)."),
    "causal-lm": "Objective: causal-lm (a decoder-only GPT predicts each next token; nats per token).",
}


def objective_notes(runs: list[Run]) -> list[str]:
    """One line per objective in the sweep: what was trained, and what its loss is per."""
    notes = {run.objective: OBJECTIVE_NOTES.get(run.objective, OBJECTIVE_NOTES["causal-lm"]).format(
        **run.config["config"]) for run in runs}
    return [notes[k] for k in sorted(notes)]


# ---------------------------------------------------------------------------------------------
# Plots


def fit_models(rows: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """The law of repetition per model with enough runs, and one note per model (fitted or why not)."""
    from cleancrawl.pretrain import fit as law

    fits, notes = {}, []
    for model in dict.fromkeys(series(r, rows) for r in rows):  # the model, or "model masking"
        mine = [r for r in rows if series(r, rows) == model]
        runs = law.make_runs([r["unique_tokens"] for r in mine], [r["tokens_seen"] for r in mine],
                             [r["final_val_loss"] for r in mine])
        if law.count_repeats(runs) < law.MIN_REPEAT_COUNTS:
            notes.append(f"{model}: no fit of the law of repetition (runs at {law.count_repeats(runs)} distinct "
                         f"repeat counts; it needs {law.MIN_REPEAT_COUNTS}).")
            continue
        try:
            fits[model] = law.fit_repetition_law(runs)
        except UserError as e:
            notes.append(f"{model}: no fit of the law of repetition ({e}).")
            continue
        notes.append(f"{model}: {law.describe(fits[model])}.")
    return fits, notes


def plot_val_loss_vs_repeats(rows: list[dict], fits: dict[str, dict] | None = None):
    objectives = ", ".join(dict.fromkeys(r["objective"] for r in rows))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, model in enumerate(dict.fromkeys(series(r, rows) for r in rows)):  # model, or model and masking
        mine = sorted((r for r in rows if series(r, rows) == model), key=lambda r: r["repeats"])
        x = [r["repeats"] for r in mine]
        ax.plot(x, [r["final_val_loss"] for r in mine], "o-", color=f"C{i}", label=f"{model} validation")
        ax.plot(x, [r["final_train_loss"] for r in mine], "s--", color=f"C{i}", alpha=0.6,
                label=f"{model} train (repeated subset)")
        if fits and model in fits:
            import numpy as np

            from cleancrawl.pretrain.fit import predict

            tokens = float(np.median([r["tokens_seen"] for r in mine]))
            grid = np.geomspace(min(x), max(x), 100)
            ax.plot(grid, predict(fits[model], tokens / grid, np.full_like(grid, tokens)), ":", color=f"C{i}",
                    label=f"{model} fit, R* = {fits[model]['r_star']:.3g} (published 15.4)")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("repeats of the unique data (epochs)")
    ax.set_ylabel({"span-corruption": "final loss (nats/target token)", "bert-style": "final loss (nats/target token)",
                   "mlm": "final loss (nats/masked token)", "causal-lm": "final loss (nats/token)",
                   "prefix-lm": "final loss (nats/token after the prefix)"}
                  .get(objectives, "final loss (nats per token of each objective)"))
    ax.set_title(f"Same token budget, less unique data ({objectives})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_bpb_vs_repeats(rows: list[dict]):
    """Bits per byte on each --eval text (and their mean) against repeats, per model."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    styles = ["o-", "s--", "^-.", "v:", "d-"]
    for i, model in enumerate(dict.fromkeys(r["model"] for r in rows)):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["repeats"])
        for j, key in enumerate([f"bpb_{n}" for n in eval_names(rows)] + ["bpb_mean"]):
            points = [(r["repeats"], r[key]) for r in mine if key in r]
            if points:
                ax.plot(*zip(*points), styles[j % len(styles)] if key != "bpb_mean" else "*-", color=f"C{i}",
                        alpha=0.6 if key != "bpb_mean" else 1.0, label=f"{model} {key[4:]}")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("repeats of the unique data (epochs)")
    ax.set_ylabel("bits per byte on the eval text")
    ax.set_title("Common evaluation texts (bits per byte; mean = macro average)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_curves(runs: list[Run]):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in runs if r.metrics]
    cols = min(4, max(1, len(runs)))
    rows = (len(runs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), squeeze=False, sharey=True)
    for ax, run in zip(axes.flat, runs):
        tokens = [m["tokens_seen"] for m in run.metrics]
        ax.plot(tokens, [m["train_loss"] for m in run.metrics], color="C0", lw=0.8, alpha=0.8, label="train batch")
        evals = [m for m in run.metrics if "val_loss" in m]
        ax.plot([m["tokens_seen"] for m in evals], [m["val_loss"] for m in evals], "o-", color="C3",
                ms=3, label="validation")
        repeats = run.metrics[-1]["epochs"]
        label = f"{repeats:.3g} repeat" + ("" if f"{repeats:.3g}" == "1" else "s")
        ax.set_title(f"{run.name}\n{label}" + ("" if run.summary else " (unfinished)"), fontsize=9)
        ax.set_xlabel("tokens seen", fontsize=8)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    axes.flat[0].set_ylabel("loss")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Writing


def write_report(sweep_dir: str) -> list[str]:
    """Write the table, the plots and report.html into `sweep_dir` (each atomically); return the paths
    written. The caller holds the folder's lock (`experiment repetition`, `experiment report`)."""
    runs = load_runs(sweep_dir)
    rows = result_rows(runs)
    written = []

    def path(name: str) -> str:
        written.append(os.path.join(sweep_dir, name))
        return written[-1]

    table = markdown_table(rows)
    versus = masking_table(rows)
    if versus:
        table += "\n## Static against dynamic masking\n\n" + versus
    sources = validation_sources(runs)
    unfinished = [r.name for r in runs if r.summary is None]
    notes = objective_notes(runs) + [f"Validation: {s}." for s in sources]
    if unfinished:
        notes.append(f"Unfinished runs (not in the table): {', '.join(unfinished)}.")
    fits, fit_notes = fit_models(rows)
    notes += fit_notes
    write_file(path("results.md"), "# Repetition sweep\n\n" + table + "\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    with io.StringIO(newline="") as f:
        evals = eval_names(rows)
        writer = csv.DictWriter(f, fieldnames=COLUMNS + ([f"bpb_{n}" for n in evals] + ["bpb_mean"] if evals else []))
        writer.writeheader()
        writer.writerows(rows)
        write_file(path("results.csv"), f.getvalue())

    images = {}
    if rows:
        images["val_loss_vs_repeats.png"] = _png_bytes(plot_val_loss_vs_repeats(rows, fits))
    if rows and eval_names(rows):
        images["bpb_vs_repeats.png"] = _png_bytes(plot_bpb_vs_repeats(rows))
    if any(r.metrics for r in runs):
        images["curves.png"] = _png_bytes(plot_curves(runs))
    for name, data in images.items():
        write_file(path(name), data)

    if fits:
        write_file(path("fit.json"), json.dumps(fits, indent=2) + "\n")
    elif os.path.exists(os.path.join(sweep_dir, "fit.json")):  # an earlier report's, no longer true
        os.remove(os.path.join(sweep_dir, "fit.json"))
    write_file(path("report.html"), html_page(rows, runs, notes, images))
    return written


def html_page(rows: list[dict], runs: list[Run], notes: list[str], images: dict[str, bytes]) -> str:
    head = ["model", "unique tokens", "repeats", "tokens seen", "final train loss", "final val loss",
            "gap (val − train)", "Δ val vs least repeated"]
    masking = compares_masking(rows)
    if masking:
        head.insert(1, "masking")
    bpb_keys = [f"bpb_{n}" for n in eval_names(rows)]
    if bpb_keys:
        bpb_keys.append("bpb_mean")
        head += [f"{k[4:]} bits/byte" for k in bpb_keys]
    body_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["model"], *([r["masking"]] if masking else []), f"{r['unique_tokens']:,}", f"{r['repeats']:.4g}",
            f"{r['tokens_seen']:,}",
            f"{r['final_train_loss']:.4f}", f"{r['final_val_loss']:.4f}", f"{r['gap']:+.4f}",
            f"{r['val_loss_vs_least_repeated']:+.4f}", *(f"{r[k]:.4f}" if k in r else "–" for k in bpb_keys)))
        + "</tr>\n"
        for r in rows)
    imgs = "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{base64.b64encode(data).decode()}">\n'
        for name, data in images.items())
    first = runs[0].config
    setup = (f"{first['config']['budget_tokens']:,} training tokens per run, batch "
             f"{first['tokens_per_step']:,} tokens, {first['world_size']} × {first['device']}")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Repetition sweep</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
img{{max-width:100%}}</style></head><body>
<h1>Repetition sweep</h1>
<p>Every run sees the same number of training tokens; only the amount of unique data, and so the
number of times it repeats, changes. Train loss is measured on the repeated subset, exactly as
validation loss is on held-out documents. {html.escape(setup)}.</p>
<table><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr>
{body_rows}</table>
<ul>{''.join(f'<li>{html.escape(n)}</li>' for n in notes)}</ul>
{imgs}</body></html>
"""
