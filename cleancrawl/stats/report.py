"""Showing corpus stats: terminal tables, the JSON file, and an offline HTML report with plots.

Everything here reads only the stats document of `cleancrawl.stats.collect` (its schema:
stats/SCHEMA.md), so a report can be redrawn from a saved JSON. With several corpora every table
has a column (group) per corpus and every plot draws them together, in the same colours.

    sections(doc)            → [Section(title, tables, plot)]: what every output shows
    render_text(doc)         → the terminal tables, one string
    write_json(doc, path)    → the stats document, beside (never over) a build's own stats.json
    write_html(doc, folder)  → folder/index.html + one PNG per plot (`stats.plots`: matplotlib, Agg) + stats.json

Both write only where `cleancrawl.stats.output` allows: never into a corpus being read or any
cleancrawl output folder, never over a file `cleancrawl stats` did not write, over an earlier
report only with overwrite; atomically, and a place that cannot be written is one line.

The HTML needs no network: no external CSS, fonts or scripts. A small inline script marks
on <body> how many images loaded (`data-images`, `data-images-loaded`), which the test
reads from headless Chromium.
"""
from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass, field

from cleancrawl import storage
from cleancrawl.corpus.safe_text import safe
from cleancrawl.stats import output
from cleancrawl.stats.funnel import stage_label
from cleancrawl.stats.plots import (
    corpus_colour,
    plot_domains,
    plot_duplicates,
    plot_funnel,
    plot_languages,
    plot_lengths,
    plot_line_rules,
    plot_months,
    plot_reddit,
    plot_tokens,
    pyplot,
    score_bins,
    scores_to_plot,
)


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list]                    # cells: str, int, float or None
    note: str = ""


@dataclass
class Section:
    key: str                            # anchor and PNG file name
    title: str
    tables: list[Table] = field(default_factory=list)
    plot: object = None                 # callable(corpora, pyplot) -> matplotlib Figure, or None
    lines: list[str] = field(default_factory=list)   # one-line findings shown instead of a plot


# ---------------------------------------------------------------------------- formatting

def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2e}"
    return safe(value)  # crawl data (domains, URLs, subreddits, file names): no control characters


def share(n: int | None, total: int | None) -> str:
    if n is None:
        return "–"
    if not total:
        return fmt(n)
    return f"{n:,} ({100 * n / total:.1f}%)"


# ---------------------------------------------------------------------------- tables

def overview_table(corpora) -> Table:
    def row(label, get):
        return [label] + [get(c) for c in corpora]

    def per_doc(c, key):
        n = c["contents"]["documents"]
        return c["contents"][key] / n if n else None

    rows = [
        row("documents", lambda c: c["contents"]["documents"]),
        row("characters", lambda c: c["contents"]["characters"]),
        row("words", lambda c: c["contents"]["words"]),
        row("lines", lambda c: c["contents"]["lines"]),
        row("text bytes (UTF-8)", lambda c: c["contents"]["bytes"]),
        row("words / document", lambda c: per_doc(c, "words")),
        row("characters / word",
            lambda c: c["contents"]["characters"] / c["contents"]["words"] if c["contents"]["words"] else None),
    ]
    splits = sorted({s for c in corpora for s in c["contents"]["splits"]})
    if any("/" in split for split in splits):  # --per-language: each split summed over the language folders
        def summed(c, name):
            found = [v for s, v in c["contents"]["splits"].items() if s.rpartition("/")[2] == name]
            return (f"{sum(v['documents'] for v in found):,} ({sum(v['shards'] for v in found)})"
                    if found else None)

        rows.append(row("language folders", lambda c: len({s.partition("/")[0] for s in c["contents"]["splits"]
                                                            if "/" in s}) or None))
        for name in sorted({s.rpartition("/")[2] for s in splits}, key=lambda n: (n != "train", n)):
            rows.append(row(f"{name}: documents (shards), all languages", lambda c, n=name: summed(c, n)))
        splits = []
    for split in splits:
        rows.append(row(f"{split}: documents (shards)", lambda c, s=split: (
            f"{c['contents']['splits'][s]['documents']:,} ({c['contents']['splits'][s]['shards']})"
            if s in c["contents"]["splits"] else None)))
    rows.append(row("shards scanned / listed",
                    lambda c: f"{c['contents']['shards']['scanned']} / {c['contents']['shards']['listed']}"))
    rows.append(row("distinct domains", lambda c: c["contents"]["domains"]["distinct"]))
    if any(c["tokens"] for c in corpora):
        rows.append(row("tokens", lambda c: c["tokens"]["tokens"] if c["tokens"] else None))
    if any(c.get("build") for c in corpora):
        rows.append(row("built with cleancrawl", lambda c: (c.get("build") or {}).get("cleancrawl_version")))
        rows.append(row("build finished (UTC)", lambda c: _when((c.get("build") or {}).get("finished_at"))))
    if any(c["funnel"] for c in corpora):
        rows.append(row("kept / read (funnel)", lambda c: (
            share(c["funnel"]["documents"]["kept"], c["funnel"]["documents"]["read"]) if c["funnel"] else None)))
    return Table("Overview", ["", *_corpus_names(corpora)], rows)


