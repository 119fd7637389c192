"""The build's funnel: what each stage read, dropped and passed on, from the build's own records.

    funnel_from_stats(stats)            the build's stats.json → FUNNEL, every stage's balance re-checked
    funnel_from_beam_counters(counters) the build's Beam counters → FUNNEL (no kept count: balance unknown)
    load_beam_metrics(path)             Beam counters as {name: value} from a JSON file (e.g. a Dataflow job's)
    compare_funnels(a, b)               do stats.json and the counters tell the same story?
    stage_label(stage)                  a stage's title in the stage registry, for tables and plots

The stage order and titles are the build's stage registry (`pipelines.stages`, Beam-free).
FUNNEL's fields: stats/SCHEMA.md.
"""
from __future__ import annotations

import json
from typing import Mapping

from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines.stages import (
    STAGE_NAMES as STAGE_ORDER,  # the build's stage registry, Beam-free
    STAGE_TITLES as STAGE_LABELS,  # the stage registry's titles
)


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage.replace("_", " "))


def funnel_from_stats(stats: dict) -> dict:
    """The build's stats.json → FUNNEL, re-checking every stage's balance from the reasons."""
    skipped = {s.replace("-", "_") for s in (stats.get("config") or {}).get("skip", [])}
    dropped = stats.get("dropped", {})
    stages = []
    for step in stats.get("funnel", []):
        stage = step["stage"]
        reasons = [{"reason": reason, "documents": slot.get("documents", 0), "bytes": slot.get("bytes", 0)}
                   for reason, slot in sorted(dropped.get(stage, {}).items())]
        entry = _stage(stage, step["in"], step["dropped"], step["out"], reasons, stage in skipped)
        # UTF-8 text bytes entering and leaving the stage (stats.json ≥ this version; else None).
        entry["bytes_in"], entry["bytes_out"] = step.get("bytes_in"), step.get("bytes_out")
        stages.append(entry)
    totals = stats.get("totals", {})
    kept_bytes = sum(s.get("bytes", 0) for s in stats.get("splits", {}).values())
    funnel = _funnel("stats.json", totals.get("read", 0), totals.get("kept", 0), stages, kept_bytes,
                     stats.get("lines", {}), stats.get("file_errors", []), stats.get("unbalanced_files", []),
                     totals.get("files", 0), stats_balanced=totals.get("balanced", True))
    funnel["events"] = stats.get("events", {})
    return funnel


def _stage(stage: str, n_in: int, n_dropped: int, n_out: int, reasons: list, skipped: bool) -> dict:
    reasons = sorted(reasons, key=lambda r: (-r["documents"], r["reason"]))
    by_reason = sum(r["documents"] for r in reasons)
    return {
        "stage": stage, "skipped": skipped, "in": n_in, "dropped": n_dropped, "out": n_out,
        "dropped_bytes": sum(r["bytes"] for r in reasons),
        "balanced": n_in == n_out + n_dropped and n_dropped == by_reason,
        "reasons": reasons,
    }


def _funnel(source, read, kept, stages, kept_bytes, lines, file_errors, unbalanced, files, stats_balanced=True) -> dict:
    dropped = sum(s["dropped"] for s in stages)
    chained = all(a["out"] == b["in"] for a, b in zip(stages, stages[1:]))
    ends = bool(stages) and stages[0]["in"] == read and (kept is None or stages[-1]["out"] == kept)
    balanced = None if kept is None else bool(
        stats_balanced and read == kept + dropped and chained and ends and all(s["balanced"] for s in stages))
    return {
        "source": source,
        "documents": {"read": read, "kept": kept, "dropped": dropped},
        "bytes": {"kept": kept_bytes, "dropped": sum(s["dropped_bytes"] for s in stages)},
        "balanced": balanced,
        "stages": stages,
        "lines": _line_rules(lines),
        "events": {},
        "files": files,
        "file_errors": list(file_errors),
        "unbalanced_files": list(unbalanced),
    }


