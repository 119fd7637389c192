"""The plots of the HTML report: one matplotlib figure per section, every corpus in its own colour.

    plot_<section>(corpora, plt) → Figure   funnel, line_rules, lengths, languages, domains, months,
                                            duplicates, reddit, tokens
    pyplot()                                matplotlib's pyplot on the Agg backend (no display needed)
    corpus_colour(i)                        corpus i's colour, the same in every plot and in the page legend

Each reads only the corpora of the stats document (stats/SCHEMA.md); `report.sections` decides
which sections have a plot (none for a single category or for nothing to draw), and
`report.write_html` draws them to PNG. Data shown as text is escaped (`_label`): control
characters visible, `$` not read as mathtext.
"""
from __future__ import annotations

import math

from cleancrawl.corpus.safe_text import safe
from cleancrawl.stats.funnel import stage_label


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


def corpus_colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def _label(text) -> str:
    """Data as a plot label: control characters escaped, `$` not read as mathtext."""
    return safe(text).replace("$", r"\$")


def _grouped_barh(ax, labels: list[str], series: list[tuple[str, list[float], int]], xlabel: str) -> None:
    """Horizontal bars, one group per label (top to bottom), one bar per (name, values, colour)."""
    n = max(1, len(series))
    height = 0.8 / n
    for i, (name, values, colour) in enumerate(series):
        ys = [j + (i - (n - 1) / 2) * height for j in range(len(labels))]
        ax.barh(ys, values, height=height, label=_label(name), color=corpus_colour(colour))
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([_label(label) for label in labels])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    if len(series) > 1:
        ax.legend(loc="lower right")


def _with(corpora, has) -> list[tuple[int, dict]]:
    """(colour index, corpus) of the corpora that have a section: colours stay per corpus."""
    return [(i, c) for i, c in enumerate(corpora) if has(c)]


def plot_funnel(corpora, plt):
    with_funnel = _with(corpora, lambda c: c["funnel"])
    fig, axes = plt.subplots(1, len(with_funnel), figsize=(6 * len(with_funnel), 4), squeeze=False, sharey=True)
    for ax, (i, c) in zip(axes[0], with_funnel):
        f = c["funnel"]
        read = f["documents"]["read"] or 1
        stages = f["stages"]
        labels = ["records read"] + [f"after {stage_label(s['stage'])}" for s in stages]
        left = [100.0] + [100 * s["out"] / read for s in stages]
        dropped = [0.0] + [100 * s["dropped"] / read for s in stages]
        ys = range(len(labels))
        ax.barh(ys, left, color=corpus_colour(i), label="left")
        ax.barh(ys, dropped, left=left, color="#d9534f", alpha=0.7, label="dropped here")
        for y, value, s in zip(ys, left, [None] + stages):
            count = f["documents"]["read"] if s is None else s["out"]
            ax.text(1, y, f"{count:,}", va="center", ha="left", fontsize=8, color="white" if value > 15 else "black")
        ax.set_yticks(list(ys))
        ax.set_yticklabels(labels)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("% of documents read")
        ax.set_title(_label(c["name"]))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.suptitle("Documents left after each stage")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_line_rules(corpora, plt):
    with_lines = _with(corpora, lambda c: c["funnel"] and c["funnel"]["lines"])
    rules = []
    for _, c in with_lines:
        for e in c["funnel"]["lines"]:   # shares need the lines seen: groups without a kept count are left out
            rules += [(e["stage"], r["rule"]) for r in e["removed"]
                      if e["seen"] and (e["stage"], r["rule"]) not in rules]
    series = []
    for i, c in with_lines:
        values = []
        for stage, rule in rules:
            e = next((e for e in c["funnel"]["lines"] if e["stage"] == stage), None)
            n = next((r["lines"] for r in e["removed"] if r["rule"] == rule), 0) if e else 0
            values.append(100 * n / e["seen"] if e and e["seen"] else 0)
        series.append((c["name"], values, i))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rules) + 1.5))
    _grouped_barh(ax, [f"{stage_label(s)}: {r}" for s, r in rules], series, "% of lines seen by the stage")
    ax.set_title("Lines removed per rule")
    fig.tight_layout()
    return fig


