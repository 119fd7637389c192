"""The `select` stage: WebText-like (URL table join) and RealNews-like (domain allowlist) builds.

    docs ─ [SelectDomains] ─ [JoinUrlTable] ─ kept docs (with reddit_score, reddit_submissions, subreddits)
               │                  │
               └ domain_not_allowed └ not_in_url_list            (Drops, stage "select")

It runs after URL dedup and before the C4 filters, as in the reference (`c4/webtextlike`,
`c4/realnewslike`). The domain filter depends only on the normalised URL, so running it
after URL dedup keeps the same pages as the reference, which runs it before.

The URL join is keyed on the normalised URL and runs one of two ways:

  side-input  the table is broadcast: each worker process loads it once from the table
              files into a dict (`apache_beam.utils.shared.Shared`, so the threads of a
              process share one copy) and documents are looked up without a shuffle.
              Memory: ~270 bytes a URL in every worker process (measured: 267 MB at 1M
              URLs, bench/bench_select.py). For tables up to `--side-input-max-urls`
              (default 1M, so ≤ ~300 MB a process). Not a Beam `AsDict` view: at 1M URLs
              on the DirectRunner that added 1.06 GB and 35 s to the pipeline, against
              0.27 GB and 4 s for this.
  cogroup     documents and table rows are shuffled together (`CoGroupByKey`). Worker
              memory does not grow with the table (the runner's shuffle holds it); it costs
              a shuffle of the documents and of the table.

`auto` (the default) counts the table's rows (Parquet footers, or lines of a URL list)
when the pipeline is built and picks side-input at or below the bound, cogroup above.

Tallies (stats.json "events"/"select"): domains_kept, url_list_kept, url_list_urls (distinct
URLs in the table), url_list_urls_found (of which some document was crawled).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.shared import Shared

from cleancrawl.selection.domains import DomainSelector, load_allowlist
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.selection.reddit import Karma, count_url_table, list_url_table, merge_karma, read_url_table
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, ApplyStage, CountingFn
from cleancrawl.pipelines.select_config import (  # noqa: F401 (re-exported)
    DEFAULT_SIDE_INPUT_MAX_URLS, JOIN_MODES, SelectConfig,
)

STAGE = "select"
NOT_IN_URL_LIST = "not_in_url_list"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SelectPlan:
    """What `SelectConfig` resolves to when the pipeline is built (all user errors raised here)."""

    url_files: tuple[str, ...] = ()
    url_rows: int | None = None       # rows counted for `auto` (None: not counted)
    join: str = ""                    # side-input | cogroup | "" (no URL selection)
    allowlist: dict | None = None


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def plan_selection(config: SelectConfig) -> SelectPlan:
    """Check the inputs and choose the join. Raises UserError for anything the user can fix."""
    if config.join not in JOIN_MODES:
        raise UserError(f"--select-join: choose from {', '.join(JOIN_MODES)}")
    allowlist = load_allowlist(config.domains) if config.domains else None
    if not config.urls:
        return SelectPlan(allowlist=allowlist)
    files = tuple(list_url_table(config.urls))
    rows = None
    join = config.join
    if join == "auto":
        try:
            rows = 0
            for path in files:
                with _open(path) as f:
                    rows += count_url_table(f)
        except Exception as err:
            raise UserError(f"cannot read URL table {config.urls}: {err}") from None
        join = "side-input" if rows <= config.side_input_max_urls else "cogroup"
    log.info("select: URL table %s (%s rows) joined by %s", config.urls, rows if rows is not None else "?", join)
    return SelectPlan(url_files=files, url_rows=rows, join=join, allowlist=allowlist)


# ---------------------------------------------------------------------------- pieces

def with_karma(doc: Document, karma: Karma) -> Document:
    subreddits = list(karma.subreddits) if karma.subreddits is not None else None
    return doc.replace(reddit_score=karma.score, reddit_submissions=karma.submissions, subreddits=subreddits)


def not_in_url_list(doc: Document) -> Drop:
    return doc.drop(STAGE, NOT_IN_URL_LIST)


def _event(name: str):
    return lambda n: (("event", STAGE, name), (n, 0))


class _Lookup(dict):
    """The URL table as a dict (a subclass, because `Shared` needs a weak-referenceable object)."""


def load_lookup(files: tuple[str, ...]) -> _Lookup:
    """All rows of a URL table in one dict; repeated URLs merged. Equal subreddit tuples are
    stored once (most URLs share a handful), which keeps the dict near 200 bytes a URL."""
    table, shared_tuples = _Lookup(), {}
    for path in files:
        with _open(path) as f:
            for url, karma in read_url_table(f):
                if karma.subreddits is not None:
                    karma = karma._replace(subreddits=shared_tuples.setdefault(karma.subreddits, karma.subreddits))
                seen = table.get(url)
                table[url] = karma if seen is None else merge_karma([seen, karma])
    return table


class _LookUpFn(CountingFn):
    """Side-input join: the table is loaded once per worker process (shared by its threads)."""

    stage = STAGE

    def __init__(self, files: tuple[str, ...], shared_table: Shared):
        self._files = files
        self._shared_table = shared_table

    def setup(self):
        self._table = self._shared_table.acquire(lambda: load_lookup(self._files))

    def process(self, doc: Document):
        karma = self._table.get(doc.normalized_url)
        if karma is None:
            yield self.dropped(not_in_url_list(doc))
        else:
            yield with_karma(doc, karma)


class _TableSizeFn(beam.DoFn):
    def __init__(self, files: tuple[str, ...], shared_table: Shared):
        self._files = files
        self._shared_table = shared_table

    def process(self, _):
        table = self._shared_table.acquire(lambda: load_lookup(self._files))
        yield ("event", STAGE, "url_list_urls"), (len(table), 0)


class _ReadUrlTableFn(beam.DoFn):
    def process(self, path: str):
        with _open(path) as f:
            yield from read_url_table(f)


class _CoGroupJoinFn(CountingFn):
    """CoGroupByKey join: one normalised URL, its documents and its table row(s). Counts the
    table's distinct URLs and those found in the crawl per bundle, as tallies."""

    stage = STAGE

    def process(self, element):
        _, grouped = element
        karmas = list(grouped["table"])
        karma = merge_karma(karmas) if karmas else None
        found = False
        for doc in grouped["docs"]:
            if karma is None:
                yield self.dropped(not_in_url_list(doc))
            else:
                found = True
                yield with_karma(doc, karma)
        self.count_event("url_list_urls", karma is not None)
        self.count_event("url_list_urls_found", found)


