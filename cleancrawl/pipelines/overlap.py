"""`cleancrawl overlap`: how much of an eval set's n-grams the corpus holds (GPT-2's train/test overlap).

    eval files ─ EvalIndex (exact, in memory: ∝ eval size) ──────────────┐ side input
    corpus shards ─ Create ─ ScanShards (one shard at a time, streamed) ─┴─ per shard: the ids of
        the eval n-grams it holds ─ CombineGlobally(union) ─ Report ─ JSON

Only eval n-gram ids (and per-shard document counts) leave a worker: no corpus text is shuffled,
and no index of the corpus is ever built, so memory does not grow with the corpus. With
`bloom=True` the other way round (GPT-2's): each shard's n-grams go into a fixed-size Bloom filter,
the filters are OR-ed, and the eval n-grams are probed; the report then states the filter's
expected and measured false-positive rate (it can only over-count).

Eval sources (`NAME=PATH` or `PATH`, also for `build --decontaminate`): a text file (one document
per line, blank lines skipped), a Parquet file or a folder of them with a `text` column, or a
cleancrawl corpus (every split), read by `cleancrawl.eval_sets`. `run_overlap(config)` is what the
command calls.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field

from cleancrawl import layout, storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.ngrams import (
    DEFAULT_OVERLAP_NGRAM,
    BloomFilter,
    EvalIndex,
    check_ngram,
    ngrams,
    words,
)
from cleancrawl.eval_sets import (
    EMPTY,
    check_source,
    eval_texts,
    parse_eval_spec,
    parse_eval_specs,
)
from cleancrawl.options import option


@dataclass
class OverlapConfig:
    """What `cleancrawl overlap` measures (every field is a command-line option)."""

    corpus: str = option("", required=True, metavar="DIR", help=(
        "the corpus: a build output folder (or any folder of Parquet shards with a text column); local, gs:// or s3://"))
    evals: list[str] = option(default_factory=list, flag="--eval", list="repeat", metavar="NAME=PATH", required=True,
                              help="an eval set, NAME=PATH or PATH: a text file (one document a line), a Parquet "
                                   "file or folder with a text column, or a cleancrawl corpus; repeatable")
    ngram: int = option(DEFAULT_OVERLAP_NGRAM, help="words per n-gram (default: %(default)s, GPT-2's)")
    split: str = option("all", choices=("all", "train", "validation"),
                        help="which corpus split(s) to scan (default: %(default)s)")
    bloom: bool = option(False, help="GPT-2's way: corpus n-grams into a Bloom filter of --bloom-bits bits "
                                     "(memory fixed; may over-count: its false-positive rate is reported)")
    bloom_bits: int = option(1 << 28, help="Bloom filter size in bits (default: %(default)s = 32 MiB)")
    bloom_hashes: int = option(7, help="Bloom filter probes per n-gram (default: %(default)s)")
    allow_partial: bool = option(False, help="also read a build without _SUCCESS")
    json: str | None = option(None, metavar="PATH", help="also write the report as JSON to this file")


# ---------------------------------------------------------------------------- eval sources
# (read by `cleancrawl.eval_sets`, the reader pretrain's bits per byte shares)

def eval_paths(specs, option: str = "--eval", n: int | None = None, read: bool = False) -> list[str]:
    """The paths of the eval sources `specs`, each checked (and the n-gram length `n`): one line
    for a missing file, a folder without shards, a name given twice, a bad n; with `read`, every
    source is also read through (not UTF-8, not Parquet, no text: found before a run writes)."""
    if n is not None and specs:
        check_ngram(n, option + "-ngram" if option != "--eval" else "--ngram")
    paths = []
    for _, path in parse_eval_specs(specs, option):
        check_source(path, option)
        if read and not any(True for _ in eval_texts(path, option)):
            raise UserError(f"{option} {path}: {EMPTY}")
        paths.append(path)
    return paths


def build_index(specs: list[str], n: int, option: str = "--eval") -> EvalIndex:
    """The exact index of the eval sets `specs` (NAME=PATH or PATH)."""
    eval_paths(specs, option, n)
    index = EvalIndex(n)
    for spec in specs:
        name, path = parse_eval_spec(spec)
        before = len(index)
        index.add(name, eval_texts(path, option))
        if not index.documents[-1]:
            raise UserError(f"{option} {path}: {EMPTY}")
        if len(index) == before and not any(len(d) for d in index.documents[-1]):
            raise UserError(f"{option} {path}: no document has {n} words, so it has no {n}-gram to look for "
                            f"(a smaller --ngram{'' if option == '--eval' else ' / ' + option + '-ngram'}?)")
    return index


# ---------------------------------------------------------------------------- scanning one shard

@dataclass
class ShardScan:
    """What one corpus shard contributes: counts, and the eval n-gram ids it holds (or a Bloom filter)."""

    documents: int = 0
    ngrams: int = 0
    found: set = field(default_factory=set)
    bloom: BloomFilter | None = None

    def merge(self, other: "ShardScan") -> "ShardScan":
        self.documents += other.documents
        self.ngrams += other.ngrams
        self.found |= other.found
        if other.bloom is not None:
            if self.bloom is None:
                self.bloom = other.bloom
            else:
                self.bloom |= other.bloom
        return self


def scan_texts(texts, index: EvalIndex, bloom_shape: tuple[int, int] | None = None) -> ShardScan:
    """Stream `texts` past `index`: the exact ids found, or (bloom_shape = (bits, hashes)) a Bloom
    filter of every n-gram of the texts. Memory: the index, plus one document (plus the filter)."""
    n, keys, ids = index.n, index.ids.keys(), index.ids
    scan = ShardScan(bloom=BloomFilter(*bloom_shape) if bloom_shape else None)
    for text in texts:
        ws = words(text)
        scan.documents += 1
        scan.ngrams += max(0, len(ws) - n + 1)
        if scan.bloom is not None:
            for gram in ngrams(ws, n):
                scan.bloom.add(gram)
        else:
            for gram in keys & ngrams(ws, n):
                scan.found.add(ids[gram])
    return scan


def finish(index: EvalIndex, scan: ShardScan, corpus: str, shards: int) -> dict:
    """The report: per eval set, and how the corpus side was scanned."""
    out = {"ngram": index.n, "method": "bloom" if scan.bloom is not None else "exact",
           "corpus": {"path": corpus, "shards": shards, "documents": scan.documents, "ngrams": scan.ngrams},
           "index": {"distinct_eval_ngrams": len(index)}}
    found = scan.found
    if scan.bloom is not None:
        bloom = scan.bloom
        found = {i for gram, i in index.ids.items() if gram in bloom}
        out["bloom"] = {"bits": bloom.bits, "hashes": bloom.hashes, "fill": round(bloom.fill(), 6),
                        "expected_fpr": bloom.expected_fpr(), "measured_fpr": bloom.measured_fpr(20_000)}
    out["evals"] = index.report(found)
    return out


# ---------------------------------------------------------------------------- the Beam pipeline

def _beam():
    import apache_beam as beam

    class ScanShardFn(beam.DoFn):
        """One corpus shard → one ShardScan (ids of the eval n-grams found, counts)."""

        def __init__(self, bloom_shape):
            self._bloom_shape = bloom_shape

        def process(self, path, index):
            yield scan_texts(storage.iter_texts([path]), index, self._bloom_shape)

    class MergeScans(beam.CombineFn):
        def create_accumulator(self):
            return ShardScan()

        def add_input(self, acc, scan):
            return acc.merge(scan)

        def merge_accumulators(self, accs):
            accs = iter(accs)
            first = next(accs)
            for acc in accs:
                first.merge(acc)
            return first

        def extract_output(self, acc):
            return acc

    return beam, ScanShardFn, MergeScans


def overlap_pipeline(pipeline, index: EvalIndex, shards: list[str], bloom_shape=None):
    """Add the scan to `pipeline`; returns a PCollection of one merged ShardScan."""
    beam, ScanShardFn, MergeScans = _beam()
    index_view = beam.pvalue.AsSingleton(pipeline | "EvalIndex" >> beam.Create([index]))
    return (
        pipeline
        | "CorpusShards" >> beam.Create(shards)
        | "Reshuffle" >> beam.Reshuffle()  # one shard per worker task
        | "ScanShards" >> beam.ParDo(ScanShardFn(bloom_shape), index=index_view)
        | "MergeHits" >> beam.CombineGlobally(MergeScans())
    )


def run_overlap(config: OverlapConfig, pipeline_args: list[str] | None = None) -> dict:
    """Measure the overlap; returns the report (also written to `config.json` when set)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from cleancrawl.pipelines.worker_exit import runner_for

    if not config.evals:
        raise UserError("--eval: give at least one eval set (NAME=PATH)")
    if config.bloom and (config.bloom_bits < 8 or config.bloom_hashes < 1):
        raise UserError("--bloom-bits must be at least 8 and --bloom-hashes at least 1")
    options = PipelineOptions(pipeline_args or [])
    storage.use_pipeline_options(options)
    split = None if config.split == "all" else config.split
    shards = layout.list_shards(config.corpus, split=split, allow_partial=config.allow_partial)
    if not shards:
        raise UserError(f"{config.corpus}: no Parquet shards")
    # not Parquet, no text column, binary text: one line before the run
    storage.check_text_shards(shards, options=False)
    index = build_index(list(config.evals), config.ngram)
    bloom_shape = (config.bloom_bits, config.bloom_hashes) if config.bloom else None
    beam = _beam()[0]
    import pickle
    import uuid

    from apache_beam.options.pipeline_options import GoogleCloudOptions

    # The merged result comes back through one small file: under --temp_location when given (a
    # remote runner's workers cannot write this machine's /tmp), else a local temporary folder.
    remote_temp = options.view_as(GoogleCloudOptions).temp_location
    with tempfile.TemporaryDirectory(prefix="cleancrawl-overlap-") as tmp:
        result = storage.join(remote_temp or tmp, f"cleancrawl-overlap-{uuid.uuid4().hex}.pickle")
        with beam.Pipeline(runner=runner_for(options), options=options) as pipeline:
            scan = overlap_pipeline(pipeline, index, shards, bloom_shape)
            scan | "Keep" >> beam.Map(lambda merged: storage.write_atomically(result, pickle.dumps(merged)))
        with storage.open_binary(result) as f:
            merged = pickle.loads(f.read())
        if remote_temp:
            storage.delete([result])
    report = finish(index, merged, config.corpus, len(shards))
    report["config"] = asdict(config)
    if config.json:
        storage.write_atomically(config.json if storage.is_remote(config.json) else os.path.abspath(config.json),
                                 (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return report


def overlap_local(config: OverlapConfig) -> dict:
    """The same measurement without Beam (one process): the reference the tests and the benchmark use."""
    index = build_index(list(config.evals), config.ngram)
    shards = layout.list_shards(config.corpus, split=None if config.split == "all" else config.split,
                                allow_partial=config.allow_partial)
    bloom_shape = (config.bloom_bits, config.bloom_hashes) if config.bloom else None
    merged = ShardScan()
    for shard in shards:
        merged.merge(scan_texts(storage.iter_texts([shard]), index, bloom_shape))
    return finish(index, merged, config.corpus, len(shards))


def render_table(report: dict) -> str:
    """The terminal table: one row per eval set."""
    rows = [("eval", f"{report['ngram']}-grams", "found", "percent", "documents", "dirty")]
    for name, r in report["evals"].items():
        rows.append((name, f"{r['positions']:,}", f"{r['found']:,}", f"{r['percent']:.2f}%", f"{r['documents']:,}",
                     f"{r['dirty_documents']:,}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    c = report["corpus"]
    lines.append(f"corpus: {c['documents']:,} documents, {c['ngrams']:,} {report['ngram']}-grams in "
                 f"{c['shards']} shard(s); method: {report['method']}")
    if "bloom" in report:
        b = report["bloom"]
        lines.append(f"bloom: {b['bits']:,} bits, {b['hashes']} hashes, {100 * b['fill']:.2f}% full; "
                     f"false-positive rate expected {b['expected_fpr']:.2e}, measured {b['measured_fpr']:.2e} "
                     f"(found may over-count)")
    return "\n".join(lines) + "\n"
