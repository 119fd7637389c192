"""The one record type that flows through the build, its Parquet schema, `Drop`, and the
contract of a page filter.

A `Document` is created by a reader (`corpus.readers`) and passed, possibly changed
(`dataclasses.replace`), through every stage. A stage that removes a document returns a
`Drop` with the reason, so that kept + dropped == read always holds.

A page filter is any callable `Document -> Document | Drop` (`PageFilter`); no base class. It
names only the reason (`doc.drop("too_few_words", detail=...)`): the runner that calls it stamps
the stage's registry name on the Drop (`Drop.at_stage`), and refuses a Drop naming another
stage. A filter that also counts lines per rule has a `line_counts` Counter (`CountsLines`),
which the runner turns into the stage's line tallies.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Protocol, Union, runtime_checkable

import pyarrow as pa


def utf8_len(text: str) -> int:
    """UTF-8 size of `text`, lone surrogates as 3 bytes; an ASCII text (str.isascii is O(1)) is not encoded."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class Document:
    url: str                      # WARC-Target-URI as crawled
    normalized_url: str           # corpus.urls.normalize_url(url): the key for URL dedup, split and joins
    timestamp: str                # WARC-Date, ISO 8601 (e.g. 2024-05-18T00:00:00Z)
    text: str                     # WET text, or text extracted from HTML; cleaned as the stages go
    record_id: str = ""           # WARC-Record-ID
    source_file: str = ""         # the WARC/WET file it was read from
    source_offset: int = 0        # byte offset of the record in that (compressed) file
    content_type: str = ""        # WET: Content-Type of the conversion record; WARC: HTTP Content-Type
    content_length: int = 0       # bytes of the record payload as read
    language: str = ""            # set by language ID
    language_score: float = 0.0   # probability of `language`
    # WebText-like selection (Reddit karma); None when not selected by URL list.
    reddit_score: int | None = None
    reddit_submissions: int | None = None
    subreddits: list[str] | None = None
    # A piece of a snapshot build only (`pipelines.pieces`): what the piece recorded for the
    # stages the finish replays; never written to the shards. Its "bytes" is the size of the
    # text the stages before the first replayed one saw, which the piece did not keep.
    replay: dict | None = None
    # (text, its UTF-8 size), remembered for that very text object: the funnel sizes a page as it
    # enters and leaves every stage, and most stages leave the text as it is. Not a field to set.
    _sized: tuple | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    def replace(self, **changes) -> "Document":
        new = dataclasses.replace(self, **changes)
        if "text" not in changes:
            new._sized = self._sized
        return new

    # Pickled (Beam's coders, spill files) without the remembered size, which holds the text.
    def __getstate__(self):
        return [getattr(self, name) for name in _DOCUMENT_FIELDS]

    def __setstate__(self, state):
        for name, value in zip(_DOCUMENT_FIELDS, state):
            object.__setattr__(self, name, value)
        self._sized = None

    def text_bytes(self) -> int:
        """UTF-8 size of the text (lone surrogates, which some pages carry, counted as 3 bytes)."""
        if self.replay is not None and "bytes" in self.replay:
            return self.replay["bytes"]
        sized = self._sized
        if sized is not None and sized[0] is self.text:
            return sized[1]
        size = utf8_len(self.text)
        self._sized = (self.text, size)
        return size

    def drop(self, reason: str, *, detail: str = "", stage: str = "") -> "Drop":
        """The Drop recording that this document leaves the build, and why. `stage` is left
        empty by a filter: the stage runner stamps its registry name (`Drop.at_stage`)."""
        return Drop(stage, reason, self.source_file, url=self.url, text_bytes=self.text_bytes(), detail=detail,
                    document=self)


_DOCUMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Document) if f.init)


@dataclass(frozen=True, slots=True)
class Drop:
    """A document (or an unreadable part of a file) that is not kept, and why."""

    stage: str          # a registry stage (read, url_dedup, clean, ...); "" until the runner stamps it
    reason: str         # too_long, duplicate_url, lorem_ipsum, not_english, ...
    source_file: str
    url: str = ""
    text_bytes: int = 0  # UTF-8 bytes of the text removed (0 when unknown)
    detail: str = ""     # free text: exception message, duplicate-of id, ...
    # The document itself, as the stage saw it (for `--keep-dropped`); None for parts of files
    # that never became documents. The build strips it right where the drop is made.
    document: Document | None = dataclasses.field(default=None, compare=False, repr=False)

    def at_stage(self, stage: str) -> "Drop":
        """This Drop as stage `stage` made it: its stage stamped when empty (a runner with no
        name, `stage=""`, passes a named Drop on as it is). A Drop that names another stage is a
        bug (a filter registered under one name, dropping under another): ValueError, so it can
        never be counted in the wrong row of the funnel."""
        if not self.stage:
            if not stage:
                raise ValueError(f"Drop {self.reason!r} names no stage, and neither does the runner that made it")
            return dataclasses.replace(self, stage=stage)
        if stage and self.stage != stage:
            raise ValueError(f"stage {stage!r} returned a Drop of stage {self.stage!r} (reason {self.reason!r}); "
                             f"a filter names only the reason, its stage is the registry's (pipelines.stages)")
        return self


PageFilter = Callable[[Document], Union[Document, Drop]]  # a stage of the build: no base class


@runtime_checkable
class CountsLines(Protocol):
    """A page filter that also counts the lines each of its rules removed (and kept), e.g.
    `corpus.filters.C4Cleaner`. The runner reads and clears `line_counts` once a bundle and
    reports it as the stage's `("lines", stage, rule)` tallies."""

    line_counts: Counter[str]

    def __call__(self, doc: Document) -> Document | Drop: ...


# The Parquet schema of the output shards. Column order is part of the format.
DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("normalized_url", pa.string(), nullable=False),
        pa.field("timestamp", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("language", pa.string(), nullable=False),
        pa.field("language_score", pa.float32(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_offset", pa.int64(), nullable=False),
        pa.field("content_type", pa.string(), nullable=False),
        pa.field("content_length", pa.int64(), nullable=False),
        pa.field("reddit_score", pa.int64(), nullable=True),
        pa.field("reddit_submissions", pa.int64(), nullable=True),
        pa.field("subreddits", pa.list_(pa.string()), nullable=True),
    ],
    metadata={b"cleancrawl.schema_version": b"1"},
)

_COLUMNS = [f.name for f in DOCUMENT_SCHEMA]


def documents_to_table(docs: list[Document]) -> pa.Table:
    """Documents → an Arrow table with DOCUMENT_SCHEMA (column order fixed)."""
    columns = {name: [getattr(d, name) for d in docs] for name in _COLUMNS}
    return pa.Table.from_pydict(columns, schema=DOCUMENT_SCHEMA)


def table_to_documents(table: pa.Table) -> list[Document]:
    """Arrow table (any subset/superset of DOCUMENT_SCHEMA columns) → Documents."""
    names = [n for n in table.column_names if n in _COLUMNS]
    rows = table.select(names).to_pylist()
    docs = []
    for row in rows:
        row.setdefault("normalized_url", "")
        row.setdefault("timestamp", "")
        docs.append(Document(**row))
    return docs


def sort_key(doc: Document) -> tuple:
    """Total order used inside a shard, so that output bytes never depend on arrival order."""
    return (doc.normalized_url, doc.url, doc.timestamp, doc.source_file, doc.source_offset, doc.record_id)
