"""URL dedup in Beam: among pages with the same normalised URL keep the newest (the decision is
`corpus.url_dedup.select_newest`)."""
from __future__ import annotations

import apache_beam as beam

from cleancrawl.corpus.url_dedup import select_newest
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, CountingFn, text_bytes


class DedupUrls(beam.PTransform):
    """Among pages with the same normalised URL keep the newest (C4's select_newest_page)."""

    def expand(self, docs):
        return (
            docs
            | "KeyByUrl" >> beam.Map(lambda d: (d.normalized_url, d))
            | "GroupByUrl" >> beam.GroupByKey()
            | "KeepNewest" >> beam.ParDo(_KeepNewestFn()).with_outputs(DROPPED, TALLY, main=KEPT)
        )


class _KeepNewestFn(CountingFn):
    stage = "url_dedup"

    def process(self, element):
        _, pages = element
        pages = list(pages)
        best, drops = select_newest(pages)
        yield best
        for drop in drops:
            yield self.dropped(drop)
        self.count_flow("in", len(pages), sum(map(text_bytes, pages)))
        self.count_flow("out", 1, text_bytes(best))