def _share_per_bin(hist) -> tuple[list[float], list[float], float]:
    """Histogram → (bin edges, % of documents in each bin) for the bins from the first to the
    last non-empty one at or above 1, and the share of documents below 1 (not drawable on a
    log axis). Shares of bins, not densities: they add up to 100 % and never pass it."""
    edges, counts, n = hist["edges"], hist["counts"], hist["count"] or 1
    filled = [i for i, c in enumerate(counts) if c and edges[i] >= 1]
    xs, ys = [], []
    if filled:
        for i in range(filled[0], filled[-1] + 1):
            xs.append(edges[i])
            ys.append(100 * counts[i] / n)
        last = filled[-1]
        xs.append(edges[last + 1] if last + 1 < len(edges) else edges[-1] * 10)
    below_one = (hist.get("underflow", 0) + sum(c for e, c in zip(edges, counts) if e < 1)) / n
    return xs, ys, below_one


def _log_histograms(ax, items, xlabel: str) -> None:
    """Step histograms on a log x axis, one per (colour, name, histogram); the axis spans the
    decades that hold documents (from the decade of the smallest one), not always from 1."""
    lowest, highest = math.inf, 10
    for i, name, hist in items:
        if not hist or not hist["count"]:
            continue
        xs, ys, below = _share_per_bin(hist)
        label = _label(name) + (f" ({100 * below:.0f}% below 1)" if below else "")
        if ys:
            ax.stairs(ys, xs, label=label, color=corpus_colour(i), linewidth=1.8, fill=len(items) == 1, alpha=0.8)
            lowest = min(lowest, xs[0])
            highest = max(highest, xs[-1])
    lowest = 10 ** math.floor(math.log10(lowest)) if lowest < math.inf else 1
    ax.set_xscale("log")
    ax.set_xlim(lowest, max(highest, lowest * 10))
    ax.set_ylim(bottom=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("% of documents in the bin")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot_lengths(corpora, plt):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, measure in zip(axes, ("characters", "words", "lines")):
        _log_histograms(ax, [(i, c["name"], c["contents"]["lengths"][measure]) for i, c in enumerate(corpora)],
                        f"{measure} per document")
    fig.suptitle("Document length distributions (bins: one per value below 10, ten per decade above)")
    fig.tight_layout()
    return fig


def _top_shares(items, get, limit):
    """items: (colour, corpus). → labels of the union of top keys, series of shares in %."""
    maps = []
    for _, c in items:
        data = get(c) or {}
        if "top" in data:
            maps.append((dict(data["top"]), data["total"]))
        else:
            maps.append((data, sum(data.values())))
    keys = sorted({k for m, _ in maps for k in m},
                  key=lambda k: (-max((m.get(k, 0) / t if t else 0) for m, t in maps), str(k)))[:limit]
    series = [(c["name"], [100 * m.get(k, 0) / t if t else 0 for k in keys], i) for (i, c), (m, t) in zip(items, maps)]
    return [str(k) or "(none)" for k in keys], series


def score_bins(corpora) -> tuple[list, set]:
    """The language-score bin edges, and the bins that hold documents in any corpus."""
    hists = [c["contents"]["language_score"] for c in corpora if c["contents"]["language_score"]]
    filled = {j for h in hists for j, n in enumerate(h["counts"]) if n}
    return (hists[0]["edges"] if hists else []), filled


def scores_to_plot(corpora) -> bool:
    return len(score_bins(corpora)[1]) > 1


def plot_languages(corpora, plt):
    with_language = _with(corpora, lambda c: c["contents"]["languages"])
    labels, series = _top_shares(with_language, lambda c: c["contents"]["languages"], 15)
    scored = _with(corpora, lambda c: c["contents"]["language_score"]) if scores_to_plot(corpora) else []
    bars = len(labels) > 1   # one language only: said in a line of text, not a full bar
    fig, axes = plt.subplots(1, int(bars) + int(bool(scored)),
                             figsize=(14 if scored and bars else 8, max(3, 0.35 * len(labels) + 1.5)), squeeze=False)
    if bars:
        _grouped_barh(axes[0][0], labels, series, "% of documents")
        axes[0][0].set_title("Languages")
    if scored:
        score_ax = axes[0][-1]
        hists = [(i, c["name"], c["contents"]["language_score"]) for i, c in scored]
        edges = hists[0][2]["edges"]
        first = min(next(j for j, n in enumerate(h["counts"]) if n) for _, _, h in hists)
        labels = [f"{edges[j]:g} – {edges[j + 1]:g}" if j + 1 < len(edges) else f"≥ {edges[j]:g}"
                  for j in range(first, len(edges))]
        series = [(name, [100 * n / (h["count"] or 1) for n in h["counts"][first:]], i) for i, name, h in hists]
        _grouped_barh(score_ax, labels, series, "% of documents")
        score_ax.set_title("Language score (probability of the language)")
    fig.tight_layout()
    return fig


def plot_domains(corpora, plt):
    items = list(enumerate(corpora))
    domains, d_series = _top_shares(items, lambda c: c["contents"]["domains"], 20)
    tlds, t_series = _top_shares(items, lambda c: c["contents"]["tlds"], 15)
    with_tlds = len(tlds) > 1   # one TLD only: the table says it, a single full bar would not add to it
    fig, axes = plt.subplots(1, 2 if with_tlds else 1,
                             figsize=(14 if with_tlds else 8, max(4, 0.32 * len(domains) + 1.5)), squeeze=False)
    _grouped_barh(axes[0][0], domains, d_series, "% of documents")
    axes[0][0].set_title("Top domains")
    if with_tlds:
        _grouped_barh(axes[0][1], tlds, t_series, "% of documents")
        axes[0][1].set_title("Top-level domains")
    fig.tight_layout()
    return fig


def plot_months(corpora, plt):
    months = sorted({m for c in corpora for m in c["contents"]["months"]})
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(months) + 3), 3.5))
    n = len(corpora)
    width = 0.8 / n
    for i, c in enumerate(corpora):
        counts = c["contents"]["months"]
        total = sum(counts.values()) or 1
        xs = [j + (i - (n - 1) / 2) * width for j in range(len(months))]
        ax.bar(xs, [100 * counts.get(m, 0) / total for m in months], width=width, color=corpus_colour(i),
               label=_label(c["name"]))
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels([_label(m) for m in months], rotation=45 if len(months) > 6 else 0,
                       ha="right" if len(months) > 6 else "center")
    ax.set_ylabel("% of documents")
    ax.set_title("Documents by crawl month")
    ax.grid(axis="y", alpha=0.3)
    if n > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_duplicates(corpora, plt):
    fig, ax = plt.subplots(figsize=(8, 3.5))
    largest = 2
    for i, c in _with(corpora, lambda c: c["duplicates"] and c["duplicates"]["sizes"]):
        sizes = sorted(int(s) for s in c["duplicates"]["sizes"])
        ax.plot(sizes, [c["duplicates"]["sizes"][str(s)] for s in sizes], "o-", color=corpus_colour(i),
                label=_label(c["name"]))
        largest = max(largest, sizes[-1])
    if largest > 20:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("cluster size (documents, the kept one included)")
    ax.set_ylabel("clusters")
    ax.set_title("Duplicate cluster sizes")
    ax.grid(alpha=0.3)
    if len(corpora) > 1 and ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    return fig


