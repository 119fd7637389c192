"""Reading crawl files in Beam: one file a task, any file system `cleancrawl.storage` knows.

`resolve_inputs` turns --input patterns and an --input-list into the files to read, before the
pipeline starts; `ReadCrawl` reads them. Names that begin with '.' are never inputs.

A local file whose name is not UTF-8 (any byte string is a POSIX name) travels through the
pipeline, and appears in stats and reports, under its name with those bytes shown as `\\xff`
(`shown_path`); the reader finds the file again from that name (`local_path`). A symbolic link
whose target is missing, which `storage.match_files` leaves out, is listed too and read as a
`read_error` file error that says so.
"""
from __future__ import annotations

import os
import re

import apache_beam as beam
from apache_beam.metrics import Metrics

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.extract import HtmlExtractor
from cleancrawl.corpus.readers import ReaderConfig, read_crawl_file, read_paths_listing
from cleancrawl.corpus.record import Drop
from cleancrawl.corpus.safe_text import one_line
from cleancrawl.pipelines import progress, snapshot
from cleancrawl.pipelines.accounting import DROPPED, KEPT, METRICS_NAMESPACE, TALLY, CountingFn, text_bytes
from cleancrawl.storage import shown_path


def resolve_inputs(config, listed: dict | None = None) -> list[str]:
    """Expand globs, folders and the paths listing of a `BuildConfig` into a sorted list of files;
    fail early (UserError) on none, on an unreadable listing, on a listed path outside the prefix.
    `listed`, when given, receives `files`: how many files there were before --files/--sample."""
    from cleancrawl.pipelines.config import SAMPLE_CRAWL

    paths: list[str] = []
    listing_path, prefix = config.input_list, config.input_prefix
    if config.crawl:  # a snapshot by name: its listing, under --cc-base
        listing_path = snapshot.listing_path(config.crawl, config.source, config.cc_base)
        prefix = config.cc_base
    if listing_path:
        option = "--crawl" if config.crawl else "--input-list"
        try:
            with storage.open_binary(listing_path) as f:
                listing = f.read()
        except Exception as err:
            raise UserError(f"cannot read {option} {listing_path}: {one_line(err, 200)}") from None
        paths += read_paths_listing(listing, prefix, name=listing_path)
    # Nothing given at all: the bundled sample crawl.
    patterns = config.inputs or ([] if listing_path else [SAMPLE_CRAWL])
    for pattern in patterns:
        folder_pattern = _folder_pattern(pattern)
        files = _match(folder_pattern)
        dangling = _dangling_links(folder_pattern)
        if not files and dangling == [folder_pattern]:  # one file named, and it is such a link
            raise UserError(f"--input {shown_path(pattern)} is a symbolic link whose target does not exist")
        if not files and not dangling:
            raise UserError(f"no input file matches {shown_path(pattern)}")
        paths += files + dangling
    if not paths:
        raise UserError("no input files (give --input, --input-list or --crawl)")
    # --files / --sample: a slice, then a seeded sample, of the files in listing order
    if listed is not None:
        listed["files"] = len(dict.fromkeys(paths))
    paths = snapshot.choose(list(dict.fromkeys(paths)), config.files, config.sample, config.sample_seed)
    return sorted(dict.fromkeys(shown_path(path) for path in paths))


_SHOWN_BYTE = re.compile(r"\\x[0-9a-f]{2}")


def local_path(path: str) -> str:
    """The local file that `shown_path` gave `path` for: `path` itself unless no file has that
    name and it shows escaped bytes; then the entry of its folder whose shown name it is."""
    if not _SHOWN_BYTE.search(path) or storage.is_remote(path) or os.path.lexists(path):
        return path
    folder, slash, name = path.rpartition("/")
    parent = local_path(folder) if folder else ("/" if slash else ".")
    try:
        entries = storage.list_dir(parent)
    except OSError:
        return path
    for entry in entries:
        if shown_path(entry) == name:
            return storage.join(parent, entry) if (folder or slash) else entry
    return path


