"""`cleancrawl plan`: the cost of a build before it runs, from a seeded sample of its files.

    plan = plan_build(config, workers_wall=100)     # config: a BuildConfig with sample > 0
    print(render_text(plan, price_cpu_hour=0.05))

The sample (`--sample N --sample-seed S`, the files `build` with the same options would read) is
built here, on the DirectRunner in this process, into a temporary folder that is deleted
afterwards. Each projection is a per-file mean times the listing's file count; its 95% interval is
mean ± 1.96·sd/√n from the sample's per-file spread, scaled by the file count, with the
finite-population correction √((N−n)/(N−1)). CPU: the process's user+system time around the sample
build, less a warm build's start-up (a second build of a one-page file that every stage keeps),
shared among the sample's files in proportion to their size; projected as per-file CPU × files +
fixed, the fixed cost being the first such build's (a process's start-up too).
"""
from __future__ import annotations

import dataclasses
import gzip
import math
import os
import resource
import shutil
import statistics
import tempfile

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.layout import split_dirs
from cleancrawl.pipelines.read import resolve_inputs

Z95 = 1.96
PROJECTED = ("pages", "kept_pages", "bytes_read", "output_bytes", "spill_bytes", "shuffle_bytes", "cpu_hours")


def _cpu_seconds() -> float:
    """User + system CPU of this process and of its finished children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def projected_total(values: list[float], population: int) -> dict:
    """Total over `population` files from the per-file `values` of a simple random sample:
    {"total", "low", "high"} (the 95% interval; None for a sample of one file of several)."""
    n, mean = len(values), statistics.fmean(values)
    total = mean * population
    if n >= population:  # every file measured: no sampling error
        return {"total": total, "low": total, "high": total}
    if n < 2:
        return {"total": total, "low": None, "high": None}
    fpc = math.sqrt((population - n) / (population - 1))
    half = Z95 * statistics.stdev(values) / math.sqrt(n) * population * fpc
    return {"total": total, "low": max(0.0, total - half), "high": total + half}


def _sizes(paths: list[str]) -> dict[str, int]:
    """Each file's size in bytes (one HEAD per http(s) URL, one stat or object lookup otherwise)."""
    sizes = {}
    for path in paths:
        found = storage.match_files(path)
        sizes[path] = found[0][1] if found else 0
    return sizes


def _output_bytes(output: str) -> int:
    return sum(size for split in split_dirs(output) for _, size in
               storage.match_files(storage.join(output, split, "*.parquet")))


_WARM_UP_TEXT = "\n".join(
    f"This short page is read first, so that every stage of the build starts up once before the sample is "
    f"measured, line {i} of it." for i in range(8))


def _warm_up_page() -> bytes:
    """One WET file of one page that every stage keeps: the fixed build goes through each stage's
    set-up (language profiles, Punkt, compiled kernels, CLD3), which a build of an empty file skips."""
    text = _WARM_UP_TEXT.encode("utf-8")
    record = (b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: https://warm-up.invalid/page\r\n"
              b"WARC-Date: 2019-04-18T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n"
              b"Content-Type: text/plain\r\nContent-Length: " + str(len(text)).encode() + b"\r\n\r\n"
              + text + b"\r\n\r\n")
    return gzip.compress(record, mtime=0)


def _timed_build(config, pipeline_args: list[str]) -> tuple[dict, float, dict]:
    """The build's stats, its CPU seconds, and the bytes it spilled and shuffled."""
    from cleancrawl.pipelines.build import run_build  # Beam is imported only when a build runs
    from cleancrawl.pipelines.shuffle_meter import shuffle_meter, spill_meter

    start = _cpu_seconds()
    with shuffle_meter() as shuffled, spill_meter(config.output) as spilled:
        stats = run_build(config, pipeline_args)
    return stats, _cpu_seconds() - start, {"shuffle": shuffled.bytes, "spill": spilled.bytes}


