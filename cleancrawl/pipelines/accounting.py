"""Counting what every stage keeps and drops, as Beam data and as Beam metrics.

Each stage of the build is a `corpus` callable wrapped by `StageFn`: kept documents go to
the main output, `Drop`s to the `dropped` output (stamped with the stage's registry name, and
a Beam counter `cleancrawl.<stage>/<reason>`), and per-bundle tallies (lines removed per rule,
repaired charsets) to the `tally` output. The tallies are ordinary PCollection elements
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

from cleancrawl.corpus.record import CountsLines, Document, Drop

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


class CountingFn(beam.DoFn):
    """The base of every DoFn that counts: drops, events, lines and stage flow, one way.

    A subclass calls `self.dropped(drop)` (returns the tagged output to yield, and increments the
    Beam counter `cleancrawl:<stage>/<reason>`), `self.count_event(name)`, `self.count_lines(rule, n)`,
    `self.count_flow("in" | "out", documents, bytes)` or `self.count_read(source_file, records)`.
    Tallies are summed per bundle and emitted once, on the `tally` output, in `finish_bundle`;
    event and line tallies also increment `cleancrawl:<stage>/event/<name>` and
    `<stage>/lines/<rule>`. Each counter is declared once per DoFn instance. `stage` is the
    default stage name of the tallies and the stage stamped on each Drop that names none (a
    class attribute or set in `__init__`); a Drop naming another stage raises (`Drop.at_stage`).
    """

    stage = ""

    def start_bundle(self):
        self._tallies: dict[tuple, list[int]] = {}

    def _counter(self, name: str):
        counters = self.__dict__.setdefault("_counters", {})
        counter = counters.get(name)
        if counter is None:
            counter = counters[name] = Metrics.counter(METRICS_NAMESPACE, name)
        return counter

    def tally(self, key: tuple, n: int = 1, size: int = 0, keep_zero: bool = False) -> None:
        """Add (n, size) to the tally `key` (see the module docstring); zeros are not emitted
        unless `keep_zero` (a file with no record still counts as read)."""
        if n or size or keep_zero:
            slot = self._tallies.setdefault(key, [0, 0])
            slot[0] += n
            slot[1] += size

    def dropped(self, drop: Drop):
        """Stamp this stage on `drop` (ValueError if it names another), count it (Beam counter)
        and return it as the `dropped` output; the stats tally of a drop is made from the Drop
        itself (`SumTallies`)."""
        drop = drop.at_stage(self.stage)
        self._counter(f"{drop.stage}/{drop.reason}").inc()
        return beam.pvalue.TaggedOutput(DROPPED, drop)

    def count_event(self, name: str, n: int = 1, size: int = 0, stage: str | None = None) -> None:
        self.tally(("event", stage or self.stage, name), n, size)

    def count_lines(self, rule: str, n: int = 1, stage: str | None = None) -> None:
        self.tally(("lines", stage or self.stage, rule), n)

    def count_flow(self, direction: str, documents: int, size: int, stage: str | None = None) -> None:
        self.tally(("stage", stage or self.stage, direction), documents, size, keep_zero=True)

    def count_read(self, source_file: str, records: int) -> None:
        self.tally(("read", source_file), records, keep_zero=True)

    def finish_bundle(self):
        for key, (n, size) in sorted(self._tallies.items()):
            if key[0] in ("event", "lines") and n:
                self._counter(f"{key[1]}/{key[0]}/{key[2]}").inc(n)
            yield beam.pvalue.TaggedOutput(TALLY, _global((key, (n, size))))
        self._tallies.clear()


def apply_filter(page_filter, doc: Document) -> Document | Drop:
    """`page_filter(doc)`; an exception is the page's `stage_error` Drop: one strange page must not
    fail the whole run."""
    try:
        return page_filter(doc)
    except Exception as err:
        return doc.drop("stage_error", detail=f"{type(err).__name__}: {err}"[:300])


class StageFn(CountingFn):
    """Runs one page filter (`Document -> Document | Drop`) over a PCollection as stage `stage_name`.

    `make_stage` is called in `setup` (once per DoFn instance, on the worker), so heavy
    set-up — Punkt parameters, language profiles, regexes — happens there and not per
    element. Its Drops are stamped with `stage_name`. If the filter counts lines
    (`corpus.record.CountsLines`), its per-bundle `line_counts` are emitted as tallies under
    ("lines", stage, rule).
    """

    def __init__(self, make_stage, stage_name: str):
        self._make_stage = make_stage
        self.stage = stage_name

    def setup(self):
        self._stage = self._make_stage()
        self._counts_lines = isinstance(self._stage, CountsLines)

    def start_bundle(self):
        super().start_bundle()
        if self._counts_lines:
            self._stage.line_counts.clear()

    def process(self, doc: Document):
        self.count_flow("in", 1, text_bytes(doc))
        self.count_flow("out", 0, 0)  # a stage that drops everything still reports 0 out
        result = apply_filter(self._stage, doc)
        if isinstance(result, Drop):
            yield self.dropped(result)
        else:
            self.count_flow("out", 1, text_bytes(result))
            yield result

    def finish_bundle(self):
        if self._counts_lines:
            counts: Counter[str] = self._stage.line_counts
            for rule, n in counts.items():
                self.count_lines(rule, n)
            counts.clear()
        yield from super().finish_bundle()


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
