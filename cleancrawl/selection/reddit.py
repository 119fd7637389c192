"""`cleancrawl reddit-urls`: Reddit submissions → the WebText-like URL table.

GPT-2's WebText (and T5's "WebText-like" C4) kept pages whose URL was submitted to Reddit and
scored at least 3 karma. This module aggregates the submissions that count (read by
`selection.reddit_dumps`, which also reads plain URL lists) into one row per normalised URL (the
table and its columns: `selection.url_table`). A URL is kept when its max score >= min_score (or
it came from a URL list).

`build_url_table` is the whole command. It is plain Python with a process pool, not Beam: reading
a dump is decompression + JSON parsing, one file per process, and the aggregate is a
hash-partitioned group-by done by Arrow. Map: each file's submissions are spilled to local Arrow
files by hash(normalised URL) % P. Reduce: each partition is grouped on its own. So peak memory is
one partition's submissions (P from the input size, ~512 MB of compressed dump a partition), never
the whole dump. A malformed line never stops the run: it is counted by reason, and its file and
line number are listed in `OUT/_stats.json`.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import tempfile
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Callable, Iterable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cleancrawl import layout, output_folder, storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.safe_text import one_line
from cleancrawl.options import option
from cleancrawl.selection.inputs import expand_paths
from cleancrawl.selection.reddit_dumps import FileReport, LinkFilter, Submission, read_submissions
from cleancrawl.selection.url_table import URL_TABLE_SCHEMA

SPILL_BATCH_ROWS = 65_536           # rows a map worker buffers before writing to the spill files
PARTITION_INPUT_BYTES = 512 << 20   # one reduce partition per this much (compressed) input
MAX_PARTITIONS = 4096
# Underscore names: Parquet readers (pyarrow, pandas, Spark) skip them, so `pq.read_table(OUT)` works.
STATS_FILE = "_stats.json"

SUBMISSION_SCHEMA = pa.schema([
    pa.field("normalized_url", pa.string(), nullable=False),
    pa.field("url", pa.string(), nullable=False),
    pa.field("score", pa.int64()),          # null: from a URL list
    pa.field("created_utc", pa.int64()),
    pa.field("id", pa.string()),
    pa.field("subreddit", pa.string()),
    pa.field("over_18", pa.bool_(), nullable=False),
])


# ---------------------------------------------------------------------------- aggregation

def _sorted_lists(lists: pa.ListArray) -> pa.ListArray:
    """Sort the values inside each list (vectorised: by parent row, then value)."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    parents = pc.list_parent_indices(lists)
    values = pc.list_flatten(lists)
    order = pc.sort_indices(pa.table({"row": parents, "value": values}),
                            sort_keys=[("row", "ascending"), ("value", "ascending")])
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.ListArray.from_arrays(offsets, values.take(order), type=pa.list_(pa.string()))


def aggregate_submissions(submissions: pa.Table, min_score: int) -> tuple[pa.Table, dict]:
    """Submissions (SUBMISSION_SCHEMA) → the kept URL table rows (URL_TABLE_SCHEMA), sorted by URL.

    Also returns {"urls": distinct URLs, "kept": rows kept, "below_min_score": rows not kept}.
    """
    if submissions.num_rows == 0:
        return URL_TABLE_SCHEMA.empty_table(), {"urls": 0, "kept": 0, "below_min_score": 0}
    # Sorted by time (nulls last, the default), so that single-threaded "first" is the earliest submission.
    ordered = submissions.sort_by(
        [("normalized_url", "ascending"), ("created_utc", "ascending"), ("id", "ascending"), ("url", "ascending")]
    )
    grouped = ordered.group_by("normalized_url", use_threads=False).aggregate([
        ("url", "first"),
        ("score", "max"),
        ("score", "count", pc.CountOptions("only_null")),    # submissions from URL lists
        ([], "count_all"),
        ("subreddit", "distinct", pc.CountOptions("only_valid")),
        ("created_utc", "min"),
        ("id", "first"),
        ("over_18", "any"),
    ])
    table = pa.table(
        {
            "normalized_url": grouped["normalized_url"],
            "url": grouped["url_first"],
            "reddit_score": grouped["score_max"],
            "reddit_submissions": grouped["count_all"],
            "subreddits": _sorted_lists(grouped["subreddit_distinct"]),
            "first_created_utc": grouped["created_utc_min"],
            "first_id": grouped["id_first"],
            "over_18": grouped["over_18_any"],
        },
        schema=URL_TABLE_SCHEMA,
    )
    listed = pc.greater(grouped["score_count"], 0)
    keep = pc.fill_null(pc.or_kleene(pc.greater_equal(table["reddit_score"], min_score), listed), False)
    kept = table.filter(keep).sort_by("normalized_url")
    return kept, {"urls": table.num_rows, "kept": kept.num_rows, "below_min_score": table.num_rows - kept.num_rows}


