"""Reading crawl files in Beam: one file a task, any file system Beam knows.

`resolve_inputs` turns --input patterns and an --input-list into the files to read, before the
pipeline starts; `ReadCrawl` reads them.
"""
from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.extract import HtmlExtractor
from cleancrawl.corpus.readers import ReaderConfig, read_crawl_file, read_paths_listing
from cleancrawl.corpus.record import Drop
from cleancrawl.pipelines import progress
from cleancrawl.pipelines.accounting import DROPPED, KEPT, METRICS_NAMESPACE, TALLY, CountingFn, text_bytes


def resolve_inputs(config) -> list[str]:
    """Expand globs, folders and the paths listing of a `BuildConfig` into a sorted list of files;
    fail early (UserError) on none, on an unreadable listing, on a listed path outside the prefix."""
    from cleancrawl.pipelines.config import SAMPLE_CRAWL

    paths: list[str] = []
    if config.input_list:
        try:
            with FileSystems.open(config.input_list, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                listing = f.read()
        except Exception as err:
            raise UserError(f"cannot read --input-list {config.input_list}: {type(err).__name__}") from None
        paths += read_paths_listing(listing, config.input_prefix, name=config.input_list)
    # Nothing given at all: the bundled sample crawl.
    patterns = config.inputs or ([] if config.input_list else [SAMPLE_CRAWL])
    for pattern in patterns:
        files = _match(_folder_pattern(pattern))
        if not files:
            raise UserError(f"no input file matches {pattern}")
        paths += files
    if not paths:
        raise UserError("no input files (give --input or --input-list)")
    return sorted(dict.fromkeys(paths))


_GLOB_CHARS = set("*?[")


def _folder_pattern(pattern: str) -> str:
    """`dir` and `dir/` both mean the files directly in the folder (as `dir/*`)."""
    if _GLOB_CHARS & set(pattern):
        return pattern
    if pattern.endswith("/"):
        return pattern + "*"
    if not storage.is_remote(pattern):
        return os.path.join(pattern, "*") if os.path.isdir(pattern) else pattern
    if _match(pattern) == [pattern]:  # an object of that name: a file
        return pattern
    return pattern + "/*" if _match(pattern + "/*") else pattern


def _match(pattern: str) -> list[str]:
    try:
        matches = FileSystems.match([pattern])[0].metadata_list
    except Exception as err:
        raise UserError(f"cannot list input {pattern}: {type(err).__name__}") from None
    return sorted(m.path for m in matches if not FileSystems.split(m.path)[1].startswith("."))


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
        self._files.inc()
        records = docs_out = bytes_out = 0
        try:
            fileobj = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
        except Exception as err:  # any file system's "cannot open": counted, the run goes on
            fileobj = None
            records += 1
            yield self.dropped(Drop("read", "read_error", path, detail=f"{type(err).__name__}: {err}"[:300]))
        if fileobj is not None:
            with fileobj:
                for item in progress.counted(read_crawl_file(fileobj, path, self._config, self._extractor, self.count_event)):
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
