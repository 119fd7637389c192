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
  cogroup     a keys-only join (`pipelines.spill`): each document's URL hash and ref are
              shuffled with the table's rows (`CoGroupByKey`) while the text waits in a spill
              file; each document comes back with its URL's karma or is dropped. Worker memory
              does not grow with the table (the runner's shuffle holds it); it costs a shuffle
              of the table and of ~30 bytes a document.

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
from apache_beam.utils.shared import Shared

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.record import Document, Drop
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, ApplyStage, CountingFn
from cleancrawl.pipelines.select_config import (  # noqa: F401 (re-exported)
    DEFAULT_SIDE_INPUT_MAX_URLS,
    JOIN_MODES,
    SelectConfig,
)
from cleancrawl.pipelines.spill import (
    KEYS,
    KeyedStage,
    KeysOnly,
    spill_folder,
    split_ref,
)
from cleancrawl.pipelines.url_dedup import url_key
from cleancrawl.selection.domains import DomainSelector, load_allowlist
from cleancrawl.selection.url_table import (
    Karma,
    count_url_table,
    list_url_table,
    merge_karma,
    read_url_table,
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
                with storage.open_binary(path) as f:
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
    return doc.drop(NOT_IN_URL_LIST)


def _event(name: str):
    return lambda n: (("event", STAGE, name), (n, 0))


class _Lookup(dict):
    """The URL table as a dict (a subclass, because `Shared` needs a weak-referenceable object)."""


def load_lookup(files: tuple[str, ...]) -> _Lookup:
    """All rows of a URL table in one dict; repeated URLs merged. Equal subreddit tuples are
    stored once (most URLs share a handful), which keeps the dict near 200 bytes a URL."""
    table, shared_tuples = _Lookup(), {}
    for path in files:
        with storage.open_binary(path) as f:
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
        with storage.open_binary(path) as f:
            yield from read_url_table(f)


class _UrlTableKeys(KeyedStage):
    """The cogroup join on keys: each document shuffles its normalised URL's MD5 and its ref (the
    text waits in a spill file); each comes back with its URL's karma, or none (not listed)."""

    stage = STAGE

    def keys(self, batch, fn):
        for ref, doc in batch:
            yield url_key(doc.normalized_url), ref

    def collect(self, values):
        return dict(values)

    def apply(self, doc, karma, fn):
        if karma is None:
            yield fn.dropped(not_in_url_list(doc))
        else:
            yield with_karma(doc, karma)


class _JoinTableFn(CountingFn):
    """(URL key, {"refs": [ref], "table": [Karma]}) → (spill id, (position, karma or None)) for each
    document of that URL. Counts the table's distinct URLs and those found in the crawl."""

    stage = STAGE

    def process(self, element):
        _, grouped = element
        karmas = list(grouped["table"])
        karma = merge_karma(karmas) if karmas else None
        found = False
        for ref in grouped["refs"]:
            found = found or karma is not None
            spill_id, position = split_ref(ref)
            yield spill_id, (position, karma)
        self.count_event("url_list_urls", karma is not None)
        self.count_event("url_list_urls_found", found)


class _DecideListed(beam.PTransform):
    def __init__(self, files: tuple[str, ...]):
        super().__init__()
        self._files = files

    def expand(self, keys):
        table = (
            keys[KEYS].pipeline
            | "TableFiles" >> beam.Create(list(self._files))
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadRows" >> beam.ParDo(_ReadUrlTableFn())
            | "KeyRows" >> beam.Map(lambda row: (url_key(row[0]), row[1]))
        )
        joined = ({"refs": keys[KEYS], "table": table} | "CoGroupByUrl" >> beam.CoGroupByKey()
                  | "JoinTable" >> beam.ParDo(_JoinTableFn()).with_outputs(TALLY, main="decisions"))
        return joined["decisions"], [joined[TALLY]]


class JoinUrlTable(beam.PTransform):
    """docs → {KEPT, DROPPED, TALLY}: keep the documents whose normalised URL is in the table."""

    def __init__(self, files: tuple[str, ...], join: str, folder: str | None = None):
        super().__init__()
        self._files = files
        self._join = join
        self._folder = folder  # cogroup: where the documents wait (pipelines.spill)

    def expand(self, docs):
        if self._join == "side-input":
            return self._side_input(docs)
        return self._cogroup(docs)

    def _side_input(self, docs):
        shared_table = Shared()
        joined = docs | "LookUpUrls" >> beam.ParDo(_LookUpFn(self._files, shared_table)).with_outputs(
            DROPPED, main=KEPT)
        kept = joined[KEPT]
        tallies = [
            docs.pipeline
            | "Once" >> beam.Create([None])
            | "TableSize" >> beam.ParDo(_TableSizeFn(self._files, shared_table)),
            kept | "CountKept" >> beam.combiners.Count.Globally() | "KeptTally" >> beam.Map(_event("url_list_kept")),
            kept
            | "KeptUrls" >> beam.Map(lambda d: d.normalized_url)
            | "DistinctKeptUrls" >> beam.Distinct()
            | "CountFound" >> beam.combiners.Count.Globally()
            | "FoundTally" >> beam.Map(_event("url_list_urls_found")),
        ]
        return {KEPT: kept, DROPPED: joined[DROPPED], TALLY: tallies | "Tallies" >> beam.Flatten()}

    def _cogroup(self, docs):
        folder = self._folder or spill_folder(None)
        joined = docs | "KeysOnly" >> KeysOnly(_UrlTableKeys(), _DecideListed(self._files), folder, STAGE)
        kept = joined[KEPT]
        kept_tally = (kept | "CountKept" >> beam.combiners.Count.Globally()
                      | "KeptTally" >> beam.Map(_event("url_list_kept")))
        return {KEPT: kept, DROPPED: joined[DROPPED], TALLY: (joined[TALLY], kept_tally) | "Tallies" >> beam.Flatten()}


# ---------------------------------------------------------------------------- the stage

class SelectDocuments(beam.PTransform):
    """URL-deduplicated documents → {KEPT, DROPPED, TALLY} (constants of pipelines.accounting).

    `SelectDocuments(config)` checks the inputs and chooses the join when constructed, so a
    missing table or a malformed allowlist fails before the pipeline runs (UserError).
    """

    def __init__(self, config: SelectConfig | SelectPlan, output: str | None = None):
        super().__init__()
        self._plan = config if isinstance(config, SelectPlan) else plan_selection(config)
        self._folder = spill_folder(output) if output else None  # the cogroup join's documents wait here

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
            out = docs | "JoinUrlTable" >> JoinUrlTable(plan.url_files, plan.join, self._folder)
            docs = out[KEPT]
            drops.append(out[DROPPED])
            tallies.append(out[TALLY])
        if not drops:  # nothing to select: pass through
            empty = docs.pipeline | "NoSelection" >> beam.Create([])
            return {KEPT: docs, DROPPED: empty, TALLY: empty}
        return {KEPT: docs, DROPPED: drops | "SelectDrops" >> beam.Flatten(),
                TALLY: tallies | "SelectTallies" >> beam.Flatten()}