def _dangling_links(pattern: str) -> list[str]:
    """The symbolic links with a missing target that a local `pattern` names (hidden names aside):
    `storage.match_files` leaves them out without a word."""
    return storage.broken_links(pattern)


def _missing_target(path: str) -> str | None:
    """For a local symbolic link whose target is missing: a file error's detail naming it."""
    target = storage.broken_link_target(path)
    if target is None:
        return None
    return f"a symbolic link whose target does not exist (it points to {shown_path(target)})"


_GLOB_CHARS = set("*?[")


def _folder_pattern(pattern: str) -> str:
    """`dir` and `dir/` both mean the files directly in the folder (as `dir/*`)."""
    if storage.is_http(pattern):  # a URL names one file: HTTP has no listing
        if pattern.endswith("/"):
            raise UserError(f"--input {pattern}: HTTP has no listing; name each file, or give the crawl's "
                            "listing (--crawl, or --input-list with --input-prefix)")
        return pattern
    if _GLOB_CHARS & set(pattern):
        return pattern
    if pattern.endswith("/"):
        return pattern + "*"
    if not storage.is_remote(pattern):
        return storage.join(pattern, "*") if os.path.isdir(pattern) else pattern
    if _match(pattern) == [pattern]:  # an object of that name: a file
        return pattern
    return storage.join(pattern, "*") if _match(storage.join(pattern, "*")) else pattern


def _match(pattern: str) -> list[str]:
    """The files `pattern` matches, sorted, less hidden names."""
    return [path for path, _ in storage.match_files(pattern) if not storage.basename(path).startswith(".")]


class _ReadFileFn(CountingFn):
    """path → Documents (main), Drops (`dropped`), and ("read", path) / event tallies."""

    stage = "read"

    def __init__(self, config: ReaderConfig):
        self._config = config

    def setup(self):
        self._extractor = HtmlExtractor(self._config.extraction)
        self._files = Metrics.counter(METRICS_NAMESPACE, "read/files")
        self._records = Metrics.counter(METRICS_NAMESPACE, "read/records")
        self._documents = Metrics.counter(METRICS_NAMESPACE, "read/documents")

    def process(self, path: str):
        """`path` as `resolve_inputs` gave it (`shown_path`): the name that stats use."""
        self._files.inc()
        records = docs_out = bytes_out = 0
        if snapshot.known_corrupt(path):  # skipped as TFDS skips it: counted under its own reason
            self._records.inc(1)
            self.count_read(path, 1)
            self.count_flow("out", 0, 0)
            yield self.dropped(Drop("read", snapshot.KNOWN_CORRUPT_REASON, path,
                                    detail="a known corrupt Common Crawl file (pipelines/snapshot.py): not read"))
            return
        try:
            fileobj = storage.open_binary(local_path(path))
        except Exception as err:  # any file system's "cannot open": counted, the run goes on
            fileobj = None
            records += 1
            detail = _missing_target(local_path(path)) or shown_path(f"{type(err).__name__}: {err}")[:300]
            yield self.dropped(Drop("read", "read_error", path, detail=detail))
        if fileobj is not None:
            with fileobj:
                for item in progress.counted(read_crawl_file(fileobj, path, self._config, self._extractor,
                                                             self.count_event)):
                    records += 1
                    if isinstance(item, Drop):
                        yield self.dropped(item)
                    else:
                        self._documents.inc()
                        docs_out += 1
                        bytes_out += text_bytes(item)
                        yield item
        self._records.inc(records)
        self.count_read(path, records)
        self.count_flow("out", docs_out, bytes_out)


class ReadCrawl(beam.PTransform):
    """PCollection of file paths → `.kept` Documents, `.dropped` Drops, `.tally`.

    Paths are reshuffled first so that files spread over workers instead of staying on the
    worker that listed them.
    """

    def __init__(self, config: ReaderConfig):
        super().__init__()
        self._config = config

    def expand(self, paths):
        return (
            paths
            | "SpreadFiles" >> beam.Reshuffle()
            | "ReadFiles" >> beam.ParDo(_ReadFileFn(self._config)).with_outputs(DROPPED, TALLY, main=KEPT)
        )
