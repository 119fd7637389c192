"""A build in pieces: many smaller builds, then one finish that writes the whole build's bytes.

    cleancrawl build --crawl C --files 0:1000 --piece --output pieces/p0     each piece alone, anywhere
    cleancrawl finish pieces/p0 pieces/p1 … --output OUT                      once every piece is done

C4's URL dedup, line dedup and MinHash compare every page with every other, so they cannot run
in a piece; reading and the per-page filters can. What runs where:

    read            per file               piece: its pages, its tallies and file errors (piece.json)
    url_dedup       every page (keys only) finish
    select          per page, keeps text   finish (a join with the URL table; cheap)
    clean           per page               piece: its decision recorded per page; finish replays it
    dedup           every page             finish, on the cleaned text the piece kept
    langid          per page               piece: on the cleaned text; finish replays it where dedup
                                           left the text as it was, identifies the language where not
    decontaminate,  per page, cheap        finish
    badwords
    write           every page's bytes     finish

A stage is replayed when the registry says so (`Stage(replayed=True)`: a filter whose result
depends only on the page's text, URL and language). The replayed stages before the first stage
that may change a page's text (`keeps_text` says which do not) are the piece's *prefix*: the
piece keeps only the text they leave, and records the size of the text each saw, so the finish
counts what the whole build counts. A replayed stage after that point records a hash of the
page as it saw it, and the finish replays it only for a page that reaches it unchanged.

Every page the finish replays gets the same decision, text, lines counted and bytes as in the
whole build, and every other step runs as in the whole build over the same pages, so the shards
and the stats.json funnel are the same bytes (the test builds the sample both ways). A piece:

    pieces/p0/
      piece.json                  the build's options, the code version, the input files, the read
                                  stage's tallies and file errors
      documents/part-*.parquet    every page the reader kept: the columns of a shard (text: after
                                  the prefix; "" where the prefix dropped it) and `replay` (JSON)
      _SUCCESS

`finish` refuses pieces built with other options or another cleancrawl, unfinished pieces, a
file in two pieces and gaps between --files slices (named). `--keep-dropped` needs every page's
raw text, which a piece does not keep: it is refused with --piece.
"""
from __future__ import annotations

import datetime
import hashlib
import io
import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq

from cleancrawl import layout, options, output_folder, storage, write_failures
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.readers import FILE_LOSS_REASONS
from cleancrawl.corpus.record import DOCUMENT_SCHEMA, CountsLines, Document, Drop, documents_to_table, sort_key
from cleancrawl.corpus.safe_text import one_line
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, StageFn, SumTallies, apply_filter, text_bytes
from cleancrawl.pipelines.read import ReadCrawl, resolve_inputs
from cleancrawl.pipelines.run_outcome import (
    check_failure_limit,
    code_fingerprint,
    spill_removed_on_failure,
    version,
    within_failure_limit,
)
from cleancrawl.pipelines.stages import STAGES, resolve_skip
from cleancrawl.pipelines.write import PARQUET_OPTIONS, WriteFolderShards

FORMAT = "cleancrawl piece"
FORMAT_VERSION = 1
# Options that differ between the pieces of one build (and between a piece and the whole build).
PER_PIECE = ("inputs", "files", "output", "overwrite", "piece")
PIECE_SCHEMA = pa.schema([*DOCUMENT_SCHEMA, pa.field("replay", pa.string(), nullable=False)],
                         metadata={**DOCUMENT_SCHEMA.metadata, b"cleancrawl.content": b"a piece's pages"})
_STATE_FIELDS = ("language", "language_score")  # besides the text: what a replayed stage may read that changes


# ---------------------------------------------------------------------------- which stages replay

def replay_plan(config, stages=STAGES) -> tuple[list[str], list[str]]:
    """(the prefix: replayed stages before any stage that may change the text; the replayed
    stages after it), among the stages `config` runs."""
    skip = resolve_skip(config.skip, stages)
    prefix, after, in_prefix = [], [], True
    for stage in stages:
        if stage.name == "read" or not stage.runs(config, skip):
            continue
        if stage.replayed:
            (prefix if in_prefix else after).append(stage.name)
        elif not stage.keeps_text:
            in_prefix = False
    return prefix, after