class JoinUrlTable(beam.PTransform):
    """docs → {KEPT, DROPPED, TALLY}: keep the documents whose normalised URL is in the table."""

    def __init__(self, files: tuple[str, ...], join: str):
        super().__init__()
        self._files = files
        self._join = join

    def expand(self, docs):
        if self._join == "side-input":
            return self._side_input(docs)
        return self._cogroup(docs)

    def _side_input(self, docs):
        shared_table = Shared()
        joined = docs | "LookUpUrls" >> beam.ParDo(_LookUpFn(self._files, shared_table)).with_outputs(DROPPED, main=KEPT)
        kept = joined[KEPT]
        tallies = [
            docs.pipeline | "Once" >> beam.Create([None]) | "TableSize" >> beam.ParDo(_TableSizeFn(self._files, shared_table)),
            kept | "CountKept" >> beam.combiners.Count.Globally() | "KeptTally" >> beam.Map(_event("url_list_kept")),
            kept
            | "KeptUrls" >> beam.Map(lambda d: d.normalized_url)
            | "DistinctKeptUrls" >> beam.Distinct()
            | "CountFound" >> beam.combiners.Count.Globally()
            | "FoundTally" >> beam.Map(_event("url_list_urls_found")),
        ]
        return {KEPT: kept, DROPPED: joined[DROPPED], TALLY: tallies | "Tallies" >> beam.Flatten()}

    def _cogroup(self, docs):
        table = (
            docs.pipeline
            | "TableFiles" >> beam.Create(list(self._files))
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRows" >> beam.ParDo(_ReadUrlTableFn())
        )
        keyed = docs | "KeyByUrl" >> beam.Map(lambda d: (d.normalized_url, d))
        joined = ({"docs": keyed, "table": table} | "CoGroupByUrl" >> beam.CoGroupByKey()
                  | "KeepListed" >> beam.ParDo(_CoGroupJoinFn()).with_outputs(DROPPED, TALLY, main=KEPT))
        kept = joined[KEPT]
        kept_tally = kept | "CountKept" >> beam.combiners.Count.Globally() | "KeptTally" >> beam.Map(_event("url_list_kept"))
        return {KEPT: kept, DROPPED: joined[DROPPED], TALLY: (joined[TALLY], kept_tally) | "Tallies" >> beam.Flatten()}


# ---------------------------------------------------------------------------- the stage

class SelectDocuments(beam.PTransform):
    """URL-deduplicated documents → {KEPT, DROPPED, TALLY} (constants of pipelines.accounting).

    `SelectDocuments(config)` checks the inputs and chooses the join when constructed, so a
    missing table or a malformed allowlist fails before the pipeline runs (UserError).
    """

    def __init__(self, config: SelectConfig | SelectPlan):
        super().__init__()
        self._plan = config if isinstance(config, SelectPlan) else plan_selection(config)

    @property
    def plan(self) -> SelectPlan:
        return self._plan

    def expand(self, docs):
        plan = self._plan
        drops, tallies = [], []
        if plan.allowlist is not None:
            out = docs | "SelectDomains" >> ApplyStage(functools.partial(DomainSelector, plan.allowlist), STAGE)
            docs = out[KEPT]
            drops.append(out[DROPPED])
            tallies += [out[TALLY], docs | "CountDomainsKept" >> beam.combiners.Count.Globally()
                        | "DomainsTally" >> beam.Map(_event("domains_kept"))]
        if plan.url_files:
            out = docs | "JoinUrlTable" >> JoinUrlTable(plan.url_files, plan.join)
            docs = out[KEPT]
            drops.append(out[DROPPED])
            tallies.append(out[TALLY])
        if not drops:  # nothing to select: pass through
            empty = docs.pipeline | "NoSelection" >> beam.Create([])
            return {KEPT: docs, DROPPED: empty, TALLY: empty}
        return {KEPT: docs, DROPPED: drops | "SelectDrops" >> beam.Flatten(),
                TALLY: tallies | "SelectTallies" >> beam.Flatten()}
