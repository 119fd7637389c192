"""C4's URL deduplication: among pages with the same normalised URL, keep the newest.

The reference keeps the page with the greatest WARC date and, on a tie, whichever the runner
happened to see first. Here ties go to the smallest (source file, offset, record id), so the
survivor never depends on arrival order (a documented difference that only matters for
exact-duplicate timestamps).
"""
from __future__ import annotations

from cleancrawl.corpus.record import Document, Drop

STAGE = "url_dedup"


def is_preferred(candidate: Document, incumbent: Document) -> bool:
    """True when `candidate` should replace `incumbent` as the page kept for their URL."""
    if candidate.timestamp != incumbent.timestamp:
        return candidate.timestamp > incumbent.timestamp
    return (candidate.source_file, candidate.source_offset, candidate.record_id) < (
        incumbent.source_file,
        incumbent.source_offset,
        incumbent.record_id,
    )


def duplicate_drop(loser: Document, winner: Document) -> Drop:
    return loser.drop(STAGE, "duplicate_url", detail=winner.record_id or winner.url)


def select_newest(pages: list[Document]) -> tuple[Document, list[Drop]]:
    """The page kept for one normalised URL, and a Drop for each of the others."""
    best = pages[0]
    for page in pages[1:]:
        if is_preferred(page, best):
            best = page
    return best, [duplicate_drop(p, best) for p in pages if p is not best]