def _corpus_names(corpora) -> list[str]:
    return [c["name"] for c in corpora]


def funnel_table(corpora) -> Table:
    """Per stage and corpus: documents dropped, documents left, and what is left of the read."""
    with_funnel = [c for c in corpora if c["funnel"]]
    stages = []
    for c in with_funnel:
        for s in c["funnel"]["stages"]:
            if s["stage"] not in stages:
                stages.append(s["stage"])
    headers = ["stage"]
    for c in with_funnel:
        prefix = f"{c['name']}: " if len(with_funnel) > 1 else ""
        headers += [f"{prefix}in", f"{prefix}dropped", f"{prefix}out", f"{prefix}% of read", f"{prefix}text bytes out",
                    f"{prefix}balanced"]
    rows = []
    for stage in stages:
        row = [stage_label(stage)]
        for c in with_funnel:
            step = next((s for s in c["funnel"]["stages"] if s["stage"] == stage), None)
            read = c["funnel"]["documents"]["read"]
            if step is None:
                row += [None] * 6
                continue
            skipped = " (skipped)" if step["skipped"] else ""
            row += [step["in"], f"{step['dropped']:,}{skipped}", step["out"],
                    f"{100 * step['out'] / read:.1f}%" if read else None, step.get("bytes_out"), step["balanced"]]
        rows.append(row)
    total = ["kept"]
    for c in with_funnel:
        f = c["funnel"]
        total += [f["documents"]["read"], f["documents"]["dropped"], f["documents"]["kept"],
                  f"{100 * f['documents']['kept'] / f['documents']['read']:.1f}%"
                  if f["documents"]["read"] and f["documents"]["kept"] is not None else None,
                  f["bytes"]["kept"], f["balanced"]]
    rows.append(total)
    notes = [f"{c['name']}: from {c['funnel']['source']}; {fmt(c['funnel']['bytes']['kept'])} text bytes kept, "
             f"{fmt(c['funnel']['bytes']['dropped'])} dropped" for c in with_funnel]
    return Table("Funnel: documents at each stage", headers, rows, note="; ".join(notes))


def drop_reasons_table(corpora) -> Table:
    with_funnel = [c for c in corpora if c["funnel"]]
    keys = []
    for c in with_funnel:
        for s in c["funnel"]["stages"]:
            for r in s["reasons"]:
                if (s["stage"], r["reason"]) not in keys:
                    keys.append((s["stage"], r["reason"]))
    headers = ["stage", "reason"]
    for c in with_funnel:
        prefix = f"{c['name']}: " if len(with_funnel) > 1 else ""
        headers += [f"{prefix}documents (% of read)", f"{prefix}text bytes"]
    rows = []
    for stage, reason in keys:
        row = [stage_label(stage), reason]
        for c in with_funnel:
            found = [r for s in c["funnel"]["stages"] if s["stage"] == stage
                     for r in s["reasons"] if r["reason"] == reason]
            read = c["funnel"]["documents"]["read"]
            row += [share(found[0]["documents"], read), found[0]["bytes"]] if found else [None, None]
        rows.append(row)
    return Table("Drop reasons", headers, rows)


