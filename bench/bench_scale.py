"""The default build at crawl scale: pages per CPU-second, peak memory and its growth, shuffle
bytes, and the projected cost of one Common Crawl snapshot, beside the reference C4 code.

    .venv/bin/python bench/bench_scale.py                      # 21,000 / 42,000 / 85,000 pages, 1 and 2 workers
    .venv/bin/python bench/bench_scale.py --quick              # 2,000 / 4,000 pages (development)
    .venv/bin/python bench/bench_scale.py --sizes 10000,21000 --workers 1 [--skip-reference] [--workdir DIR]
    .venv/bin/python bench/bench_scale.py --workers 1 --dedup default,minhash,c4-lines,none --crawls duplicates
    .venv/bin/python bench/bench_scale.py --tree /tmp/before --out scale-before.json ...   # a baseline, then:
    .venv/bin/python bench/bench_scale.py --compare bench/out/scale-before.json ...       # side by side with it

Input: the 323 real pages of the bundled sample crawl replicated to N pages (bench/scale_data.py:
each replica gets its own host, `r17.www.example.com`, so URL dedup keeps it, and one replica word
inserted after the 4th word of every line and every 8 words further, so C4's repeated-line dedup
and MinHash do not collapse the replicas into one page; the build then keeps about as many pages
per replica as it keeps of the sample itself, which the output shows). Gzipped WET files of 5,000
pages each, generated once per size into --workdir (default: a temporary folder) and reused.
--crawls also builds (default) the duplicate-heavy crawl of the same sizes (bench/scale_data.py,
kind "duplicates"): 667 real pages each copied onto ~64-128 hosts (63 copies at 42,000 pages, 128 at
85,000), the text unchanged, as clusters of near-copies (templates, mirrors, syndicated news) recur
in real snapshots. --dedup runs the build once per dedup choice ("default" is the build's default,
else the value of `--dedup`).

What is measured, for each size and worker count:
  1. `cleancrawl build --input DIR --output NEW_EMPTY_FOLDER -q --workers W` (default options), run
     as a subprocess of this script:
       wall seconds;
       CPU seconds: user+sys of resource.getrusage(RUSAGE_CHILDREN) around the subprocess (the CLI
         and every worker process it waited for); a cross-check sums utime+stime of every process
         of the tree as last seen by the poller below;
       pages per CPU-second: input pages / CPU seconds;
       peak RSS (MB = 2**20 bytes) of the largest process (the issue's measure) and of the whole
         process tree: every 0.2 s, the RSS of the CLI process and all its descendants (from
         /proc/<pid>/stat; psutil is not in .venv), the largest and the sum; the maximum of each.
         Shared pages (libraries) count once per process in the sum, so that is
         an upper bound of the tree's memory; the peak PSS sum (/proc/<pid>/smaps_rollup) is saved too.
     Then the memory growth between the two largest sizes (largest process), KB (2**10 bytes) per
     additional page, per crawl, dedup choice and worker count, and the issue's targets: peak <= 1.5
     GB at 85,000 pages (measured when 85,000 is
     a size, else projected linearly from the two largest sizes) and growth <= 5 KB a page.
  2. The reference: the TFDS C4 code (`c4_utils.py`, loaded without TensorFlow by
     bench/reference_c4.py) on the first --reference-pages pages of the smallest input, in this
     process, one core, time.process_time(): its own WET splitter (split_wet_file), length filter,
     URL dedup (select_newest_page per normalize_url), clean_page, repeated-line removal
     (_emit_url_to_lines, the Top-per-line choice, _remove_lines_from_text, done in memory in
     place of its Beam shuffles), detect_english, and its badwords filter. No shuffle, no
     serialization, no writing, no MinHash: an upper bound of the reference's rate.
  3. The projected CPU cost of one Common Crawl snapshot: pages / (pages per CPU-second) / 3600
     CPU-hours, beside the T5 paper's ~341 CPU-days (the figure the issue gives) and dolma's
     ~122 CPU-hours per TB of text (CPU-h per TB = 1e12 / (text bytes per CPU-second) / 3600, with
     the input's WET text bytes per page).
  4. Shuffle bytes per input page from Beam's own counters: one default build in this process on
     Beam's FnApiRunner (what the DirectRunner runs a batch pipeline on), --shuffle-pages pages.
     The runner turns every GroupByKey (`beam:transform:group_by_key:v1`: those of CoGroupByKey,
     Reshuffle and lifted CombinePerKey too) into a write to a `group:` buffer; the PCollection
     written there is the GroupByKey's input. Its bytes = element count
     (`beam:metric:element_count:v1`) x mean sampled encoded size
     (`beam:metric:sampled_byte_size:v1`, a distribution over a sample of the elements: its sum
     is the sample's bytes, not all of them). A CoGroupByKey's GroupByKey reads a Flatten, whose
     output the runner samples in arrival order (mostly its first input's elements): its bytes are
     summed over the Flatten's inputs instead, each measured the same way. Beside these estimates,
     the exact bytes the workers sent into each of the runner's grouping buffers (counted by
     wrapping the buffers' append in this process). Per GroupByKey and in total, per input page.

--tree DIR runs another checkout's cleancrawl (e.g. `git worktree add --detach /tmp/old <commit>`):
the builds run in DIR with DIR on PYTHONPATH, and this process imports it first (steps 2 and 4);
scale.json records DIR's commit and its uncommitted changes under cleancrawl/. --compare JSON prints
every figure beside the same one in an earlier run's JSON (such a baseline); --report-only prints that
comparison from two JSON files without building.

Figures go to stdout, bench/out/scale.json (--out) and bench/out/scale.md (the README's "Scale" table).
Wall seconds depend on other jobs on the machine; CPU seconds and memory much less.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import OUT_DIR, ROOT
from scale_data import KINDS as CRAWL_KINDS, write_scaled_crawl

PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
if not os.path.exists(PYTHON):
    PYTHON = sys.executable
DEFAULT_SIZES = (21_000, 42_000, 85_000)
QUICK_SIZES = (2_000, 4_000)
MB = 1 << 20
KB = 1 << 10
TARGET_PEAK_PAGES = 85_000
TARGET_PEAK_MB = 1.5 * 1024  # 1.5 GB
TARGET_GROWTH_KB = 5.0
# Pages in the snapshot C4 was built from, CC-MAIN-2019-18 (April 2019): Common Crawl's
# announcement of that crawl ("April 2019 crawl archive now available", commoncrawl.org/blog)
# gave about 2.5 billion pages (198 TiB uncompressed). Quoted from memory, no network here:
# approximate.
SNAPSHOT_PAGES = 2.5e9
SNAPSHOT_SOURCE = ("CC-MAIN-2019-18 (April 2019, the snapshot C4 used): ~2.5 billion pages per Common Crawl's "
                   "announcement (approximate, from memory)")
T5_CPU_DAYS = 341  # the T5 paper's figure for building C4, as the issue gives it
DOLMA_CPU_HOURS_PER_TB = 122  # dolma's figure, as the issue gives it
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ---------------------------------------------------------------------------- process tree polling

def _proc_stat(pid: str):
    """(ppid, rss bytes, cpu seconds) of a process from /proc/<pid>/stat, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24 (pages)
    return int(fields[1]), int(fields[21]) * PAGE_SIZE, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeMonitor(threading.Thread):
    """Polls the process tree under `root` every `interval` s: peak summed RSS and PSS, the most
    processes at once, and each process's last seen CPU seconds."""

    def __init__(self, root: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak_rss = self.peak_pss = self.peak_rss_largest = self.max_processes = self.samples = 0
        self.cpu_seen: dict[int, float] = {}
        self._done = threading.Event()

    def poll(self):
        stats = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                stat = _proc_stat(name)
                if stat is not None:
                    stats[int(name)] = stat
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                tree.append(pid)
                todo += children.get(pid, [])
        if not tree:
            return
        self.samples += 1
        self.peak_rss = max(self.peak_rss, sum(stats[p][1] for p in tree))
        self.peak_rss_largest = max(self.peak_rss_largest, max(stats[p][1] for p in tree))
        self.peak_pss = max(self.peak_pss, sum(_pss(p) for p in tree))
        self.max_processes = max(self.max_processes, len(tree))
        for pid in tree:
            self.cpu_seen[pid] = max(self.cpu_seen.get(pid, 0.0), stats[pid][2])

    def run(self):
        while not self._done.is_set():
            self.poll()
            self._done.wait(self.interval)

    def stop(self):
        self._done.set()
        self.join()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_build_cli(input_dir: str, pages: int, workers: int, scratch: str, tree: str = ROOT,
                  dedup: str = "default") -> dict:
    """One `cleancrawl build` as a subprocess into a new empty folder; its figures. `dedup`: "default"
    (the build's default) or a `--dedup` value."""
    run_dir = tempfile.mkdtemp(prefix=f"build-{pages}-w{workers}-", dir=scratch)
    out = os.path.join(run_dir, "out")  # does not exist yet: the build creates it
    cmd = [PYTHON, "-m", "cleancrawl", "build", "--input", input_dir, "--output", out, "-q", "--workers", str(workers)]
    if dedup != "default":
        cmd += ["--dedup", dedup]
    cpu_before = _children_cpu()
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tree, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    monitor = TreeMonitor(proc.pid)
    monitor.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    monitor.stop()
    cpu = _children_cpu() - cpu_before
    row = {"pages": pages, "workers": workers, "wall_s": wall, "cpu_s": cpu,
           "pages_per_cpu_s": pages / cpu if cpu else None, "peak_rss_mb": monitor.peak_rss / MB,
           "peak_rss_largest_mb": monitor.peak_rss_largest / MB, "dedup": dedup,
           "peak_pss_mb": monitor.peak_pss / MB,
           "cpu_s_polled": sum(monitor.cpu_seen.values()), "max_processes": monitor.max_processes,
           "samples": monitor.samples, "returncode": proc.returncode, "command": " ".join(cmd[1:])}
    if proc.returncode != 0:
        row["error"] = (stderr or stdout).strip().splitlines()[-5:]
    else:
        try:
            with open(os.path.join(out, "stats.json")) as f:
                totals = json.load(f)["totals"]
            row.update(read=totals.get("read"), kept=totals.get("kept"))
            if row["read"] != pages:
                row["error"] = [f"the build read {row['read']} pages, not the {pages} generated"]
        except (OSError, ValueError, KeyError) as err:
            row["stats_error"] = str(err)
    shutil.rmtree(run_dir, ignore_errors=True)  # ours: made above
    return row


# ---------------------------------------------------------------------------- reference C4 code

def reference_rate(files: list[str], max_pages: int) -> dict | None:
    """Pages per CPU-second of the reference TFDS C4 functions on the first `max_pages` pages."""
    import types

    from reference_c4 import load_reference_c4_utils

    ref = load_reference_c4_utils()
    if ref is None:
        return None
    from cleancrawl.corpus.badwords import load_badwords

    # split_wet_file opens files with tf.io.gfile.GFile: a plain open() stands in for it.
    ref.tf = types.SimpleNamespace(compat=ref.tf.compat,
                                   io=types.SimpleNamespace(gfile=types.SimpleNamespace(GFile=open)))

    def quiet(*args, **kwargs):  # the reference's counter_inc_fn: counts nothing here
        return None

    clean = ref.get_clean_page_fn()
    badwords = ref.get_badwords_filter_fn({"en": sorted(load_badwords("en"))})
    ref._get_sentences("Warm up. Punkt is loaded once.")  # loads (not times) Punkt
    list(ref.detect_english(ref.PageFeatures(url="u", text="Warm up the language profiles of langdetect.")))

    start = time.process_time()
    pages = []
    for path in files:
        for page in ref.split_wet_file(path, counter_inc_fn=quiet):
            pages.append(page)
            if len(pages) == max_pages:
                break
        if len(pages) == max_pages:
            break
    pages = [p for p in pages if ref.is_valid_length(p)]
    by_url = {}
    for p in pages:  # the reference's URL dedup: group by normalized URL, keep select_newest_page's pick
        by_url.setdefault(p.normalized_url, []).append(p)
    pages = [ref.select_newest_page(group) for group in by_url.values()]
    pages = [c for p in pages for c in clean(p, counter_inc_fn=quiet)]
    # remove_duplicate_text, its shuffles done in memory: one URL per line (Top.PerKey(1,
    # key=_hash_text, reverse=True): the smallest URL hash), then each page's join.
    chosen = {}
    for p in pages:
        for line_hash, url in ref._emit_url_to_lines(p):
            if line_hash not in chosen or ref._hash_text(url) < ref._hash_text(chosen[line_hash]):
                chosen[line_hash] = url
    lines_by_url = {}
    for line_hash, url in chosen.items():
        lines_by_url.setdefault(url, []).append(line_hash)
    pages = [d for p in pages for d in ref._remove_lines_from_text(
        (p.url, {"pages": [p], "lines": lines_by_url.get(p.url, [])}), quiet, ref._MIN_NUM_SENTENCES)]
    pages = [e for p in pages for e in ref.detect_english(p)]
    kept = [p for p in pages if badwords(p)]
    cpu = time.process_time() - start
    return {"pages": max_pages, "kept": len(kept), "cpu_s": cpu, "pages_per_cpu_s": max_pages / cpu}


# ---------------------------------------------------------------------------- shuffle bytes

def shuffle_bytes(input_dir: str, pages: int, scratch: str) -> dict:
    """Bytes into every GroupByKey of one default build in this process, per input page."""
    import apache_beam as beam
    from apache_beam.metrics import monitoring_infos
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import (
        FnApiRunner,
        execution,
        translations,
    )
    from apache_beam.runners.worker import bundle_processor

    from cleancrawl.pipelines import read as pipeline_read
    from cleancrawl.pipelines.build import build_pipeline, prepare_output
    from cleancrawl.pipelines.config import BuildConfig

    class RecordingRunner(FnApiRunner):
        """FnApiRunner that notes, from its fused stages, which PCollections feed which GroupByKey."""

        def create_stages(self, pipeline_proto):
            context, stages = super().create_stages(pipeline_proto)
            self.gbk_inputs, self.buffer_writes, self.buffer_reads = {}, {}, {}
            for stage in stages:
                for transform in stage.transforms:
                    if transform.spec.urn not in (bundle_processor.DATA_OUTPUT_URN, bundle_processor.DATA_INPUT_URN) \
                            or b":" not in transform.spec.payload:  # (an impulse's input has no buffer)
                        continue
                    kind, _ = translations.split_buffer_id(transform.spec.payload)
                    if transform.spec.urn == bundle_processor.DATA_INPUT_URN:
                        for pcollection in transform.outputs.values():
                            self.buffer_reads[pcollection] = transform.spec.payload
                    elif kind == "group":  # expand_gbk: each beam:transform:group_by_key:v1 writes to a group: buffer
                        label = transform.unique_name.removesuffix("/Write")
                        self.gbk_inputs.setdefault(label, []).extend(transform.inputs.values())
                        self.buffer_labels[transform.spec.payload] = label
                    else:  # a materialized Flatten (sink_flattens: CoGroupByKey's): each input writes to it
                        self.buffer_writes.setdefault(transform.spec.payload, []).extend(transform.inputs.values())
            return context, stages

        def measured(self, pcollection, seen=()):
            """The PCollections whose counters add up to `pcollection`: a Flatten's read, its inputs
            (each of one kind of element: the runner samples a Flatten's output in order, so its mean
            size would be that of its first input's elements)."""
            buffer = self.buffer_reads.get(pcollection)
            if buffer in self.buffer_writes and buffer not in seen:
                return [m for p in self.buffer_writes[buffer] for m in self.measured(p, (*seen, buffer))]
            return [pcollection]

    runner = RecordingRunner()
    runner.buffer_labels, exact = {}, {}
    original_get_buffer = execution.BundleContextManager.get_buffer

    def get_buffer(manager, buffer_id, transform_id):  # the bytes the workers send into each grouping buffer
        buffer = original_get_buffer(manager, buffer_id, transform_id)
        if buffer_id.startswith(b"group:") and not getattr(buffer, "_bench_counted", False):
            append = buffer.append

            def counting_append(data, buffer_id=buffer_id, append=append):
                exact[buffer_id] = exact.get(buffer_id, 0) + len(data)
                return append(data)

            buffer.append, buffer._bench_counted = counting_append, True
        return buffer

    output = os.path.join(tempfile.mkdtemp(prefix="shuffle-", dir=scratch), "out")
    config = BuildConfig(inputs=[input_dir], output=output)
    input_files = pipeline_read.resolve_inputs(config)
    lock = prepare_output(output, False, input_files)
    start = time.process_time()
    execution.BundleContextManager.get_buffer = get_buffer
    try:
        with lock:
            pipeline = beam.Pipeline(runner=runner, options=PipelineOptions([]))
            build_pipeline(pipeline, config, input_files)
            result = pipeline.run()
            result.wait_until_finish()
    finally:
        execution.BundleContextManager.get_buffer = original_get_buffer
    cpu = time.process_time() - start
    with open(os.path.join(output, "stats.json")) as f:
        read = json.load(f)["totals"]["read"]
    if read != pages:
        raise RuntimeError(f"the build read {read} pages, not the {pages} generated")
    counts, sizes = {}, {}
    for info in result.monitoring_infos():
        if info.urn == monitoring_infos.ELEMENT_COUNT_URN:
            counts[info.labels["PCOLLECTION"]] = monitoring_infos.extract_counter_value(info)
        elif info.urn == monitoring_infos.SAMPLED_BYTE_SIZE_URN:
            sizes[info.labels["PCOLLECTION"]] = monitoring_infos.extract_distribution(info)  # (count, sum, min, max)
    exact_by_label = {runner.buffer_labels[b]: n for b, n in exact.items() if b in runner.buffer_labels}
    groups = {}
    for label, pcollections in runner.gbk_inputs.items():
        elements = total = 0.0
        for pcollection in (m for p in pcollections for m in runner.measured(p)):
            n = counts.get(pcollection, 0)
            sampled, sampled_bytes = sizes.get(pcollection, (0, 0, 0, 0))[:2]
            elements += n
            total += n * sampled_bytes / sampled if sampled else 0.0
        groups[label] = {"elements": int(elements), "bytes": total, "bytes_per_page": total / pages,
                         "exact_bytes": exact_by_label.get(label, 0),
                         "exact_bytes_per_page": exact_by_label.get(label, 0) / pages}
    shutil.rmtree(os.path.dirname(output), ignore_errors=True)  # ours: made above
    return {"pages": pages, "cpu_s": cpu, "groups": groups,
            "total_bytes_per_page": sum(g["bytes_per_page"] for g in groups.values()),
            "total_exact_bytes_per_page": sum(g["exact_bytes_per_page"] for g in groups.values())}


# ---------------------------------------------------------------------------- report

def _ok(row: dict) -> bool:
    return row.get("returncode") == 0 and not row.get("error")


def growth(rows: list[dict], measure: str = "peak_rss_largest_mb") -> dict | None:
    """KB of peak RSS (`measure`: the largest process's, or the tree's "peak_rss_mb") per additional
    page between the two largest sizes, and the projection to 85k."""
    ok = sorted((r for r in rows if _ok(r) and measure in r), key=lambda r: r["pages"])
    if len(ok) < 2:
        return None
    small, large = ok[-2], ok[-1]
    per_page_mb = (large[measure] - small[measure]) / (large["pages"] - small["pages"])
    measured = next((r for r in ok if r["pages"] == TARGET_PEAK_PAGES), None)
    at_target = (measured[measure] if measured
                 else large[measure] + per_page_mb * (TARGET_PEAK_PAGES - large["pages"]))
    marginal = ((large["pages"] - small["pages"]) / (large["cpu_s"] - small["cpu_s"])
                if large["cpu_s"] > small["cpu_s"] else None)
    return {"measure": measure, "from_pages": small["pages"], "to_pages": large["pages"],
            "kb_per_page": per_page_mb * MB / KB,
            "marginal_pages_per_cpu_s": marginal,
            "peak_mb_at_85k": at_target, "peak_at_85k_measured": measured is not None,
            "peak_target_met": at_target <= TARGET_PEAK_MB,
            "growth_target_met": per_page_mb * MB / KB <= TARGET_GROWTH_KB}


def git_state(tree: str) -> dict:
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, timeout=30,
                                  check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"head": git("rev-parse", "HEAD"),
            "uncommitted_in_cleancrawl": git("status", "--porcelain", "--", "cleancrawl").splitlines()}