def _line_rules(lines: Mapping[str, Mapping[str, int]]) -> list[dict]:
    """Per stage (and per method, for rules named `method:rule` such as the dedup stage's
    `c4-lines:duplicate`): lines removed by each rule, and lines seen when a `kept` count
    exists (else `seen` and `kept` are null: e.g. C4 spans count sentences)."""
    groups: dict[str, dict[str, int]] = {}
    for stage, rules in lines.items():
        for rule, n in rules.items():
            method, _, name = rule.rpartition(":")
            groups.setdefault(f"{stage} {method}" if method else stage, {})[name] = n
    out = []
    for stage, rules in sorted(groups.items()):
        removed = sorted(((r, n) for r, n in rules.items() if r != "kept"), key=lambda rn: (-rn[1], rn[0]))
        kept = rules.get("kept")
        out.append({"stage": stage, "seen": None if kept is None else kept + sum(n for _, n in removed), "kept": kept,
                    "removed": [{"rule": r, "lines": n} for r, n in removed]})
    return out


def load_beam_metrics(path: str) -> dict[str, int]:
    """Beam counters as {name: value} from a JSON file.

    Accepted: `{"read/records": 323, "clean/too_few_sentences": 6, ...}` (names with or
    without the `cleancrawl:` namespace), the same under a "counters" key, or the list that
    `gcloud dataflow metrics list JOB --format=json` prints (tentative values are skipped).
    From Python: `{r.key.metric.name: r.committed for r in result.metrics().query()["counters"]
    if r.key.metric.namespace == "cleancrawl"}`.
    """
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"--beam-metrics {path}: {err}") from None
    if isinstance(raw, dict) and isinstance(raw.get("counters"), dict):
        raw = raw["counters"]
    counters: dict[str, int] = {}
    if isinstance(raw, dict):
        items = raw.items()
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            name = entry.get("name", {})
            context = name.get("context", {}) if isinstance(name, dict) else {}
            if str(context.get("tentative", "")).lower() == "true":
                continue
            items.append((name.get("name") if isinstance(name, dict) else name, entry.get("scalar", 0)))
    else:
        raise UserError(f"--beam-metrics {path}: expected a JSON object or list of counters")
    for name, value in items:
        if isinstance(name, str) and isinstance(value, (int, float)):
            name = name.split(":", 1)[1] if name.startswith("cleancrawl:") else name
            counters[name] = counters.get(name, 0) + int(value)
    return counters


def funnel_from_beam_counters(counters: Mapping[str, int]) -> dict:
    """FUNNEL from the build's Beam counters: `read/records`, `<stage>/<reason>` and
    `<stage>/lines/<rule>`. Metrics hold no kept count, so the balance is not checkable."""
    read = counters.get("read/records", 0)
    dropped: dict[str, list] = {}
    lines: dict[str, dict[str, int]] = {}
    events: dict[str, dict[str, int]] = {}
    for name, value in counters.items():
        parts = name.split("/", 2)
        if len(parts) == 3 and parts[1] == "lines":
            lines.setdefault(parts[0], {})[parts[2]] = value
        elif len(parts) == 3 and parts[1] == "event":
            events.setdefault(parts[0], {})[parts[2]] = value
        elif len(parts) == 2 and name not in ("read/files", "read/records", "read/documents"):
            dropped.setdefault(parts[0], []).append({"reason": parts[1], "documents": value, "bytes": 0})
    stages, remaining = [], read
    for stage in list(STAGE_ORDER) + sorted(set(dropped) - set(STAGE_ORDER)):
        n = sum(r["documents"] for r in dropped.get(stage, []))
        stages.append(_stage(stage, remaining, n, remaining - n, dropped.get(stage, []), False))
        remaining -= n
    funnel = _funnel("beam_metrics", read, None, stages, 0, lines, [], [], counters.get("read/files", 0))
    funnel["events"] = {stage: dict(sorted(names.items())) for stage, names in sorted(events.items())}
    return funnel


def compare_funnels(from_stats: dict, from_metrics: dict) -> dict:
    """Do stats.json and the Beam counters tell the same story? (Retried bundles can make
    attempted counters larger than committed ones; give committed values.)"""
    differences = []
    if from_stats["documents"]["read"] != from_metrics["documents"]["read"]:
        differences.append(f"read: stats.json {from_stats['documents']['read']}, "
                           f"metrics {from_metrics['documents']['read']}")
    def reasons(funnel):
        return {(s["stage"], r["reason"]): r["documents"] for s in funnel["stages"] for r in s["reasons"]}
    a, b = reasons(from_stats), reasons(from_metrics)
    for key in sorted(set(a) | set(b)):
        if a.get(key, 0) != b.get(key, 0):
            differences.append(f"{key[0]}/{key[1]}: stats.json {a.get(key, 0)}, metrics {b.get(key, 0)}")
    return {"agree": not differences, "differences": differences}