def line_rules_table(corpora) -> Table | None:
    with_lines = [c for c in corpora if c["funnel"] and c["funnel"]["lines"]]
    if not with_lines:
        return None
    keys = []
    for c in with_lines:
        for entry in c["funnel"]["lines"]:
            for r in entry["removed"] + [{"rule": "kept"}]:
                if (entry["stage"], r["rule"]) not in keys:
                    keys.append((entry["stage"], r["rule"]))
    keys.sort(key=lambda k: k[1] == "kept")
    headers = ["stage", "rule"] + [f"{c['name']}: lines (% of seen)" if len(with_lines) > 1 else "lines (% of seen)"
                                   for c in with_lines]
    rows = []
    for stage, rule in keys:
        row = [stage_label(stage), "kept (not removed)" if rule == "kept" else rule]
        for c in with_lines:
            entry = next((e for e in c["funnel"]["lines"] if e["stage"] == stage), None)
            if entry is None:
                row.append(None)
                continue
            n = (entry["kept"] if rule == "kept"
                 else next((r["lines"] for r in entry["removed"] if r["rule"] == rule), 0))
            row.append(share(n, entry["seen"]))
        rows.append(row)
    return Table("Lines removed per line rule", headers, rows)


def events_table(corpora) -> Table | None:
    """The build's other counts (charsets repaired, bytes removed by line dedup, ...)."""
    keys = sorted({(stage, name) for c in corpora if c["funnel"] for stage, names in c["funnel"]["events"].items()
                   for name in names})
    if not keys:
        return None
    rows = [[stage_label(stage), name] + [c["funnel"]["events"].get(stage, {}).get(name) if c["funnel"] else None
                                           for c in corpora] for stage, name in keys]
    return Table("Other counts of the build", ["stage", "event", *_corpus_names(corpora)], rows)


def lengths_table(corpora) -> Table:
    rows = []
    for measure in ("characters", "words", "lines"):
        for stat in ("min", "p50", "p90", "p99", "max", "mean"):
            label = f"{measure} / document {stat}" + (" ≈" if stat.startswith("p") else "")
            values = [c["contents"]["lengths"][measure][stat] for c in corpora]
            if stat != "mean":   # lengths are whole numbers; interpolated quantiles are not
                values = [None if v is None else int(round(v)) for v in values]
            rows.append([label] + values)
    return Table("Document lengths", ["", *_corpus_names(corpora)], rows,
                 note="≈: quantiles from fixed histogram bins (exact below 10, ~20% wide bins above)")


def ranked_table(title: str, corpora, get, limit: int, key_header: str) -> Table | None:
    """Union of each corpus's top entries; each cell is count (share of that corpus)."""
    maps = []
    for c in corpora:
        data = get(c)
        if data is None:
            maps.append(({}, 0))
        elif "top" in data:
            maps.append((dict(data["top"]), data["total"]))
        else:
            maps.append((data, sum(data.values())))
    if not any(m for m, _ in maps):
        return None
    def best_share(key):
        return max((m.get(key, 0) / total if total else 0) for m, total in maps)
    keys = sorted({k for m, _ in maps for k in m}, key=lambda k: (-best_share(k), str(k)))[:limit]
    rows = [[k] + [share(m.get(k, 0), total) if total else None for m, total in maps] for k in keys]
    distinct = [get(c)["distinct"] if get(c) and "distinct" in get(c) else len(get(c) or {}) for c in corpora]
    note = "distinct: " + ", ".join(f"{c['name']} {d:,}" for c, d in zip(corpora, distinct))
    return Table(title, [key_header, *_corpus_names(corpora)], rows, note=note)


def months_table(corpora) -> Table | None:
    table = ranked_table("Documents by month (crawl date)", corpora, lambda c: c["contents"]["months"], 10_000, "month")
    if table:
        table.rows.sort(key=lambda r: str(r[0]))   # by month, not by count
    return table


def histogram_table(title: str, corpora, get, decimals: int | None = None) -> Table | None:
    """count, min, quantiles, max, mean of one histogram per corpus; `decimals` fixes the
    shown precision (language scores live between 0.99 and 1)."""
    histograms = [get(c) for c in corpora]
    if not any(histograms):
        return None
    rows = []
    for stat in ("count", "min", "p50", "p90", "p99", "max", "mean"):
        values = [h[stat] if h else None for h in histograms]
        if decimals is not None and stat != "count":
            places = max(decimals, 2) if stat == "mean" else decimals
            values = [None if v is None else f"{v:,.{places}f}" for v in values]
        rows.append([stat + (" ≈" if stat.startswith("p") else "")] + values)
    return Table(title, ["", *_corpus_names(corpora)], rows)