def plot_reddit(corpora, plt):
    with_reddit = _with(corpora, lambda c: c["contents"]["reddit"])
    labels, series = _top_shares(with_reddit, lambda c: c["contents"]["reddit"]["subreddits"], 15)
    bars = len(labels) > 1   # one subreddit only: said in a line of text
    fig, axes = plt.subplots(1, 2 if bars else 1, figsize=(14 if bars else 8, 4), squeeze=False)
    axes = axes[0]
    _log_histograms(axes[0], [(i, c["name"], c["contents"]["reddit"]["score"]) for i, c in with_reddit],
                    "Reddit score (karma) of the best submission")
    axes[0].set_title("Reddit score")
    if bars:
        _grouped_barh(axes[1], labels, series, "% of subreddit mentions")
        axes[1].set_title("Top subreddits")
    fig.tight_layout()
    return fig


def plot_tokens(corpora, plt):
    with_tokens = _with(corpora, lambda c: c["tokens"])
    splits = sorted({s for _, c in with_tokens for s in c["tokens"]["splits"]})
    series = [(c["name"], [c["tokens"]["splits"].get(s, {}).get("tokens_per_document") or 0 for s in splits], i)
              for i, c in with_tokens]
    fig, (hist_ax, bar_ax) = plt.subplots(1, 2, figsize=(14, max(4, 0.5 * len(splits) * len(series) + 1.5)))
    _log_histograms(hist_ax, [(i, c["name"], c["tokens"].get("lengths")) for i, c in with_tokens],
                    "tokens per document (all splits)")
    hist_ax.set_title("Token length distribution")
    _grouped_barh(bar_ax, splits, series, "tokens per document (mean)")
    bar_ax.set_title("Tokens per document")
    fig.tight_layout()
    return fig