def page_state(doc: Document) -> str:
    """A hash of what a replayed stage after the prefix reads of a page that may have changed."""
    h = hashlib.blake2b(digest_size=16)
    h.update(doc.text.encode("utf-8", "surrogatepass"))
    for name in _STATE_FIELDS:
        h.update(b"\0" + repr(getattr(doc, name)).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _changes(before: Document, after: Document, with_text: bool) -> dict:
    fields = (*_STATE_FIELDS, "text") if with_text else _STATE_FIELDS
    return {name: getattr(after, name) for name in fields if getattr(after, name) != getattr(before, name)}


# ---------------------------------------------------------------------------- the piece

class _RecordStagesFn(beam.DoFn):
    """A page the reader kept → the same page carrying what each replayed stage decided for it
    (`Document.replay`), its text the prefix's. The stages run in their order, each on what the
    one before kept, as they would in the whole build for a page no global step changes."""

    def __init__(self, config, stages=STAGES):
        self._config = config
        self._stages = stages

    def setup(self):
        prefix, after = replay_plan(self._config, self._stages)
        by_name = {s.name: s for s in self._stages}
        self._filters = [(name, name in prefix, by_name[name].filter(by_name[name].options(self._config)))
                         for name in (*prefix, *after)]
        self._last_prefix = prefix[-1] if prefix else None

    def process(self, doc: Document):
        record: dict = {"stages": {}}
        if self._last_prefix:
            record["bytes"], record["last_prefix"] = text_bytes(doc), self._last_prefix
        page, carried = doc, doc.text
        for name, in_prefix, page_filter in self._filters:
            entry: dict = {} if in_prefix else {"state": page_state(page)}
            counts_lines = isinstance(page_filter, CountsLines)
            if counts_lines:
                page_filter.line_counts.clear()
            result = apply_filter(page_filter, page)  # as StageFn runs it
            if counts_lines and page_filter.line_counts:
                entry["lines"] = dict(sorted(page_filter.line_counts.items()))
            record["stages"][name] = entry
            if isinstance(result, Drop):
                result.at_stage(name)  # a filter dropping under another stage's name is a bug here too
                entry["drop"] = [result.reason, result.detail]
                if in_prefix:
                    carried = ""  # the finish needs no text of a page the prefix dropped
                break
            entry["out"] = text_bytes(result)
            entry["set"] = _changes(page, result, with_text=not in_prefix)
            page = result
            if in_prefix:
                carried = result.text
        yield doc.replace(text=carried, replay=record)


def encode_documents(docs: list[Document]) -> bytes:
    """A piece's pages as one Parquet file: a shard's columns and `replay`."""
    table = documents_to_table(docs)
    replay = pa.array([json.dumps(d.replay, sort_keys=True) for d in docs], pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays([*table.columns, replay], schema=PIECE_SCHEMA), buffer, **PARQUET_OPTIONS)
    return buffer.getvalue()


def _file_loss(drop: Drop) -> bool:
    return drop.reason in FILE_LOSS_REASONS


def _drop_row(drop: Drop) -> dict:
    return {"reason": drop.reason, "source_file": drop.source_file, "url": drop.url, "text_bytes": drop.text_bytes,
            "detail": drop.detail}


class _FinishPieceFn(beam.DoFn):
    """Once, after the pages are written: piece.json, then _SUCCESS (not when too many files failed)."""

    def __init__(self, output: str, record: dict, run_id: str, max_failed_files: float):
        self._output, self._record, self._run_id = output, record, run_id
        self._max_failed = max_failed_files

    def process(self, _, written, tallies, file_drops):
        output_folder.check_lock_owner(self._output, self._run_id)
        drops = sorted((_drop_row(d) for d in file_drops), key=lambda r: json.dumps(r, sort_keys=True))
        record = {**self._record, "documents": sum(n for *_, n in written),
                  "read": {"tallies": [[list(key), list(value)] for key, value in tallies], "file_errors": drops},
                  "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        storage.write_atomically(storage.join(self._output, layout.PIECE_FILE),
                                 (json.dumps(record, indent=1) + "\n").encode("utf-8"))
        stats = _piece_stats(record)
        if within_failure_limit(stats, self._max_failed):
            storage.write_atomically(storage.join(self._output, layout.SUCCESS_MARKER), layout.SUCCESS_CONTENT)
        yield stats


def _piece_stats(record: dict) -> dict:
    """What `pipelines.build.within_failure_limit` and `failed_files` read, of a piece."""
    files = sum(1 for key, _ in record["read"]["tallies"] if key[0] == "read")
    return {"totals": {"files": files}, "file_errors": record["read"]["file_errors"]}


def build_piece(pipeline, config, input_files: list[str], record: dict, run_id: str, stages=STAGES):
    """Add a piece's transforms to `pipeline`: read, record the replayed stages, write."""
    out = (pipeline | "InputFiles" >> beam.Create(input_files)
           | "Read" >> ReadCrawl(config.reader_config()))
    pages = out[KEPT] | "RecordStages" >> beam.ParDo(_RecordStagesFn(config, stages))
    written = pages | "WritePages" >> WriteFolderShards(config.output, layout.PIECE_DOCUMENTS_DIR, encode_documents,
                                                        sort_key, config.shard_bytes)
    counted = out[DROPPED] | "NotFileLosses" >> beam.Filter(lambda d: not _file_loss(d))
    tallies = (out[TALLY], counted) | "SumTallies" >> SumTallies()
    file_drops = out[DROPPED] | "FileLosses" >> beam.Filter(_file_loss)
    return (pipeline | "Once" >> beam.Create([None])
            | "WritePiece" >> beam.ParDo(_FinishPieceFn(config.output, record, run_id, config.max_failed_files),
                                         written=beam.pvalue.AsList(written),
                                         tallies=beam.pvalue.AsSingleton(tallies, default_value=[]),
                                         file_drops=beam.pvalue.AsList(file_drops)))


def _identity(config) -> dict:
    return {k: v for k, v in config.to_dict().items() if k not in PER_PIECE}


def read_piece(folder: str) -> dict | None:
    """piece.json of `folder`, or None where there is none; a damaged one is a UserError."""
    path = storage.join(folder, layout.PIECE_FILE)
    if not storage.exists(path):
        return None
    try:
        with storage.open_binary(path) as f:
            record = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{folder}: cannot read its {layout.PIECE_FILE} ({one_line(err, 120)})") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise UserError(f"{folder}: its {layout.PIECE_FILE} is not a cleancrawl piece's")
    return record


def piece_state(folder: str) -> str:
    """"finished" (piece.json and _SUCCESS), "unfinished" (a piece's files, no _SUCCESS: stopped,
    crashed, killed) or "none" (no piece's file; any other file is left to prepare_output_folder)."""
    ours, _ = output_folder.output_files(folder, layout.piece_layout())
    ours = [r for r in ours if r not in (output_folder.LOCK_FILE, output_folder.WRITE_PROBE)]
    if layout.SUCCESS_MARKER in ours and layout.PIECE_FILE in ours:
        return "finished"
    return "unfinished" if ours or storage.exists(storage.join(folder, output_folder.LOCK_FILE)) else "none"


def run_piece(config, pipeline_args: list[str] | None = None, stages=STAGES) -> dict:
    """`cleancrawl build --piece`: build one piece into `config.output`. Returns
    {"documents": …, "files": …, "already": bool}. A finished piece of the same options and files
    is left as it is; an unfinished one (stopped, crashed) is redone without --overwrite."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from cleancrawl.pipelines.worker_exit import runner_for

    if config.keep_dropped:
        raise UserError("--keep-dropped with --piece: a piece keeps the cleaned text only, not what each stage "
                        "dropped; build with --keep-dropped in one run")
    if config.sample:
        raise UserError("--sample with --piece: a sample is one build (see `cleancrawl plan`); split a listing "
                        "into pieces with --files")
    resolve_skip(config.skip, stages)
    options_ = PipelineOptions(pipeline_args or [])
    storage.use_pipeline_options(options_)
    listed: dict = {}
    input_files = resolve_inputs(config, listed)
    prefix, after = replay_plan(config, stages)
    files_range = None
    if config.files:
        from cleancrawl.pipelines.snapshot import parse_slice

        files_range = list(parse_slice(config.files).indices(listed["files"])[:2])
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "cleancrawl_version": version(),
              "code": code_fingerprint(),
              "config": config.to_dict(), "inputs": input_files, "listed_files": listed["files"],
              "files_range": files_range, "replayed": {"prefix": prefix, "after": after}}
    state = piece_state(config.output)
    if state == "finished" and not config.overwrite:
        old = read_piece(config.output)
        if _same_piece(old, record):
            return {"documents": old.get("documents", 0), "files": len(input_files), "already": True}
    unfinished = state == "unfinished"  # only its own files (the layout's) are there: it may be redone
    if config.select.enabled:
        from cleancrawl.pipelines.select import plan_selection

        plan_selection(config.select)
    lock = output_folder.prepare_output_folder(config.output, layout.piece_layout(), config.overwrite or unfinished,
                                               [*input_files, config.input_list or ""])
    with lock, write_failures.write_errors_are_user_errors(config.output), spill_removed_on_failure(lock):
        with beam.Pipeline(runner=runner_for(options_), options=options_) as pipeline:
            build_piece(pipeline, config, input_files, record, lock.run_id, stages)
    written = read_piece(config.output) or {}
    stats = _piece_stats(written)
    if not storage.exists(storage.join(config.output, layout.SUCCESS_MARKER)):
        check_failure_limit(stats, config.max_failed_files, layout.PIECE_FILE)
    return {"documents": written.get("documents", 0), "files": len(input_files), "already": False,
            "file_errors": stats["file_errors"]}


def _same_piece(old: dict, new: dict) -> bool:
    keys = ("cleancrawl_version", "code", "inputs", "files_range")
    return (all(old.get(k) == new.get(k) for k in keys)
            and {k: v for k, v in old.get("config", {}).items() if k not in ("output", "overwrite")}
            == {k: v for k, v in new["config"].items() if k not in ("output", "overwrite")})


# ---------------------------------------------------------------------------- the finish

class _ReadPieceShardFn(beam.DoFn):
    """One Parquet file of a piece's pages → Documents carrying their `replay` records."""

    def process(self, path: str):
        for batch in storage.iter_batches([path], PIECE_SCHEMA.names, batch_size=512):
            rows = batch.to_pylist()
            for row in rows:
                replay = json.loads(row.pop("replay"))
                yield Document(**row, replay=replay)


class ReadPieces(beam.PTransform):
    """The finish's source, in place of the reader: the pieces' pages (`kept`), their file
    errors (`dropped`) and the read stage's tallies (`tally`), as the reader gave them."""

    def __init__(self, shards: list[str], tallies: list, file_drops: list[Drop]):
        super().__init__()
        self._shards, self._tallies, self._file_drops = shards, tallies, file_drops

    def expand(self, root):
        pages = (root | "PieceShards" >> beam.Create(self._shards) | "SpreadShards" >> beam.Reshuffle()
                 | "ReadPages" >> beam.ParDo(_ReadPieceShardFn()))
        return {KEPT: pages,
                DROPPED: root | "FileErrors" >> beam.Create(self._file_drops),
                TALLY: root | "ReadTallies" >> beam.Create(self._tallies)}


class _ReplayStageFn(StageFn):
    """Stage `stage` at the finish: what the piece recorded for a page, where it applies (every
    prefix stage; a later stage when the page reaches it unchanged), else the filter itself
    (`StageFn`) — counted exactly as `StageFn` counts it."""

    def process(self, doc: Document):
        record = doc.replay or {}
        entry = record.get("stages", {}).get(self.stage)
        if entry is None or ("state" in entry and entry["state"] != page_state(doc)):
            yield from super().process(doc)
            return
        self.count_flow("in", 1, text_bytes(doc))
        self.count_flow("out", 0, 0)
        for rule, n in entry.get("lines", {}).items():
            self.count_lines(rule, n)
        if "drop" in entry:
            reason, detail = entry["drop"]
            yield self.dropped(doc.drop(reason, detail=detail))
            return
        rest = dict(record)
        if record.get("last_prefix") == self.stage:
            rest.pop("bytes", None)  # the text carried is now the text the build has here
        elif "bytes" in record and "state" not in entry:
            rest["bytes"] = entry["out"]
        result = doc.replace(**entry["set"], replay=rest)
        self.count_flow("out", 1, text_bytes(result))
        yield result


class ReplayStage(beam.PTransform):
    """`docs | ReplayStage(make_stage, "clean")` → `.kept`, `.dropped`, `.tally`, as `ApplyStage`."""

    def __init__(self, make_stage, stage_name: str):
        super().__init__()
        self._make_stage, self._stage_name = make_stage, stage_name

    def expand(self, docs):
        return docs | beam.ParDo(_ReplayStageFn(self._make_stage, self._stage_name)).with_outputs(
            DROPPED, TALLY, main=KEPT)


def check_pieces(folders: list[str], stages=STAGES) -> tuple[object, list[str], list[dict]]:
    """The pieces' build config (with every piece's files), input files and records; one UserError
    line naming every problem: unfinished or missing pieces, other options or code, shared files."""
    from cleancrawl.pipelines.config import config_class

    if not folders:
        raise UserError("finish: name the pieces (the --output folders of `cleancrawl build --piece`)")
    twice = sorted({f for f in folders if folders.count(f) > 1})
    if twice:
        raise UserError(f"cannot finish: {_some(twice)} named twice")
    problems, records = [], []
    for folder in folders:
        state = piece_state(folder)
        if state == "unfinished":
            problems.append(f"{folder} is unfinished (rerun its build command: only that piece is redone)")
        elif state == "none":
            problems.append(f"{folder} is not a piece (no {layout.PIECE_FILE}; build it with --piece)")
        else:
            records.append((folder, read_piece(folder)))
    if problems:
        raise UserError("cannot finish: " + "; ".join(problems))
    first_folder, first = records[0]
    running, code = version(), code_fingerprint()
    other_code = []
    for folder, record in records:
        if record.get("format_version") != FORMAT_VERSION or record.get("cleancrawl_version") != running:
            problems.append(f"{folder} was built by cleancrawl {record.get('cleancrawl_version')} "
                            f"(this is {running}): rebuild it")
            continue
        if record.get("code") != code:
            other_code.append(folder)
            continue
        ours = {k: v for k, v in record["config"].items() if k not in PER_PIECE}
        theirs = {k: v for k, v in first["config"].items() if k not in PER_PIECE}
        differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
        if differ:
            shown = ", ".join(f"{k} {ours.get(k)!r} vs {theirs.get(k)!r}" for k in differ[:3])
            problems.append(f"{folder} was built with other options than {first_folder}: {shown}")
    if other_code:
        problems.append(f"{_some(other_code)} {'was' if len(other_code) == 1 else 'were'} built by other cleancrawl "
                        f"code than this (a changed install or checkout; this is {running}, code {code}): rebuild")
    seen: dict[str, str] = {}
    for folder, record in records:
        for path in record["inputs"]:
            if path in seen and seen[path] != folder:
                problems.append(f"{path} is in two pieces, {seen[path]} and {folder}")
                break
            seen.setdefault(path, folder)
    ranges = [(record.get("files_range"), folder) for folder, record in records]
    files = None
    if all(r is not None for r, _ in ranges):
        ordered = sorted(((tuple(r), f) for r, f in ranges))
        end = ordered[0][0][0]
        for (start, stop), folder in ordered:
            if start > end:
                problems.append(f"missing: the piece of --files {end}:{start}")
            elif start < end:
                problems.append(f"{folder} (--files {start}:{stop}) overlaps another piece")
            end = max(end, stop)
        files = f"{ordered[0][0][0]}:{end}"
    elif any(r is not None for r, _ in ranges):
        problems.append("some pieces were built with --files and some without")
    if problems:
        raise UserError("cannot finish: " + "; ".join(problems))
    data = dict(first["config"])
    data["inputs"] = [p for _, record in records for p in record["config"].get("inputs", [])]
    data["files"] = files
    data["piece"] = False
    config = options.from_dict(config_class(stages), data, f"{first_folder}/{layout.PIECE_FILE}")
    input_files = sorted(dict.fromkeys(p for _, record in records for p in record["inputs"]))
    return config, input_files, [record | {"folder": folder} for folder, record in records]


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def finish_source(records: list[dict]) -> ReadPieces:
    """The finish's `ReadPieces` over the pieces' pages, tallies and file errors."""
    shards, tallies, file_drops = [], [], []
    for record in records:
        folder = storage.join(record["folder"], layout.PIECE_DOCUMENTS_DIR)
        shards += [storage.join(folder, name) for name in sorted(storage.list_dir(folder))
                   if layout.SHARD_NAME.match(name)]
        tallies += [(tuple(key), tuple(value)) for key, value in record["read"]["tallies"]]
        file_drops += [Drop("read", row["reason"], row["source_file"], url=row["url"], text_bytes=row["text_bytes"],
                            detail=row["detail"]) for row in record["read"]["file_errors"]]
    return ReadPieces(shards, tallies, file_drops)