def duplicates_table(corpora) -> Table | None:
    dups = [c["duplicates"] for c in corpora]
    if not any(dups):
        return None
    sizes = sorted({int(s) for d in dups if d for s in d["sizes"]})
    rows = [
        ["side-output files"] + [d["files"] if d else None for d in dups],
        ["rows (documents removed)"] + [d["rows"] if d else None for d in dups],
        ["cluster key column"] + [d["key_column"] if d else None for d in dups],
        ["clusters"] + [d["clusters"] if d else None for d in dups],
        ["documents in clusters"] + [d["documents_in_clusters"] if d else None for d in dups],
    ]
    rows += [[f"clusters of size {s}"] + [d["sizes"].get(str(s), 0) if d else None for d in dups] for s in sizes[:30]]
    return Table("Duplicate clusters (dedup side output)", ["", *_corpus_names(corpora)], rows)


def tokens_table(corpora) -> Table | None:
    if not any(c["tokens"] for c in corpora):
        return None
    splits = sorted({s for c in corpora if c["tokens"] for s in c["tokens"]["splits"]})
    rows = []
    for split in splits:
        for stat in ("documents", "tokens", "tokens_per_document", "characters_per_token"):
            rows.append([f"{split}: {stat.replace('_', ' ')}"] + [
                c["tokens"]["splits"].get(split, {}).get(stat) if c["tokens"] else None for c in corpora])
        for q in ("p50", "p90", "p99", "max"):
            rows.append([f"{split}: tokens per document {q}{' ≈' if q != 'max' else ''}"] + [
                _round_quantile(((c["tokens"]["splits"].get(split) or {}).get("lengths") or {}).get(q))
                if c["tokens"] else None for c in corpora])
    rows.append(["tokenizer"] + [_tokenizer_label(c["tokens"]) for c in corpora])
    return Table("Tokens (from the token manifest; each document counts its end-of-document token)",
                 ["", *_corpus_names(corpora)], rows)


def _round_quantile(value):
    return None if value is None else round(value)


def _tokenizer_label(tokens) -> str | None:
    if not tokens:
        return None
    info = tokens.get("tokenizer") or {}
    parts = [str(info[k]) for k in ("kind", "type", "name", "vocab_size") if k in info]
    return " ".join(parts) or "?"


def problems_table(corpora) -> Table | None:
    rows = [[c["name"], p] for c in corpora for p in c["problems"]]
    for c in corpora:
        if c["beam_metrics_check"] and not c["beam_metrics_check"]["agree"]:
            rows += [[c["name"], f"Beam metrics differ from stats.json: {d}"]
                     for d in c["beam_metrics_check"]["differences"]]
        if c["funnel"]:
            rows += [[c["name"], f"unreadable input: {e['file']}: {e['reason']}"] for e in c["funnel"]["file_errors"]]
    return Table("Problems", ["corpus", "problem"], rows) if rows else None


def build_table(corpora) -> Table | None:
    """How each corpus was built: cleancrawl version, finish time and the resolved config (stats.json)."""
    builds = [c.get("build") for c in corpora]
    if not any(builds):
        return None
    flat = [_flatten_config(b["config"]) if b else {} for b in builds]
    keys = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    rows = [["cleancrawl version"] + [b.get("cleancrawl_version") if b else None for b in builds],
            ["finished (UTC)"] + [_when(b.get("finished_at")) if b else None for b in builds]]
    rows += [[key] + [f.get(key) for f in flat] for key in keys]
    return Table("Build", ["", *_corpus_names(corpora)], rows, note="from each build's stats.json")


def _when(iso: str | None) -> str | None:
    return iso.replace("T", " ").replace("+00:00", "") if iso else None


def _flatten_config(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten_config(value, name + "."))
        elif isinstance(value, (list, tuple)):
            out[name] = ", ".join(map(str, value)) if value else "–"
        elif value is None or value == "":
            out[name] = "–"
        elif isinstance(value, bool):
            out[name] = "yes" if value else "no"
        else:
            out[name] = value if isinstance(value, (int, float)) else str(value)
    return out


SAMPLE_CHARS = 160