def plan_build(config, workers_wall: int = 1, pipeline_args: list[str] | None = None) -> dict:
    """Build `config`'s sample (`config.sample` files, seed `config.sample_seed`) and project the
    whole listing (after `config.files`): the plan as a JSON-ready dict."""
    if config.sample < 1:
        raise UserError("plan needs a sample: give --sample N, the number of files to build and measure")
    if workers_wall < 1:
        raise UserError(f"--workers-wall {workers_wall}: must be at least 1")
    pipeline_args = list(pipeline_args or [])
    if any(a.split("=", 1)[0] in ("--runner", "--direct_running_mode", "--direct_num_workers") for a in pipeline_args):
        raise UserError("plan measures its sample on this machine's DirectRunner, in one process: "
                        "give no --runner or --direct_* options")
    all_files = resolve_inputs(dataclasses.replace(config, sample=0))
    sample_files = resolve_inputs(config)  # the files `build` with the same options would read
    sizes = _sizes(sample_files)
    scratch = tempfile.mkdtemp(prefix="cleancrawl-plan-")
    try:
        empty = os.path.join(scratch, "warm-up.warc.wet.gz")
        storage.write_atomically(empty, _warm_up_page())
        build = dict(input_list=None, crawl=None, files=None, sample=0, overwrite=True, max_failed_files=1.0,
                     keep_dropped=0.0, piece=False)
        fixed = dataclasses.replace(config, inputs=[empty], output=os.path.join(scratch, "fixed"), **build)
        # The first build of a process also pays its one-time costs (imports, language profiles, Punkt,
        # compiled kernels): that is the fixed cost of a whole build; a second one is a warm build's, which
        # the sample's CPU (a warm build too) has on top of its files' work.
        _, fixed_cpu, _ = _timed_build(fixed, pipeline_args)
        _, warm_fixed_cpu, _ = _timed_build(fixed, pipeline_args)
        output = os.path.join(scratch, "sample")
        sample = dataclasses.replace(config, inputs=sample_files, output=output, **build)
        stats, sample_cpu, moved = _timed_build(sample, pipeline_args)
        output_bytes = _output_bytes(output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    n, total_files = len(sample_files), len(all_files)
    per_file = {path: stats["files"].get(path, {"read": 0, "kept": 0}) for path in sample_files}
    pages = [f["read"] for f in per_file.values()]
    kept = [f["kept"] for f in per_file.values()]
    read_bytes = [sizes[p] for p in sample_files]
    work_cpu = max(0.0, sample_cpu - warm_fixed_cpu)
    all_bytes = sum(read_bytes) or 1
    cpu = [work_cpu * b / all_bytes if sum(read_bytes) else work_cpu / n for b in read_bytes]
    kept_total = sum(kept)
    out = [output_bytes * k / kept_total if kept_total else output_bytes / n for k in kept]
    pages_total = sum(pages)
    # spill and shuffle: the sample's totals, shared among its files by pages (what both grow with)
    spill = [moved["spill"] * p / pages_total if pages_total else moved["spill"] / n for p in pages]
    shuffle = ([moved["shuffle"] * p / pages_total if pages_total else moved["shuffle"] / n for p in pages]
               if moved["shuffle"] is not None else None)

    local = not any(storage.is_remote(p) for p in all_files)
    projections = {
        "pages": projected_total(pages, total_files),
        "kept_pages": projected_total(kept, total_files),
        "bytes_read": ({"total": sum(_sizes(all_files).values()), "low": None, "high": None, "exact": True}
                       if local else projected_total(read_bytes, total_files)),
        "output_bytes": projected_total(out, total_files),
        "spill_bytes": projected_total(spill, total_files),
        "shuffle_bytes": (projected_total(shuffle, total_files) if shuffle is not None
                          else {"total": None, "low": None, "high": None}),
        "cpu_hours": {k: (None if v is None else (v + fixed_cpu) / 3600)
                      for k, v in projected_total(cpu, total_files).items()},
    }
    if local:  # every size known: the total is exact
        exact = projections["bytes_read"]["total"]
        projections["bytes_read"].update(low=exact, high=exact)
    workers = min(workers_wall, total_files)
    per_file_hours = projections["cpu_hours"]["total"] - fixed_cpu / 3600
    plan = {name: projections[name]["total"] for name in PROJECTED}
    plan.update({
        "files": total_files,
        "sampled_files": n,
        "sample_seed": config.sample_seed,
        "exact": [name for name in PROJECTED if n >= total_files or projections[name].get("exact")],
        "intervals_95": {name: [projections[name]["low"], projections[name]["high"]] for name in PROJECTED},
        "workers_wall": workers_wall,
        "wall_hours": fixed_cpu / 3600 + per_file_hours / workers,
        "sample": {
            "files": n, "pages": sum(pages), "kept_pages": kept_total, "bytes_read": sum(read_bytes),
            "output_bytes": output_bytes, "spill_bytes": moved["spill"], "shuffle_bytes": moved["shuffle"],
            "cpu_seconds": sample_cpu, "fixed_cpu_seconds": fixed_cpu, "warm_fixed_cpu_seconds": warm_fixed_cpu,
            "file_errors": len(stats["file_errors"]),
            "per_file": {p: {"pages": a, "kept_pages": b, "bytes_read": c}
                         for p, a, b, c in zip(sample_files, pages, kept, read_bytes)},
        },
        "assumptions": [
            f"a seeded sample of {n} of the {total_files:,} files (--sample-seed {config.sample_seed}), built on the "
            "DirectRunner in one process on this machine",
            f"CPU: {sample_cpu:.1f} s for the sample, less {warm_fixed_cpu:.1f} s a build's own start-up (a second "
            f"build of a one-page file), shared among the sampled files by size; projected as per-file CPU × files "
            f"+ {fixed_cpu:.1f} s fixed (the first such build: a process's start-up too)",
            "pages, kept pages, CPU and output bytes: per-file mean × files; kept pages assume dedup across files "
            "removes as much per file in the whole build as in the sample",
            "bytes read: " + ("the listed files' sizes (exact)" if local else "the sampled files' mean size × files"),
            "spill bytes (documents waiting on disk beside the output while dedup shuffles keys; gone at the end) "
            "and shuffle bytes (what the DirectRunner's grouping buffers received: every GroupByKey's input): the "
            "sample's, shared among its files by pages; a runner that groups otherwise (Dataflow) moves about as "
            "much",
            f"wall time: CPU-bound, the per-file work split evenly over {workers} worker(s) "
            "(no shuffle, network or start-up overhead per worker)",
            "95% intervals: mean ± 1.96·sd/√n of the per-file figures × files, finite-population corrected",
        ],
    })
    return plan


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _money(v: float) -> str:
    return f"${v:,.2f}" if v >= 1 else f"${v:.4f}"


def _cpu_hours(h: float) -> str:
    return f"{h:,.0f}" if h >= 100 else f"{h:.3g}"


def _hours(h: float) -> str:
    return f"{h * 3600:.1f} s" if h < 1 / 60 else f"{h * 60:.1f} min" if h < 1 else f"{h:,.1f} h"


def render_text(plan: dict, price_cpu_hour: float | None = None) -> str:
    """The plan as the terminal shows it."""
    show = {"pages": lambda v: f"{v:,.0f}", "kept_pages": lambda v: f"{v:,.0f}", "bytes_read": _size,
            "output_bytes": _size, "spill_bytes": _size, "shuffle_bytes": _size, "cpu_hours": _cpu_hours}
    labels = {"pages": "pages", "kept_pages": "kept pages", "bytes_read": "bytes read", "output_bytes": "output",
              "spill_bytes": "spill", "shuffle_bytes": "shuffle", "cpu_hours": "CPU-hours"}
    sample = plan["sample"]
    lines = [f"plan: {plan['files']:,} file(s), projected from a sample of {plan['sampled_files']} "
             f"(seed {plan['sample_seed']})",
             f"  {'':<12} {'sample':>12} {'projected':>14}   95% interval"]
    measured = dict(sample, cpu_hours=sample["cpu_seconds"] / 3600)
    for name in PROJECTED:
        if plan[name] is None:  # shuffle bytes where the runner's buffers could not be metered
            lines.append(f"  {labels[name]:<12} {'n/a':>12} {'n/a':>14}")
            continue
        low, high = plan["intervals_95"][name]
        interval = "n/a (one file)" if low is None else "exact" if name in plan["exact"] else f"{show[name](low)} – " \
            f"{show[name](high)}"
        lines.append(f"  {labels[name]:<12} {show[name](measured[name]):>12} {show[name](plan[name]):>14}   {interval}")
    lines.append(f"  wall time at {plan['workers_wall']} worker(s): {_hours(plan['wall_hours'])}")
    if price_cpu_hour is not None:
        low, high = plan["intervals_95"]["cpu_hours"]
        price = price_cpu_hour
        span = "" if low is None or low == high else f" (95%: {_money(low * price)} – {_money(high * price)})"
        lines.append(f"  cost at ${price:g}/CPU-hour: {_money(plan['cpu_hours'] * price)}{span}")
    lines.append("assumptions:")
    lines += [f"  - {a}" for a in plan["assumptions"]]
    return "\n".join(lines) + "\n"
