"""Keys-only stages: documents wait in spill files while only compact keys are shuffled.

    docs ─ Spill ─────────────── OUT/_spill/<stage>-<id>.spill   (one file a bundle, zstd frames)
             │ keys, each carrying the document's ref (spill id, position)
             └─ decide: the stage's own shuffle of keys ─ (spill id → [(position, decision)])
                                                           │  only documents something happens to
    spill ids ─────────────────────────────── CoGroupByKey(spill id) ─ Apply: stream the spill
                                                file, apply each document's decision → docs, Drops

A stage that needs every document at once (URL dedup, C4 line and span dedup, MinHash) used to
group the documents themselves: on Dataflow every page's text crossed the shuffle, and on the
DirectRunner, which holds every grouped PCollection in memory, memory grew with the crawl
(~49 KB a page). Here the text is written once to a spill file beside the output and read back
once; the shuffle carries keys (a line's hash and the page's key, a URL hash and a date), and
the decisions coming back are sparse (the losers only). `pipelines.dedup` and
`pipelines.url_dedup` describe their stages as a `KeyedStage`; `KeysOnly` runs one.

Spill files are the run's own (`layout.SPILL_DIR`, owned by the corpus layout, so `--overwrite`
clears a crashed run's); `pipelines.write.Finalize` deletes them before `_SUCCESS`. A retried
bundle writes a new file under a new random id and the runner discards the failed attempt's
keys, so retries never mix; a spill file is only read after the bundle that wrote it committed.
"""
from __future__ import annotations

import atexit
import ctypes
import dataclasses
import functools
import os
import pickle
import re
import secrets
import shutil
import struct
import tempfile

import apache_beam as beam
import pyarrow as pa

from cleancrawl import layout, storage
from cleancrawl.corpus.record import Document
from cleancrawl.pipelines.accounting import DROPPED, KEPT, TALLY, CountingFn, _global

SPILLS = "spills"
KEYS = "keys"
_FRAME_DOCS = 256                 # documents a frame: a frame is what a reader holds at once
_FRAME_BYTES = 8 << 20
_HEADER = struct.Struct(">I")     # a frame's size: a frame is `pack(rows)`
_FIELDS = [f.name for f in dataclasses.fields(Document) if f.init]


def pack(element) -> bytes:
    """Any picklable element as one zstd-compressed bytes value (spill frames, the write's shuffle)."""
    raw = pickle.dumps(element, protocol=5)
    return len(raw).to_bytes(8, "big") + _codec().compress(raw, asbytes=True)


def unpack(packed: bytes):
    return pickle.loads(_codec().decompress(packed[8:], decompressed_size=int.from_bytes(packed[:8], "big"),
                                            asbytes=True))


@functools.cache
def _codec():
    return pa.Codec("zstd", compression_level=1)


# ---------------------------------------------------------------------------- refs

SPILL_ID_BYTES = 8                # a spill file's id: heads each packed value of keys once
REF_BYTES = SPILL_ID_BYTES + 4
KEYS_FLUSH_BYTES = 32 << 20       # keys a stage packs per bundle: at most this much is held before it emits them


def make_ref(spill_id: int, position: int) -> bytes:
    """12 bytes naming a document: its spill file's id (8) and its position in it (4)."""
    return spill_id.to_bytes(SPILL_ID_BYTES, "big") + position.to_bytes(REF_BYTES - SPILL_ID_BYTES, "big")


def split_ref(ref: bytes) -> tuple[int, int]:
    return int.from_bytes(ref[:SPILL_ID_BYTES], "big"), int.from_bytes(ref[SPILL_ID_BYTES:REF_BYTES], "big")


# ---------------------------------------------------------------------------- files