def _one_line(text: str, limit: int = SAMPLE_CHARS) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def samples_table(corpora) -> Table | None:
    """A few documents kept, and the first few removed for each reason (build --keep-dropped)."""
    if not any(c.get("kept_examples") or c.get("dropped") for c in corpora):
        return None
    several = len(corpora) > 1
    rows = []
    for c in corpora:
        first = [c["name"]] if several else []
        for example in c.get("kept_examples") or []:
            rows.append(first + ["kept", "", example["url"], _one_line(example["text"])])
        for reason in (c.get("dropped") or {}).get("reasons", []):
            for example in reason["examples"]:
                why = reason["reason"] + (f" ({_one_line(example['detail'], 60)})" if example["detail"] else "")
                rows.append(first + [f"dropped: {stage_label(reason['stage'])}", why, example["url"],
                                     _one_line(example["text"])])
    notes = []
    for c in corpora:
        fraction = ((c.get("build") or {}).get("config") or {}).get("keep_dropped")
        if c.get("dropped"):
            sample = f" (a {fraction:g} sample)" if fraction and fraction < 1 else ""
            notes.append(f"{c['name']}: {c['dropped']['rows']:,} dropped documents in dropped/{sample}; "
                         "the first by URL for each reason")
        elif c.get("funnel"):
            notes.append(f"{c['name']}: no dropped/ folder: build with --keep-dropped to see what each reason removed")
    return Table("Sample documents", (["corpus"] if several else []) + ["kept / dropped at", "reason", "url", "text"],
                 rows, note="; ".join(notes))


def domain_drops_table(corpora) -> Table | None:
    """Per top domain of the dropped documents: how many were dropped, why, and how many kept."""
    with_dropped = [c for c in corpora if c.get("dropped") and c["dropped"]["domains"]]
    if not with_dropped:
        return None
    several = len(with_dropped) > 1
    rows = []
    for c in with_dropped:
        kept = dict((c["contents"]["domains"] or {}).get("top") or [])
        for entry in c["dropped"]["domains"]:
            reasons = ", ".join(f"{_reason_label(k)} {n:,}" for k, n in entry["reasons"].items())
            rows.append(([c["name"]] if several else []) + [entry["domain"], kept.get(entry["domain"], 0),
                                                            entry["documents"], reasons])
    return Table("Drop reasons per top domain",
                 (["corpus"] if several else []) + ["domain", "kept", "dropped", "reasons"],
                 rows, note="domains with the most documents in dropped/; kept: documents in the corpus "
                            "(0 also when the domain is outside the top list)")


def _reason_label(stage_reason: str) -> str:
    stage, _, reason = stage_reason.partition("/")
    return f"{stage_label(stage)}: {reason}"


def _single_score_bin(corpora) -> str | None:
    edges, filled = score_bins(corpora)
    if len(filled) != 1:
        return None
    j = next(iter(filled))
    return f"{edges[j]:g} – {edges[j + 1]:g}" if j + 1 < len(edges) else f"≥ {edges[j]:g}"


def _single_category(corpora, get) -> str | None:
    """The one key of a ranked map when every corpus has only that key (100% en): nothing to plot."""
    keys = set()
    for c in corpora:
        data = get(c) or {}
        keys |= {k for k, _ in data["top"]} if "top" in data else set(data)
        if "top" in data and data.get("other"):
            return None
    return next(iter(keys)) if len(keys) == 1 else None


# ---------------------------------------------------------------------------- sections

def _reddit(c) -> dict:
    return c["contents"]["reddit"] or {}


