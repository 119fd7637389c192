"""Which Parquet columns hold a document's text, URL and id, for corpora other tools wrote.

cleancrawl's own shards name them `text`, `url` and `record_id`. Other tools differ: datatrove
writes `text`, `id` and keeps the URL inside a `metadata` struct, so `--url-column metadata.url`
names a field of a struct column (any depth). A name that is itself a top-level column wins
over a dotted path (a column literally called `meta.url`).

`Columns.rename(batch)` turns a record batch read with `Columns.read_columns(schema)` into one
whose columns have cleancrawl's names, so everything downstream reads `text`/`url`/`record_id`
as usual. Only pyarrow is needed here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc

from cleancrawl.corpus.errors import UserError
from cleancrawl.options import option

# cleancrawl's column → the option that names another one
OPTIONS = {"text": "--text-column", "url": "--url-column", "record_id": "--id-column"}
_WORDS = {"text": "text", "url": "url", "record_id": "id"}
GROUP = ("input columns",
         "for Parquet from other tools: where the text, URL and id are (a.b = field b of struct column a)")


def column_path(schema: pa.Schema, name: str) -> tuple[str, ...] | None:
    """The field path `name` denotes in `schema`, or None when there is none."""
    if name in schema.names:
        return (name,)
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest top-level prefix first: "a.b" may be a column
        top = ".".join(parts[:cut])
        if top not in schema.names:
            continue
        kind = schema.field(top).type
        rest = parts[cut:]
        for part in rest:
            if not pa.types.is_struct(kind) or kind.get_field_index(part) < 0:
                break
            kind = kind.field(part).type
        else:
            return (top, *rest)
    return None


def field_type(schema: pa.Schema, name: str) -> pa.DataType | None:
    path = column_path(schema, name)
    if path is None:
        return None
    kind = schema.field(path[0]).type
    for part in path[1:]:
        kind = kind.field(part).type
    return kind


def extract(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    """The values of column or struct path `name` (nulls where a parent struct is null)."""
    path = column_path(batch.schema, name)
    if path is None:
        raise KeyError(name)
    values = batch.column(path[0])
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    for part in path[1:]:
        values = pc.struct_field(values, part)
    return values


@dataclass(frozen=True)
class Columns:
    """Where text, URL and id are; cleancrawl's own names by default."""

    text: str = option("text", flag="--text-column", metavar="NAME", group=GROUP, help="document text (default: text)")
    url: str = option("url", flag="--url-column", metavar="NAME", group=GROUP,
                      help="document URL (default: url; datatrove: metadata.url)")
    record_id: str = option("record_id", flag="--id-column", metavar="NAME", group=GROUP,
                            help="document id (default: record_id; datatrove: id)")

    def mapping(self) -> dict[str, str]:
        return {"text": self.text, "url": self.url, "record_id": self.record_id}

    @property
    def is_default(self) -> bool:
        return self == Columns()

    def check(self, schema: pa.Schema, source: str, required: Iterable[str] = ("text",),
              options: bool = True) -> None:
        """UserError, in one line naming the option (where the command has one: `options`) and
        the columns there are, for a required column that `schema` lacks or a text/URL column
        that is not a string."""
        for ours in required:
            name = self.mapping()[ours]
            kind = field_type(schema, name)
            hint = f"set {OPTIONS[ours]}; " if options else ""
            if kind is None:
                raise UserError(f"{source}: no {_WORDS[ours]} column {name!r} ({hint}its columns: "
                                f"{', '.join(_describe(schema))})")
            if ours in ("text", "url") and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                raise UserError(f"{source}: column {name!r} is {kind}, not text"
                                + (f" (set {OPTIONS[ours]})" if options else ""))

    def read_columns(self, schema: pa.Schema, wanted: Iterable[str] = ("text", "url", "record_id"),
                     others: Iterable[str] = ()) -> list[str]:
        """Top-level columns to read for cleancrawl columns `wanted` (those present) plus `others`."""
        columns = []
        for ours in wanted:
            path = column_path(schema, self.mapping()[ours])
            if path is not None:
                columns.append(path[0])
        columns += [c for c in others if c in schema.names]
        return list(dict.fromkeys(columns))

    def rename(self, batch: pa.RecordBatch | pa.Table, keep: Iterable[str] = ()) -> pa.RecordBatch:
        """`batch` with cleancrawl's names: text/url/record_id from where they are, then the
        columns in `keep` that have no mapping of their own (and do not clash)."""
        arrays, names = [], []
        for ours, name in self.mapping().items():
            if column_path(batch.schema, name) is not None:
                values = extract(batch, name)
                if ours == "record_id" and not pa.types.is_string(values.type):  # datatrove ids may be numbers
                    values = pc.cast(values, pa.string())
                arrays.append(values)
                names.append(ours)
        for name in keep:
            if name not in names and name in batch.schema.names:
                column = batch.column(name)
                arrays.append(column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column)
                names.append(name)
        return pa.RecordBatch.from_arrays(arrays, names=names)


def _describe(schema: pa.Schema) -> list[str]:
    """Column names, struct fields spelled as paths (metadata.url), at most 20."""
    names: list[str] = []

    def walk(prefix: str, kind: pa.DataType) -> None:
        for i in range(kind.num_fields):
            child = kind.field(i)
            name = f"{prefix}.{child.name}"
            names.append(name)
            if pa.types.is_struct(child.type):
                walk(name, child.type)

    for field in schema:
        names.append(field.name)
        if pa.types.is_struct(field.type):
            walk(field.name, field.type)
    return names[:20] + (["…"] if len(names) > 20 else [])