def projection(rate: float, text_bytes_per_page: float, snapshot_pages: float) -> dict:
    cpu_hours = snapshot_pages / rate / 3600
    return {"cpu_hours_per_snapshot": cpu_hours, "cpu_days_per_snapshot": cpu_hours / 24,
            "cpu_hours_per_tb_text": 1e12 / (rate * text_bytes_per_page) / 3600}


def _label(row: dict) -> tuple:
    return row.get("crawl", "replicas"), row.get("dedup", "default"), row["workers"], row["pages"]


def _groups(builds: list[dict]) -> dict:
    groups: dict = {}
    for r in builds:
        crawl, dedup, workers, _ = _label(r)
        groups.setdefault((crawl, dedup, workers), []).append(r)
    return groups


def _shuffles(results: dict) -> dict:
    """{crawl kind: shuffle figures} (a run before the crawls were kinds: its one, as "replicas")."""
    if "shuffles" in results:
        return results["shuffles"]
    return {"replicas": results["shuffle"]} if "shuffle" in results else {}


def markdown(results: dict, baseline: dict | None = None) -> str:
    before = {_label(r): r for r in (baseline or {}).get("builds", [])}
    lines = ["| crawl | --dedup | pages | workers | wall s | CPU s | pages / CPU-s | peak RSS MB (largest process) | "
             "peak RSS MB (tree) | kept pages |" + (" baseline: peak MB (largest) |" if baseline else ""),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if baseline else "")]
    for r in results["builds"]:
        crawl, dedup, workers, pages = _label(r)
        b = before.get(_label(r))
        b_cell = ""
        if baseline:
            b_cell = f" {b.get('peak_rss_largest_mb', b['peak_rss_mb']):.0f} |" if b and _ok(b) else " |"
        if not _ok(r):
            lines.append(f"| {crawl} | {dedup} | {pages:,} | {workers} | failed | | | | | |{b_cell}")
            continue
        lines.append(f"| {crawl} | {dedup} | {pages:,} | {workers} | {r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                     f"{r['pages_per_cpu_s']:.0f} | {r.get('peak_rss_largest_mb', r['peak_rss_mb']):.0f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['kept'] if r.get('kept') is not None else '?':,} |{b_cell}")
    ref = results.get("reference")
    if ref:
        lines.append(f"| replicas | reference C4 code¹ | {ref['pages']:,} | | | {ref['cpu_s']:.0f} | "
                     f"{ref['pages_per_cpu_s']:.0f} | | | {ref['kept']:,} |" + (" |" if baseline else ""))
    lines.append("")
    if ref:
        lines.append("¹ TFDS `c4_utils` functions in one process, one core, without Beam's shuffles, serialization "
                     "or writing.\n")
    for key, g in results.get("growth", {}).items():
        if g:
            lines.append(f"- {key}: peak RSS (largest process) grows {g['kb_per_page']:.1f} KB per additional page "
                         f"({g['from_pages']:,} → {g['to_pages']:,} pages; target ≤ {TARGET_GROWTH_KB:g} KB: "
                         f"{'met' if g['growth_target_met'] else 'NOT met'}); peak at 85,000 pages "
                         f"{'' if g['peak_at_85k_measured'] else 'projected '}{g['peak_mb_at_85k']:.0f} MB "
                         f"(target ≤ 1.5 GB: {'met' if g['peak_target_met'] else 'NOT met'})")
    for name, p in results.get("projection", {}).items():
        lines.append(f"- one snapshot ({results['snapshot_pages']:.2g} pages), {name}: "
                     f"{p['cpu_hours_per_snapshot']:,.0f} CPU-hours "
                     f"= {p['cpu_days_per_snapshot']:,.0f} CPU-days (T5: ~{T5_CPU_DAYS} CPU-days); "
                     f"{p['cpu_hours_per_tb_text']:,.0f} CPU-hours per TB of WET text "
                     f"(dolma: ~{DOLMA_CPU_HOURS_PER_TB})")
    before_shuffles = _shuffles(baseline or {})
    for crawl, shuffle in _shuffles(results).items():
        if "groups" not in shuffle:
            continue
        old = before_shuffles.get(crawl, {})
        lines.append(f"- shuffle, {crawl} crawl (GroupByKey inputs, Beam's sampled byte sizes, {shuffle['pages']:,} "
                     f"pages): {shuffle['total_bytes_per_page']:,.0f} bytes per input page in all by the counters "
                     f"({shuffle['total_exact_bytes_per_page']:,.0f} received by the runner's grouping buffers)"
                     + (f"; baseline {old['total_bytes_per_page']:,.0f} ({old['total_exact_bytes_per_page']:,.0f})"
                        if "groups" in old else ""))
        lines += ["", "| GroupByKey | bytes per input page (counters) | bytes per input page (grouping buffers) |",
                  "|---|---:|---:|"]
        for label, g in sorted(shuffle["groups"].items(), key=lambda kv: -kv[1]["exact_bytes"]):
            if g["exact_bytes_per_page"] >= 1 or g["bytes_per_page"] >= 1:
                lines.append(f"| {label} | {g['bytes_per_page']:,.0f} | {g['exact_bytes_per_page']:,.0f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def side_by_side(results: dict, baseline: dict) -> str:
    """Every build and shuffle figure of `results` beside the same one in `baseline`."""
    before = {_label(r): r for r in baseline.get("builds", [])}
    out = [f"this tree: {results.get('tree')} ({results.get('git', {}).get('head', '')[:12]}); "
           f"baseline: {baseline.get('tree')} ({baseline.get('git', {}).get('head', '')[:12]})",
           f"{'crawl':<10} {'--dedup':<16} {'pages':>7} {'w':>2}  {'peak MB largest':>17}  {'peak MB tree':>15}  "
           f"{'pages/CPU-s':>13}  {'kept':>13}",
           f"{'':<10} {'':<16} {'':>7} {'':>2}  {'before':>8} {'after':>8}  {'before':>7} {'after':>7}  "
           f"{'before':>6} {'after':>6}  {'before':>6} {'after':>6}"]

    def cell(row, key, fmt="{:.0f}"):
        if row is None:
            return "-"
        if not _ok(row):
            return "failed"
        value = row.get(key, row.get("peak_rss_mb") if key == "peak_rss_largest_mb" else None)
        return "?" if value is None else fmt.format(value)

    for r in results["builds"]:
        crawl, dedup, workers, pages = _label(r)
        b = before.get(_label(r))
        out.append(f"{crawl:<10} {dedup:<16} {pages:>7,} {workers:>2}  {cell(b, 'peak_rss_largest_mb'):>8} "
                   f"{cell(r, 'peak_rss_largest_mb'):>8}  {cell(b, 'peak_rss_mb'):>7} {cell(r, 'peak_rss_mb'):>7}  "
                   f"{cell(b, 'pages_per_cpu_s'):>6} {cell(r, 'pages_per_cpu_s'):>6}  {cell(b, 'kept'):>6} "
                   f"{cell(r, 'kept'):>6}")
    out.append("")
    for (crawl, dedup, workers), rows in _groups(results["builds"]).items():
        g = growth(rows)
        old = growth([b for b in baseline.get("builds", []) if _label(b)[:3] == (crawl, dedup, workers)])
        if g:
            out.append(f"growth {crawl}, --dedup {dedup}, {workers} worker(s), {g['from_pages']:,} → "
                       f"{g['to_pages']:,}: {old['kb_per_page'] if old else float('nan'):.1f} → "
                       f"{g['kb_per_page']:.1f} KB a page (target ≤ {TARGET_GROWTH_KB:g}); at 85,000 pages "
                       f"{old['peak_mb_at_85k'] if old else float('nan'):.0f} → {g['peak_mb_at_85k']:.0f} MB "
                       f"(target ≤ {TARGET_PEAK_MB:.0f})")
    old_shuffles = _shuffles(baseline)
    for crawl, shuffle in _shuffles(results).items():
        old = old_shuffles.get(crawl, {})
        if "groups" not in shuffle:
            continue
        out.append(f"\nshuffle, {crawl} crawl, bytes per input page (counters; grouping buffers): before "
                   + (f"{old['total_bytes_per_page']:,.0f} ({old['total_exact_bytes_per_page']:,.0f})"
                      if "groups" in old else "-")
                   + f", after {shuffle['total_bytes_per_page']:,.0f} ({shuffle['total_exact_bytes_per_page']:,.0f})")
        labels = sorted(set(shuffle["groups"]) | set(old.get("groups", {})),
                        key=lambda label: -max(shuffle["groups"].get(label, {}).get("bytes_per_page", 0),
                                               old.get("groups", {}).get(label, {}).get("bytes_per_page", 0)))
        for label in labels:
            a = shuffle["groups"].get(label, {}).get("bytes_per_page")
            b = old.get("groups", {}).get(label, {}).get("bytes_per_page")
            if max(a or 0, b or 0) >= 1:
                out.append(f"  {'-' if b is None else f'{b:,.0f}':>8} {'-' if a is None else f'{a:,.0f}':>8}  {label}")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", help="comma-separated page counts (default: 21000,42000,85000)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default: 1,2)")
    parser.add_argument("--crawls", default="replicas,duplicates",
                        help="which crawls: replicas (every page distinct), duplicates (every page on ~64-128 "
                             "hosts); default both")
    parser.add_argument("--dedup", default="default",
                        help="comma-separated dedup choices, each a build: default (the build's own) or a --dedup "
                             "value such as minhash, c4-lines, none (default: default)")
    parser.add_argument("--quick", action="store_true", help="sizes 2000,4000 (development)")
    parser.add_argument("--skip-reference", action="store_true", help="do not run the reference C4 code")
    parser.add_argument("--skip-shuffle", action="store_true", help="do not measure shuffle bytes")
    parser.add_argument("--skip-builds", action="store_true", help="no CLI builds (e.g. shuffle bytes only)")
    parser.add_argument("--workdir",
                        help="where the generated crawls go (kept and reused; default: a temporary folder)")
    parser.add_argument("--pages-per-file", type=int, help="pages a generated WET file (default: 5000; --quick: 1000)")
    parser.add_argument("--tree", help=(
        "run the cleancrawl of this source tree instead of the repo's (a `git worktree` of an older commit: a "
        "'before' figure); its git commit is recorded"))
    parser.add_argument("--out", default="scale.json", help="the JSON's name in bench/out (default: scale.json)")
    parser.add_argument("--compare", help="an earlier run's JSON (a --tree baseline): print every figure beside it")
    parser.add_argument("--report-only", action="store_true",
                        help="build nothing: print --compare's comparison with bench/out/--out")
    parser.add_argument("--reference-pages", type=int, default=3000,
                        help="pages the reference code runs on (default: 3000)")
    parser.add_argument("--shuffle-pages", type=int, default=4000,
                        help="pages of the in-process shuffle run (default: 4000)")
    parser.add_argument("--snapshot-pages", type=float, default=SNAPSHOT_PAGES,
                        help=f"pages of one Common Crawl snapshot (default {SNAPSHOT_PAGES:.2g}: {SNAPSHOT_SOURCE})")
    args = parser.parse_args()
    out_json = os.path.join(OUT_DIR, args.out)
    baseline = None
    if args.compare:
        with open(args.compare) as f:
            baseline = json.load(f)
    if args.report_only:
        if baseline is None:
            parser.error("--report-only needs --compare")
        with open(out_json) as f:
            print(side_by_side(json.load(f), baseline), end="")
        return
    sizes = (sorted({int(s) for s in args.sizes.split(",")}) if args.sizes
             else list(QUICK_SIZES if args.quick else DEFAULT_SIZES))
    workers_list = [int(w) for w in args.workers.split(",")]
    kinds = [k for k in args.crawls.split(",") if k]
    if not kinds or set(kinds) - set(CRAWL_KINDS):
        parser.error(f"--crawls: give some of {', '.join(CRAWL_KINDS)}")
    dedups = [d for d in args.dedup.split(",") if d]
    pages_per_file = args.pages_per_file or (1000 if args.quick else 5000)
    tree = os.path.abspath(args.tree) if args.tree else ROOT
    if args.tree:  # before anything imports cleancrawl: this process (shuffle, reference) and the builds use the tree's
        sys.path.insert(0, tree)
    if args.quick:
        args.reference_pages = min(args.reference_pages, 1000)
        args.shuffle_pages = min(args.shuffle_pages, 2000)

    workdir = args.workdir or tempfile.mkdtemp(prefix="bench-scale-")
    os.makedirs(workdir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="scratch-", dir=workdir)  # build outputs: each a new empty folder in here
    results = {"git": git_state(tree), "tree": tree, "sizes": sizes, "workers": workers_list, "crawls": kinds,
               "dedup": dedups, "snapshot_pages": args.snapshot_pages, "snapshot_source": SNAPSHOT_SOURCE,
               "cpu_count": os.cpu_count(), "builds": []}
    print(f"git HEAD {results['git']['head'][:12]}"
          + (f" (+{len(results['git']['uncommitted_in_cleancrawl'])} uncommitted changes under cleancrawl/)"
             if results["git"]["uncommitted_in_cleancrawl"] else ""))

    crawls = {}
    needed = (set() if args.skip_builds else set(sizes)) | (set() if args.skip_shuffle else {args.shuffle_pages})
    for kind in kinds:
        for size in sorted(needed):
            t = time.perf_counter()
            folder = os.path.join(workdir, f"crawl-{size}" if kind == "replicas" else f"crawl-{kind}-{size}")
            crawls[kind, size] = write_scaled_crawl(folder, size, pages_per_file, kind=kind)
            print(f"input ({kind}): {size:,} pages in {len(crawls[kind, size]['files'])} WET files, "
                  f"{crawls[kind, size]['text_bytes'] / size / 1000:.1f} K bytes of text a page "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
    first = next(iter(crawls.values()))
    text_bytes_per_page = first["text_bytes"] / first["pages"]
    results["input_text_bytes_per_page"] = text_bytes_per_page

    print("\n== 1. cleancrawl build, one subprocess per run ==")
    print(f"{'crawl':<10} {'--dedup':<16} {'pages':>7} {'workers':>7} {'wall s':>7} {'CPU s':>7} {'pages/CPU-s':>11} "
          f"{'peak MB largest':>15} {'tree':>6} {'kept':>6}  (per replica of 323)")
    for kind in [] if args.skip_builds else kinds:
        for dedup in dedups:
            for workers in workers_list:
                for size in sizes:
                    row = run_build_cli(crawls[kind, size]["input_dir"], size, workers, scratch, tree, dedup)
                    row["crawl"] = kind
                    results["builds"].append(row)
                    if row.get("error"):
                        print(f"{kind:<10} {dedup:<16} {size:>7,} {workers:>7} FAILED (exit {row['returncode']}): "
                              f"{' | '.join(row['error'])}", flush=True)
                        continue
                    note = ""
                    if row["cpu_s_polled"] > 1.05 * row["cpu_s"]:
                        note = (f"  (the polled processes used {row['cpu_s_polled']:.0f} CPU s: some were not "
                                "waited for)")
                    kept = row.get("kept")
                    print(f"{kind:<10} {dedup:<16} {size:>7,} {workers:>7} {row['wall_s']:>7.1f} {row['cpu_s']:>7.1f} "
                          f"{row['pages_per_cpu_s']:>11.0f} {row['peak_rss_largest_mb']:>15.0f} "
                          f"{row['peak_rss_mb']:>6.0f} {kept if kept is not None else '?':>6}  "
                          f"({kept * 323 / size if kept is not None else 0:.1f}){note}", flush=True)

    print("\n== 2. memory growth between the two largest sizes (peak RSS of the largest process) ==")
    results["growth"] = {}
    for (kind, dedup, workers), rows in _groups(results["builds"]).items():
        name = f"{kind} crawl, --dedup {dedup}, {workers} worker(s)"
        g = growth(rows)
        results["growth"][name] = g
        if g is None:
            print(f"{name}: fewer than two successful sizes")
            continue
        print(f"{name}: {g['kb_per_page']:.2f} KB per additional page "
              f"({g['from_pages']:,} → {g['to_pages']:,}); target ≤ {TARGET_GROWTH_KB:g} KB: "
              f"{'met' if g['growth_target_met'] else 'NOT met'}; peak at 85,000 pages "
              f"{'measured' if g['peak_at_85k_measured'] else 'projected linearly'} "
              f"{g['peak_mb_at_85k']:.0f} MB; target ≤ 1.5 GB ({TARGET_PEAK_MB:.0f} MB): "
              f"{'met' if g['peak_target_met'] else 'NOT met'}")
        if g["marginal_pages_per_cpu_s"]:
            print(f"{name}: {g['marginal_pages_per_cpu_s']:.0f} pages per CPU-second between these sizes "
                  f"(fixed start-up costs cancel out)")

    first = crawls.get(("replicas", sizes[0]), first)
    print(f"\n== 3. reference C4 code (TFDS c4_utils), first {min(args.reference_pages, sizes[0]):,} pages, "
          f"one core ==")
    if args.skip_reference:
        print("skipped (--skip-reference)")
    else:
        try:
            ref = reference_rate(first["files"], min(args.reference_pages, first["pages"]))
        except Exception as err:  # noqa: BLE001 (the reference is optional: say why and go on)
            ref = None
            print(f"reference failed: {type(err).__name__}: {err}")
        if ref is None:
            print("reference c4_utils unavailable (no tensorflow-datasets wheel in bench/.cache and pip download "
                  "failed): skipped")
        else:
            results["reference"] = ref
            print(f"reference: {ref['pages_per_cpu_s']:.0f} pages per CPU-second ({ref['pages']:,} pages, "
                  f"{ref['cpu_s']:.1f} CPU s, kept {ref['kept']:,}; no shuffle, serialization, writing or MinHash: "
                  f"an upper bound)")

    print("\n== 4. projected CPU cost of one Common Crawl snapshot ==")
    print(f"snapshot: {args.snapshot_pages:.3g} pages "
          f"({SNAPSHOT_SOURCE if args.snapshot_pages == SNAPSHOT_PAGES else 'from --snapshot-pages'})")
    print(f"input text: {text_bytes_per_page:,.0f} bytes of WET text a page")
    results["projection"] = {}
    largest = {}
    for r in results["builds"]:
        if _ok(r) and r["crawl"] == "replicas" and r["dedup"] == "default" \
                and r["pages"] >= largest.get(r["workers"], {"pages": 0})["pages"]:
            largest[r["workers"]] = r
    rates = {f"cleancrawl, {w} worker(s), {r['pages']:,} pages": r["pages_per_cpu_s"]
             for w, r in sorted(largest.items())}
    if results.get("reference"):
        rates["reference C4 code (upper-bound rate)"] = results["reference"]["pages_per_cpu_s"]
    for name, rate in rates.items():
        p = projection(rate, text_bytes_per_page, args.snapshot_pages)
        results["projection"][name] = p
        print(f"{name:<45}: {p['cpu_hours_per_snapshot']:>10,.0f} CPU-hours = "
              f"{p['cpu_days_per_snapshot']:>7,.0f} CPU-days; {p['cpu_hours_per_tb_text']:>6,.0f} CPU-hours "
              f"per TB of text")
    print(f"{'T5 paper (as the issue quotes it)':<45}: {T5_CPU_DAYS * 24:>10,.0f} CPU-hours = "
          f"{T5_CPU_DAYS:>7,} CPU-days")
    print(f"{'dolma (as the issue quotes it)':<45}: {'':>10} {'':>20}   {DOLMA_CPU_HOURS_PER_TB:>6} "
          f"CPU-hours per TB of text")

    print(f"\n== 5. shuffle bytes per input page (Beam's counters, one in-process default build per crawl, "
          f"{args.shuffle_pages:,} pages) ==")
    results["shuffles"] = {}
    if args.skip_shuffle:
        print("skipped (--skip-shuffle)")
    for kind in [] if args.skip_shuffle else kinds:
        try:
            shuffle = shuffle_bytes(crawls[kind, args.shuffle_pages]["input_dir"], args.shuffle_pages, scratch)
        except Exception as err:  # noqa: BLE001 (the pipeline's internals change: say why, keep the rest)
            shuffle = {"error": f"{type(err).__name__}: {err}"}
            print(f"{kind} crawl: could not measure: {shuffle['error']}")
        results["shuffles"][kind] = shuffle
        if "groups" in shuffle:
            empty = 0
            print(f"-- {kind} crawl --")
            print(f"{'counters':>10} {'exact':>10}  B/input page  {'elements':>9}  GroupByKey")
            for label, g in sorted(shuffle["groups"].items(), key=lambda kv: -kv[1]["exact_bytes"] - kv[1]["bytes"]):
                if g["elements"] == 0 and g["exact_bytes"] == 0:
                    empty += 1
                    continue
                print(f"{g['bytes_per_page']:>10,.1f} {g['exact_bytes_per_page']:>10,.1f}  {'':12}  "
                      f"{g['elements']:>9,}  {label}")
            print(f"{shuffle['total_bytes_per_page']:>10,.1f} {shuffle['total_exact_bytes_per_page']:>10,.1f}  in all, "
                  f"over {len(shuffle['groups'])} GroupByKeys ({empty} received nothing)")
    if results["shuffles"]:
        print("counters: element count x mean sampled size (beam:metric:sampled_byte_size:v1); exact: bytes the "
              "runner's grouping buffers received")
    if "replicas" in results["shuffles"]:
        results["shuffle"] = results["shuffles"]["replicas"]  # the key earlier runs' JSON has

    if baseline is not None:
        print(f"\n== 6. beside the baseline {args.compare} ==")
        print(side_by_side(results, baseline), end="")

    os.makedirs(OUT_DIR, exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(results, f, indent=2)
    md_path = os.path.splitext(out_json)[0] + ".md"
    with open(md_path, "w") as f:
        f.write(markdown(results, baseline))
    shutil.rmtree(scratch, ignore_errors=True)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)  # ours: a temporary folder made above
    print(f"\nwrote {out_json} and {md_path}")


if __name__ == "__main__":
    main()