def partition_of(normalized_url: str, partitions: int) -> int:
    return zlib.crc32(normalized_url.encode("utf-8")) % partitions


class _Spill:
    """One map task's submissions, spread over P Arrow stream files by hash of the URL."""

    def __init__(self, directory: str, name: str, partitions: int, batch_rows: int = SPILL_BATCH_ROWS):
        self._paths = [os.path.join(directory, f"p{p:05d}", name) for p in range(partitions)]
        self._buffers: list[list] = [[] for _ in range(partitions)]
        self._writers: list = [None] * partitions
        self._buffered = 0
        self._batch_rows = batch_rows

    def add(self, sub: Submission) -> None:
        self._buffers[partition_of(sub.normalized_url, len(self._buffers))].append(sub[:7])  # without is_self
        self._buffered += 1
        if self._buffered >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        for p, rows in enumerate(self._buffers):
            if not rows:
                continue
            if self._writers[p] is None:
                os.makedirs(os.path.dirname(self._paths[p]), exist_ok=True)
                self._writers[p] = pa.ipc.new_stream(self._paths[p], SUBMISSION_SCHEMA)
            columns = [pa.array(values, type=f.type) for values, f in zip(zip(*rows), SUBMISSION_SCHEMA)]
            self._writers[p].write_batch(pa.RecordBatch.from_arrays(columns, schema=SUBMISSION_SCHEMA))
            rows.clear()
        self._buffered = 0

    def close(self) -> None:
        self._flush()
        for writer in self._writers:
            if writer is not None:
                writer.close()


def read_spilled(paths: Iterable[str]) -> pa.Table:
    tables = [pa.ipc.open_stream(path).read_all() for path in paths]
    return pa.concat_tables(tables) if tables else SUBMISSION_SCHEMA.empty_table()


# ---------------------------------------------------------------------------- the command

@dataclass(frozen=True)
class UrlTableConfig:
    """`cleancrawl reddit-urls`: inputs, output, filters, parallelism."""

    OPTION_GROUPS = (IO := "input and output", RULES := "which submissions count (defaults: GPT-2's WebText)",
                     RUN := "execution")

    submissions: tuple[str, ...] = option((), list="repeat", metavar="PATH_OR_GLOB", group=IO, help=(
        "Pushshift submissions dumps: JSON lines, zstd (long window)/xz/bz2/gzip/plain, "
        "or Parquet with the same fields; local, gs://, s3://; repeatable"))
    url_lists: tuple[str, ...] = option((), flag="--url-list", list="repeat", metavar="PATH_OR_GLOB", group=IO, help=(
        "plain URL lists, one URL a line (as OpenWebText distributes); no score, "
        "so --min-score does not apply to them; repeatable"))
    output: str = option("reddit-urls", required=True, cli_default=None, group=IO,
                         help="output directory for the URL table")
    link_filter: LinkFilter = option(LinkFilter(), group=RULES, help="which submissions count")
    partitions: int = option(0, group=RUN, help=(  # reduce partitions = output parts
        "output parts = aggregation partitions (default: one per 512 MB of input); "
        "memory per worker is about one partition's submissions"))
    workers: int = option(0, group=RUN, help="processes (default: one per core)")  # at most one per task
    max_listed: int = option(1000, flag="--max-skipped-listed", group=RUN, help=(
        "skipped lines listed with file and line number, per file (all are counted)"))
    overwrite: bool = option(False, group=IO, help="replace an existing URL table in --output")
    tmp_dir: str | None = option(None, group=RUN, help="local directory for the spill files (default: system temp)")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def auto_partitions(total_bytes: int) -> int:
    return max(1, min(MAX_PARTITIONS, math.ceil(total_bytes / PARTITION_INPUT_BYTES)))


URL_TABLE_LAYOUT = output_folder.OutputLayout(
    "reddit-urls", r"^\.?(part-\d{5}-of-\d{5}\.parquet|_stats\.json|_SUCCESS)" + output_folder.TEMP_SUFFIX + "$",
    noun="URL table")


def prepare_output(output: str, overwrite: bool, inputs: Iterable[str] = ()) -> None:
    """Refuse an output that holds an input, or any file reddit-urls did not write (even with
    `overwrite`: a user's file is never deleted), or an existing table unless `overwrite`."""
    output_folder.prepare_output_folder(output, URL_TABLE_LAYOUT, overwrite, inputs, lock=False)
    if not storage.is_remote(output):
        os.makedirs(output, exist_ok=True)