def spill_folder(output: str | None) -> str:
    """Where a run's spill files go: `OUT/_spill` (a private temporary folder without an output:
    a stage built on its own, on a local runner; removed when the process that made it exits)."""
    if output:
        return storage.join(output, layout.SPILL_DIR)
    folder = tempfile.mkdtemp(prefix="cleancrawl-spill-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def spill_path(folder: str, label: str, spill_id: int) -> str:
    return storage.join(folder, f"{re.sub(r'[^A-Za-z0-9_-]', '-', label)}-{spill_id:016x}.spill")


class SpillWriter:
    """Documents → one spill file, streamed in compressed frames; `add` returns the position."""

    def __init__(self, folder: str, label: str):
        self.id = secrets.randbits(63)
        self.path = spill_path(folder, label, self.id)
        self.count = 0
        self._rows: list[tuple] = []
        self._raw = 0
        self._file = None

    def add(self, doc: Document) -> int:
        self._rows.append(tuple(getattr(doc, name) for name in _FIELDS))
        self._raw += len(doc.text)
        self.count += 1
        if len(self._rows) >= _FRAME_DOCS or self._raw >= _FRAME_BYTES:
            self._flush()
        return self.count - 1

    def _flush(self) -> None:
        if self._file is None:
            self._file = storage.create(self.path)
        if self._rows:
            frame = pack(self._rows)
            self._file.write(_HEADER.pack(len(frame)) + frame)
        self._rows, self._raw = [], 0

    def close(self) -> None:
        self._flush()
        self._file.close()


def read_spill(path: str):
    """(position, Document) of every document of a spill file, in order, a frame at a time."""
    position = 0
    with storage.open_binary(path) as f:
        while True:
            header = f.read(_HEADER.size)
            if not header:
                return
            (size,) = _HEADER.unpack(header)
            for row in unpack(f.read(size)):
                yield position, Document(*row)
                position += 1


@functools.cache
def _malloc_trim():
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return None


def release_free_memory() -> None:
    """Give the C heap's free pages back to the OS (glibc `malloc_trim`), after a stage has streamed
    a spill file or a shard: the text passed through in chunks of many sizes, and glibc keeps such
    freed memory, so a process's resident size would otherwise carry each stage's peak into the next."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def remove_spill(output: str) -> None:
    """Delete the run's spill files (`OUT/_spill/`), and the folder when it is local."""
    folder = storage.join(output, layout.SPILL_DIR)
    storage.delete_matching(storage.join(folder, "*"))  # none: a build with no keys-only stage
    if not storage.is_remote(folder) and os.path.isdir(folder):
        try:
            os.rmdir(folder)
        except OSError:
            pass


# ---------------------------------------------------------------------------- a keys-only stage

class KeyedStage:
    """What a keys-only stage does on the workers; subclasses fill in the three steps.

    `keys(batch, fn)`: for a batch of (ref, Document), the keys the stage's decision needs, as
    outputs of the spill DoFn (main, or `TaggedOutput`s named in `key_tags`); `finish(fn)`: the
    same at the end of a bundle (for keys packed per bundle). `decide` (a PTransform, given to
    `KeysOnly`) turns them into (spill id, value) pairs; `collect(values)` makes the
    {position: decision} of one spill file from its values; `apply(doc, decision, fn)` yields
    what becomes of one document (`decision` is None for a document with none). `fn` is the
    running `CountingFn`: tallies, drops and counters go through it.
    """

    stage = ""
    key_tags: tuple[str, ...] = ()
    apply_tags: tuple[str, ...] = ()

    def setup(self) -> None:
        pass

    def start_bundle(self) -> None:
        pass

    def keys(self, batch, fn):
        return ()

    def finish(self, fn):
        return ()

    def collect(self, values) -> dict:
        decided: dict = {}
        for position, decision in values:
            decided.setdefault(position, []).append(decision)
        return decided

    def apply(self, doc: Document, decision, fn):
        yield doc


class _SpillFn(CountingFn):
    """Documents → spill file; keys (via the KeyedStage) and, per bundle, the spill file's id."""

    def __init__(self, keyed: KeyedStage, folder: str, label: str, batch_size: int = 256):
        self._keyed, self._folder, self._label, self._batch_size = keyed, folder, label, batch_size
        self.stage = keyed.stage

    def setup(self):
        self._keyed.setup()

    def start_bundle(self):
        super().start_bundle()
        self._keyed.start_bundle()
        self._writer = None
        self._batch = []

    def process(self, doc: Document):
        if self._writer is None:
            self._writer = SpillWriter(self._folder, self._label)
        self._batch.append((make_ref(self._writer.id, self._writer.add(doc)), doc))
        if len(self._batch) >= self._batch_size:
            batch, self._batch = self._batch, []
            yield from self._keyed.keys(batch, self)

    def finish_bundle(self):
        batch, self._batch = self._batch, []
        for out in [*self._keyed.keys(batch, self), *self._keyed.finish(self)]:
            if isinstance(out, beam.pvalue.TaggedOutput):
                yield beam.pvalue.TaggedOutput(out.tag, _global(out.value))
            else:
                yield _global(out)
        if self._writer is not None:
            self._writer.close()
            yield beam.pvalue.TaggedOutput(SPILLS, _global(self._writer.id))
            self._writer = None
        release_free_memory()
        yield from super().finish_bundle()


class _ApplyFn(CountingFn):
    """(spill id, {"spill": [id], "decision": [values]}) → what `KeyedStage.apply` yields for
    each document of that spill file."""

    def __init__(self, keyed: KeyedStage, folder: str, label: str):
        self._keyed, self._folder, self._label = keyed, folder, label
        self.stage = keyed.stage

    def setup(self):
        self._keyed.setup()

    def process(self, element):
        spill_id, grouped = element
        if not grouped["spill"]:  # decisions without a committed spill file: cannot happen
            return
        decided = self._keyed.collect(grouped["decision"])
        for position, doc in read_spill(spill_path(self._folder, self._label, spill_id)):
            yield from self._keyed.apply(doc, decided.get(position), self)
        release_free_memory()


class SpillDocuments(beam.PTransform):
    """docs → outputs of `_SpillFn`: KEYS (main), SPILLS, TALLY and the stage's key tags."""

    def __init__(self, keyed: KeyedStage, folder: str, label: str):
        super().__init__()
        self._keyed, self._folder, self._label = keyed, folder, label

    def expand(self, docs):
        return docs | beam.ParDo(_SpillFn(self._keyed, self._folder, self._label)).with_outputs(
            SPILLS, TALLY, *self._keyed.key_tags, main=KEYS)


class ApplyDecisions(beam.PTransform):
    """(spill ids, decisions keyed by spill id) → {KEPT, DROPPED, TALLY, the stage's apply tags}."""

    def __init__(self, keyed: KeyedStage, folder: str, label: str):
        super().__init__()
        self._keyed, self._folder, self._label = keyed, folder, label

    def expand(self, pcolls):
        spills, decisions = pcolls
        return (
            {"spill": spills | "BySpill" >> beam.Map(lambda i: (i, None)), "decision": decisions}
            | "JoinSpills" >> beam.CoGroupByKey()
            | "Apply" >> beam.ParDo(_ApplyFn(self._keyed, self._folder, self._label)).with_outputs(
                DROPPED, TALLY, *self._keyed.apply_tags, main=KEPT)
        )


class KeysOnly(beam.PTransform):
    """docs → {KEPT, DROPPED, TALLY, apply tags}: spill, decide on keys, apply.

    `folder`: where the documents wait (`spill_folder(output)`); `label`: the spill files' prefix.
    `decide`: a PTransform from a dict {KEYS: …, each key tag: …} of the spill step's outputs to
    a PCollection of (spill id, value), or to (that, [tally PCollections])."""

    def __init__(self, keyed: KeyedStage, decide: beam.PTransform, folder: str, label: str):
        super().__init__()
        self._keyed, self._decide, self._folder, self._label = keyed, decide, folder, label

    def expand(self, docs):
        spilled = docs | "Spill" >> SpillDocuments(self._keyed, self._folder, self._label)
        keys = {KEYS: spilled[KEYS], **{tag: spilled[tag] for tag in self._keyed.key_tags}}
        decided = keys | "Decide" >> self._decide
        tallies = [spilled[TALLY]]
        if isinstance(decided, tuple):
            decided, more = decided
            tallies += list(more)
        out = (spilled[SPILLS], decided) | "ApplyDecisions" >> ApplyDecisions(self._keyed, self._folder, self._label)
        result = {KEPT: out[KEPT], DROPPED: out[DROPPED],
                  TALLY: [*tallies, out[TALLY]] | "Tallies" >> beam.Flatten()}
        for tag in self._keyed.apply_tags:
            result[tag] = out[tag]
        return result