def sections(doc) -> list[Section]:
    """What every output shows, in order; a section without data is left out."""
    corpora = doc["corpora"]
    out = [Section("overview", "Overview", [overview_table(corpora)])]
    if any(c["funnel"] for c in corpora):
        tables = [funnel_table(corpora), drop_reasons_table(corpora)]
        out.append(Section("funnel", "Funnel: what each stage removed", tables, plot=plot_funnel))
        lines = line_rules_table(corpora)
        if lines:
            out.append(Section("lines", "Lines removed by the line rules", [lines], plot=plot_line_rules))
        events = events_table(corpora)
        if events:
            out[-1].tables.append(events)
    out.append(Section("lengths", "Document lengths", [lengths_table(corpora)], plot=plot_lengths))
    languages = ranked_table("Languages", corpora, lambda c: c["contents"]["languages"], 20, "language")
    if languages:
        tables = [languages]
        score = histogram_table("Language score", corpora, lambda c: c["contents"]["language_score"], decimals=6)
        if score:
            tables.append(score)
        only = _single_category(corpora, lambda c: c["contents"]["languages"])
        score_bin = _single_score_bin(corpora)
        section = Section("languages", "Languages", tables,
                          plot=plot_languages if only is None or scores_to_plot(corpora) else None)
        if only is not None:
            section.lines.append(f"Every document has language {only}.")
        if score_bin:
            section.lines.append(f"Every language score is in {score_bin}.")
        out.append(section)
    domains = ranked_table("Top domains (registered domain)", corpora, lambda c: c["contents"]["domains"], 25, "domain")
    if domains:
        tlds = ranked_table("Top-level domains", corpora, lambda c: c["contents"]["tlds"], 15, "TLD")
        out.append(Section("domains", "Domains", [domains, tlds], plot=plot_domains))
    months = months_table(corpora)
    if months:
        only = _single_category(corpora, lambda c: c["contents"]["months"])
        section = Section("months", "Crawl dates", [months], plot=plot_months if only is None else None)
        if only is not None:
            section.lines.append(f"Every document was crawled in {only}.")
        out.append(section)
    dups = duplicates_table(corpora)
    if dups:
        sized = any(c["duplicates"] and c["duplicates"]["sizes"] for c in corpora)
        section = Section("duplicates", "Duplicates", [dups], plot=plot_duplicates if sized else None)
        if not sized:
            section.lines.append("No duplicate clusters to plot (the side output has no cluster key column, "
                                 "or no rows).")
        out.append(section)
    if any(c["contents"]["reddit"] for c in corpora):
        tables = [histogram_table("Reddit score (karma) of the documents' best submission", corpora,
                                  lambda c: _reddit(c).get("score"), decimals=0),
                  histogram_table("Reddit submissions of the documents' URLs", corpora,
                                  lambda c: _reddit(c).get("submissions"), decimals=0)]
        subs = ranked_table("Top subreddits", corpora, lambda c: _reddit(c).get("subreddits"), 15, "subreddit")
        if subs:
            tables.append(subs)
        section = Section("reddit", "Reddit (WebText-like selection)", tables, plot=plot_reddit)
        only = _single_category(corpora, lambda c: _reddit(c).get("subreddits"))
        if only is not None:
            section.lines.append(f"Every submission is in r/{only}.")
        out.append(section)
    tokens = tokens_table(corpora)
    if tokens:
        out.append(Section("tokens", "Tokens", [tokens], plot=plot_tokens))
    samples = samples_table(corpora)
    if samples:
        tables = [samples]
        by_domain = domain_drops_table(corpora)
        if by_domain:
            tables.append(by_domain)
        out.append(Section("samples", "Sample documents", tables))
    build = build_table(corpora)
    if build:
        out.append(Section("build", "Build configuration", [build]))
    problems = problems_table(corpora)
    if problems:
        out.append(Section("problems", "Problems", [problems]))
    return out


# ---------------------------------------------------------------------------- terminal

