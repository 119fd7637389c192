"""Turn the build's tallies into `stats.json`: the funnel, drop reasons, lines, files.

Pure data in, pure data out (the Beam side is `pipelines.accounting`). The central check is
the balance: for every input file, and in total,

    records read == documents kept + documents dropped (all stages, all reasons)

`summarize` records it as `balanced` and lists any file where it fails.
"""
from __future__ import annotations

from collections import defaultdict

# The stages and their order are the build's (pipelines.stages.STAGES): a caller passes them in
# (`stages` that ran, or the registry's `order`), so corpus/ needs no list of its own.

STATS_VERSION = 1


def summarize(tallies, file_errors=(), config: dict | None = None, splits: dict | None = None,
              stages: list[str] | None = None, order: tuple[str, ...] = ()) -> dict:
    """tallies: iterable of (key tuple, (count, bytes)) as produced by the pipeline.

    `stages`: the stages that ran, in order (default: "read" and every stage that dropped
    something, in `order`, then by name); the funnel lists those, each with documents and,
    where the stage reported them, text bytes in and out.
    """
    read_by_file: dict[str, int] = defaultdict(int)
    kept_by_file: dict[str, int] = defaultdict(int)
    dropped_by_file: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    dropped: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    kept_by_split: dict[str, dict[str, int]] = {}
    lines: dict[str, dict[str, int]] = defaultdict(dict)
    events: dict[str, dict[str, int]] = defaultdict(dict)
    flow: dict[tuple[str, str], int] = defaultdict(int)  # (stage, "in"/"out") → text bytes

    for key, (count, size) in tallies:
        kind = key[0]
        if kind == "read":
            read_by_file[key[1]] += count
        elif kind == "drop":
            _, stage, reason, source_file = key
            slot = dropped[stage].setdefault(reason, {"documents": 0, "bytes": 0})
            slot["documents"] += count
            slot["bytes"] += size
            dropped_by_file[source_file][f"{stage}/{reason}"] += count
        elif kind == "kept":
            _, split, source_file = key
            kept_by_file[source_file] += count
            slot = kept_by_split.setdefault(split, {"documents": 0, "bytes": 0})
            slot["documents"] += count
            slot["bytes"] += size
        elif kind == "lines":
            _, stage, rule = key
            lines[stage][rule] = lines[stage].get(rule, 0) + count
        elif kind == "stage":
            _, stage, direction = key
            flow[(stage, direction)] += size
        elif kind == "event":
            _, stage, name = key
            events[stage][name] = events[stage].get(name, 0) + count
        else:
            raise ValueError(f"unknown tally key {key!r}")

    files = {}
    unbalanced = []
    for source_file in sorted(set(read_by_file) | set(kept_by_file) | set(dropped_by_file)):
        n_dropped = sum(dropped_by_file[source_file].values())
        entry = {
            "read": read_by_file[source_file],
            "kept": kept_by_file[source_file],
            "dropped": dict(sorted(dropped_by_file[source_file].items())),
        }
        entry["balanced"] = entry["read"] == entry["kept"] + n_dropped
        if not entry["balanced"]:
            unbalanced.append(source_file)
        files[source_file] = entry

    total_read = sum(read_by_file.values())
    total_kept = sum(kept_by_file.values())
    total_dropped = sum(slot["documents"] for reasons in dropped.values() for slot in reasons.values())

    funnel = []
    remaining = total_read
    ran = list(stages) if stages is not None else ["read"] + [s for s in order if s in dropped and s != "read"]
    ran += sorted(set(dropped) - set(ran))  # a stage that dropped documents is always shown
    for stage in ran:
        reasons = dropped.get(stage, {})
        n = sum(slot["documents"] for slot in reasons.values())
        bytes_out = flow.get((stage, "out"))
        bytes_in = flow.get((stage, "in"))
        if bytes_in is None and bytes_out is not None and stage == "read":
            # What the reader decoded: the documents it passed on and the text it dropped.
            bytes_in = bytes_out + sum(slot["bytes"] for slot in reasons.values())
        funnel.append({
            "stage": stage,
            "in": remaining,
            "dropped": n,
            "out": remaining - n,
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
            "reasons": {r: reasons[r]["documents"] for r in sorted(reasons)},
        })
        remaining -= n
    # Stages run one after another, so a stage that reports no bytes (dedup) takes them from
    # its neighbours: what leaves one stage enters the next, and the last one's output is kept.
    kept_bytes = sum(slot["bytes"] for slot in kept_by_split.values())
    for i, step in enumerate(funnel):
        if step["bytes_in"] is None and i > 0:
            step["bytes_in"] = funnel[i - 1]["bytes_out"]
        if step["bytes_out"] is None:
            step["bytes_out"] = funnel[i + 1]["bytes_in"] if i + 1 < len(funnel) else kept_bytes

    return {
        "stats_version": STATS_VERSION,
        "config": config or {},
        "totals": {
            "read": total_read,
            "kept": total_kept,
            "dropped": total_dropped,
            "balanced": total_read == total_kept + total_dropped and not unbalanced,
            "files": len(files),
        },
        "funnel": funnel,
        "dropped": {stage: dict(sorted(reasons.items())) for stage, reasons in sorted(dropped.items())},
        "lines": {stage: dict(sorted(rules.items())) for stage, rules in sorted(lines.items())},
        "events": {stage: dict(sorted(names.items())) for stage, names in sorted(events.items())},
        "splits": {
            split: {**kept_by_split.get(split, {"documents": 0, "bytes": 0}), **(splits or {}).get(split, {})}
            for split in sorted(set(kept_by_split) | set(splits or {}))
        },
        "file_errors": sorted(file_errors, key=lambda e: (e["file"], e["reason"], e.get("detail", ""))),
        "unbalanced_files": unbalanced,
        "files": files,
    }
