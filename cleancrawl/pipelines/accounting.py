"""Counting what every stage keeps and drops, as Beam data and as Beam metrics.

Each stage of the build is a `corpus` callable wrapped by `StageFn`: kept documents go to
the main output, `Drop`s to the `dropped` output (and a Beam counter
`cleancrawl.<stage>/<reason>`), and per-bundle tallies (lines removed per rule, repaired
charsets) to the `tally` output. The tallies are ordinary PCollection elements
`(key, (count, bytes))`, summed with `CombinePerKey` — so `stats.json` is computed by the
pipeline itself on every runner, not read back from a runner's metrics API.

Tally keys (tuples):
  ("read", source_file)                     records read from the file
  ("drop", stage, reason, source_file)      documents dropped (count, text bytes)
  ("kept", split, source_file)              documents written (count, text bytes)
  ("lines", stage, rule)                    lines removed by a line rule (or kept)
  ("stage", stage, "in" | "out")            documents and text bytes entering / leaving a stage
  ("event", stage, name)                    events that are not drops (e.g. charset repaired)
"""
from __future__ import annotations

from collections import Counter

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from cleancrawl.corpus.record import Document, Drop

KEPT = "kept"
DROPPED = "dropped"
TALLY = "tally"
METRICS_NAMESPACE = "cleancrawl"


def text_bytes(doc: Document) -> int:
    return doc.text_bytes()


def drop_tally(drop: Drop):
    return ("drop", drop.stage, drop.reason, drop.source_file), (1, drop.text_bytes)


def _global(value) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class StageFn(beam.DoFn):
    """Runs one corpus stage (`Document -> Document | Drop`) over a PCollection.

    `make_stage` is called in `setup` (once per DoFn instance, on the worker), so heavy
    set-up — Punkt parameters, language profiles, regexes — happens there and not per
    element. If the stage object has a `line_counts` Counter, its per-bundle values are
    emitted as tallies under ("lines", stage, rule).
    """

    def __init__(self, make_stage, stage_name: str):
        self._make_stage = make_stage
        self._stage_name = stage_name
        self._metrics: dict[str, object] = {}

    def setup(self):
        self._stage = self._make_stage()

    def start_bundle(self):
        counts = getattr(self._stage, "line_counts", None)
        if counts is not None:
            counts.clear()
        self._flow = [0, 0, 0, 0]  # documents in, bytes in, documents out, bytes out

    def _count_drop(self, drop: Drop) -> None:
        counter = self._metrics.get(drop.reason)
        if counter is None:
            counter = self._metrics[drop.reason] = Metrics.counter(METRICS_NAMESPACE, f"{drop.stage}/{drop.reason}")
        counter.inc()

    def process(self, doc: Document):
        flow = self._flow
        flow[0] += 1
        flow[1] += text_bytes(doc)
        try:
            result = self._stage(doc)
        except Exception as err:  # one strange page must not fail the whole run: count it
            result = doc.drop(self._stage_name, "stage_error", detail=f"{type(err).__name__}: {err}"[:300])
        if isinstance(result, Drop):
            self._count_drop(result)
            yield beam.pvalue.TaggedOutput(DROPPED, result)
        else:
            flow[2] += 1
            flow[3] += text_bytes(result)
            yield result

    def finish_bundle(self):
        docs_in, bytes_in, docs_out, bytes_out = self._flow
        if docs_in:
            yield beam.pvalue.TaggedOutput(TALLY, _global((("stage", self._stage_name, "in"), (docs_in, bytes_in))))
            yield beam.pvalue.TaggedOutput(TALLY, _global((("stage", self._stage_name, "out"), (docs_out, bytes_out))))
        counts: Counter | None = getattr(self._stage, "line_counts", None)
        if counts:
            for rule, n in sorted(counts.items()):
                Metrics.counter(METRICS_NAMESPACE, f"{self._stage_name}/lines/{rule}").inc(n)
                yield beam.pvalue.TaggedOutput(TALLY, _global((("lines", self._stage_name, rule), (n, 0))))
            counts.clear()


class ApplyStage(beam.PTransform):
    """`docs | ApplyStage(make_stage, "clean")` → outputs `.kept`, `.dropped`, `.tally`."""

    def __init__(self, make_stage, stage_name: str):
        super().__init__()
        self._make_stage = make_stage
        self._stage_name = stage_name

    def expand(self, docs):
        return docs | beam.ParDo(StageFn(self._make_stage, self._stage_name)).with_outputs(DROPPED, TALLY, main=KEPT)


def _sum_pairs(pairs):
    count = size = 0
    for c, b in pairs:
        count += c
        size += b
    return count, size


class SumTallies(beam.PTransform):
    """Flattened tallies and drops → one sorted list of (key, (count, bytes)), for stats.json."""

    def expand(self, pcolls):
        tallies, drops = pcolls
        from_drops = drops | "DropToTally" >> beam.Map(drop_tally)
        return (
            (tallies, from_drops)
            | "FlattenTallies" >> beam.Flatten()
            | "SumPerKey" >> beam.CombinePerKey(_sum_pairs)
            | "ToList" >> beam.combiners.ToList()
            | "Sort" >> beam.Map(sorted)
        )
