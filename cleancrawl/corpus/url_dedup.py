"""C4's URL deduplication: among pages with the same normalised URL, keep the newest.

The reference keeps the page with the greatest WARC date and, on a tie, whichever the runner
happened to see first. Here ties go to the smallest (source file, offset, record id), so the
survivor never depends on arrival order (a documented difference that only matters for
exact-duplicate timestamps).
"""
from __future__ import annotations

from cleancrawl.corpus.record import Document, Drop

STAGE = "url_dedup"  # the Beam composite's (pipelines.url_dedup); the build checks it is the registry's
DUPLICATE_URL = "duplicate_url"


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
    return loser.drop(DUPLICATE_URL, detail=duplicate_of(winner))


def duplicate_of(winner) -> str:
    """What a duplicate's Drop names as the page kept instead."""
    return winner.record_id or winner.url


def newest(pages: list):
    """The page kept among pages of one normalised URL: Documents, or anything with their
    `timestamp`, `source_file`, `source_offset` and `record_id` (the pipeline's compact keys)."""
    best = pages[0]
    for page in pages[1:]:
        if is_preferred(page, best):
            best = page
    return best


def select_newest(pages: list[Document]) -> tuple[Document, list[Drop]]:
    """The page kept for one normalised URL, and a Drop for each of the others."""
    best = newest(pages)
    return best, [duplicate_drop(p, best) for p in pages if p is not best]