def _map_file(task) -> dict:
    """Map task: read one input file, spill its submissions; return its report."""
    index, path, url_list, spill_dir, partitions, link_filter, max_listed = task
    spill = _Spill(spill_dir, f"f{index:06d}.arrow", partitions)
    try:
        raw = storage.open_binary(path)
    except Exception as err:
        report = FileReport(path, max_listed=max_listed)
        report.error = {"file": path, "reason": "read_error", "detail": one_line(err)}
    else:
        with raw:
            submissions, report = read_submissions(raw, path, link_filter, url_list, max_listed)
            for sub in submissions:
                spill.add(sub)
    spill.close()
    return {"path": path, "report": report.to_dict(), "skipped_lines": report.skipped_lines}


def _reduce_partition(task) -> dict:
    """Reduce task: group one partition's submissions by URL, write one Parquet part."""
    index, spill_dir, partitions, output, min_score = task
    directory = os.path.join(spill_dir, f"p{index:05d}")
    paths = sorted(os.path.join(directory, n) for n in os.listdir(directory)) if os.path.isdir(directory) else []
    table, counts = aggregate_submissions(read_spilled(paths), min_score)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", row_group_size=100_000)
    name = layout.shard_name(index, partitions)
    storage.write_atomically(storage.join(output, name), buffer.getvalue())
    return {"part": name, **counts}


class _Inline:
    """The executor interface, run in this process (one worker: no start-up cost)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def map(self, fn, items):
        return map(fn, items)


def _executor(workers: int, tasks: int):
    workers = min(workers or os.cpu_count() or 1, max(1, tasks))
    if workers == 1:
        return _Inline()
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def build_url_table(config: UrlTableConfig, progress: Callable[[str], None] = lambda message: None) -> dict:
    """Read every input, write `OUT/part-*.parquet`, `OUT/_stats.json`, `OUT/_SUCCESS`; return the stats."""
    inputs = [(path, size, False) for path, size in expand_paths(config.submissions)]
    inputs += [(path, size, True) for path, size in expand_paths(config.url_lists)]
    if not inputs:
        raise UserError("no input: give --submissions and/or --url-list")
    if config.link_filter.min_score < 0:
        raise UserError("--min-score must be >= 0")
    prepare_output(config.output, config.overwrite, [path for path, _, _ in inputs])
    partitions = config.partitions or auto_partitions(sum(size for _, size, _ in inputs))
    spill_dir = tempfile.mkdtemp(prefix="cleancrawl-reddit-", dir=config.tmp_dir)
    try:
        map_tasks = [(i, path, url_list, spill_dir, partitions, config.link_filter, config.max_listed)
                     for i, (path, _, url_list) in enumerate(inputs)]
        with _executor(config.workers, len(map_tasks)) as pool:
            files = []
            for result in pool.map(_map_file, map_tasks):
                files.append(result)
                progress(f"read {result['path']}: {result['report']['lines']} lines")
        reduce_tasks = [(p, spill_dir, partitions, config.output, config.link_filter.min_score)
                        for p in range(partitions)]
        with _executor(config.workers, partitions) as pool:
            parts = list(pool.map(_reduce_partition, reduce_tasks))
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    stats = url_table_stats(config, files, parts)
    data = (json.dumps(stats, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    storage.write_atomically(storage.join(config.output, STATS_FILE), data)
    storage.write_atomically(storage.join(config.output, layout.SUCCESS_MARKER), layout.SUCCESS_CONTENT)
    return stats


def url_table_stats(config: UrlTableConfig, files: list[dict], parts: list[dict]) -> dict:
    skipped: Counter = Counter()
    filtered: Counter = Counter()
    for f in files:
        skipped.update(f["report"]["skipped"])
        filtered.update(f["report"]["filtered"])
    file_errors = [f["report"]["error"] for f in files if f["report"]["error"]]
    return {
        "stats_version": 1,
        "config": config.to_dict(),
        "totals": {
            "files": len(files),
            "lines": sum(f["report"]["lines"] for f in files),
            "blank_lines": sum(f["report"].get("blank", 0) for f in files),
            "skipped_lines": sum(skipped.values()),
            "filtered_submissions": sum(filtered.values()),
            "eligible_submissions": sum(f["report"]["eligible"] for f in files),
            "eligible_min_score": sum(f["report"]["eligible_min_score"] for f in files),
            "urls": sum(p["urls"] for p in parts),
            "urls_kept": sum(p["kept"] for p in parts),
            "urls_below_min_score": sum(p["below_min_score"] for p in parts),
            "file_errors": len(file_errors),
        },
        "skipped": dict(sorted(skipped.items())),
        "filtered": dict(sorted(filtered.items())),
        "parts": [p["part"] for p in parts],
        "files": {f["path"]: f["report"] for f in files},
        "skipped_lines": [line for f in files for line in f["skipped_lines"]],
        "file_errors": file_errors,
    }