def render_table(table: Table) -> str:
    cells = [[fmt(v) for v in row] for row in table.rows]
    headers = [safe(h) for h in table.headers]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    # Numbers right-aligned, words left; the first column (the row's label) always left.
    numeric_column = [i > 0 and any(_is_numberish(r[i]) for r in cells) for i in range(len(widths))]

    def line(values, header=False):
        return "  ".join(
            v.rjust(w) if i and (_is_numberish(v) or (header and numeric_column[i])) else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    out = [safe(table.title), line(headers, header=True), "  ".join("─" * w for w in widths)]
    out += [line(r) for r in cells] or ["(none)"]
    if table.note:
        out.append(safe(table.note))
    return "\n".join(out)


def _is_numberish(text: str) -> bool:
    return text == "–" or text[:1].isdigit() or text[:1] == "-"


def render_text(doc) -> str:
    header = "  ".join(f"[{safe(c['name'])}] {safe(c['path'])}" for c in doc["corpora"])
    blocks = [header]
    for section in sections(doc):
        for table in section.tables:
            blocks.append(render_table(table))
        blocks += [safe(line) for line in section.lines]
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------------------- JSON

def json_bytes(doc) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_json(doc, path: str, overwrite: bool = False, inputs=()) -> None:
    """The stats document to `path` (local, gs:// or s3://), written atomically. Refused in one
    line (`output.check_json_path`): a path in an input or in any cleancrawl output folder, a file
    that `cleancrawl stats` did not write, an earlier stats document unless `overwrite`."""
    output.check_json_path(path, overwrite, inputs)
    output.write_file(path, json_bytes(doc), "--json")


# ---------------------------------------------------------------------------- HTML

_CSS = """
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1200px;
       color: #222; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 4px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f6f6f6; } td:first-child, th:first-child, th.text { text-align: left; }
td.text { text-align: left; white-space: normal; max-width: 420px; overflow-wrap: anywhere; }
.note { color: #666; font-size: 12px; margin: 2px 0 10px; }
img { max-width: 100%; border: 1px solid #eee; margin: 8px 0; }
.finding { font-style: italic; margin: 6px 0 10px; }
nav a { margin-right: 12px; } .bad { color: #c9302c; font-weight: bold; }
.corpus { display: inline-block; margin-right: 18px; } .swatch { display: inline-block; width: 12px; height: 12px;
          margin-right: 4px; vertical-align: middle; }
"""

_LOAD_SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.setAttribute('data-images', String(images.length));
  document.body.setAttribute('data-images-loaded', String(loaded.length));
});
"""


def _h(text) -> str:
    """Data as HTML text: control and bidi characters as visible escapes, then HTML-escaped."""
    return html.escape(safe(text), quote=True)


def _html_table(table: Table) -> str:
    texts = [[fmt(v) for v in row] for row in table.rows]
    wordy = [i > 0 and not any(_is_numberish(r[i]) for r in texts if r[i] != "–") and any(r[i] != "–" for r in texts)
             for i in range(len(table.headers))]
    head = "".join(f'<th{" class=text" if w else ""}>{_h(h)}</th>' for h, w in zip(table.headers, wordy))
    body = []
    for row in table.rows:
        cells = []
        for value in row:
            text = _h(fmt(value))
            cls = ' class="bad"' if value is False else (' class="text"' if not _is_numberish(text) else "")
            cells.append(f"<td{cls}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="note">{_h(table.note)}</p>' if table.note else ""
    return (f"<h3>{_h(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body) or '<tr><td>(none)</td></tr>'}</tbody></table>{note}")


def write_html(doc, folder: str, overwrite: bool = False, inputs=()) -> str:
    """Write folder/index.html, its PNG plots and stats.json; returns the index path.

    The folder is the report's own (`output.ReportLayout`): refused when it lies in an input or
    a cleancrawl output folder or holds anything the report did not write; an earlier report is
    replaced only with `overwrite`. Plots are drawn first, then the folder's lock is taken and
    each file written atomically, index.html last."""
    plt = pyplot()
    corpora = doc["corpora"]
    parts, images = [], {}
    all_sections = sections(doc)
    for section in all_sections:
        block = [f'<h2 id="{section.key}">{_h(section.title)}</h2>']
        block += [_html_table(t) for t in section.tables]
        block += [f'<p class="finding">{_h(line)}</p>' for line in section.lines]
        if section.plot is not None:
            fig = section.plot(corpora, plt)
            name = f"{section.key}.png"
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=100, bbox_inches="tight", metadata=output.PNG_METADATA)
            plt.close(fig)
            images[name] = png.getvalue()
            block.append(f'<img src="{name}" alt="{_h(section.title)}">')
        parts.append("\n".join(block))
    legend = "".join(
        f'<span class="corpus"><span class="swatch" style="background:{corpus_colour(i)}"></span>'
        f"<b>{_h(c['name'])}</b> <code>{_h(c['path'])}</code></span>" for i, c in enumerate(corpora))
    nav = "".join(f'<a href="#{s.key}">{_h(s.title.split(":")[0])}</a>' for s in all_sections)
    title = "cleancrawl stats: " + " vs ".join(c["name"] for c in corpora)
    schema_note = (f"schema_version {doc['schema_version']}; the same numbers are in {output.REPORT_JSON} "
                   "beside this page.")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">{output.HTML_GENERATOR}<title>{_h(title)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{_h(title)}</h1>
<p>{legend}</p>
<nav>{nav}</nav>
{"".join(parts)}
<p class="note">{schema_note}</p>
<script>{_LOAD_SCRIPT}</script>
</body></html>
"""
    index = storage.join(folder, output.INDEX)
    with output.report_folder(folder, overwrite, inputs):
        for name, data in images.items():
            output.write_file(storage.join(folder, name), data, "--html")
        output.write_file(storage.join(folder, output.REPORT_JSON), json_bytes(doc), "--html")
        output.write_file(index, page.encode("utf-8"), "--html")  # last: its presence means a whole report
    return index
