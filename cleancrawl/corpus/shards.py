"""The on-disk layout of a built corpus, and how to read it back.

    OUT/
      train/part-00000-of-00004.parquet ...      documents, DOCUMENT_SCHEMA, zstd
      validation/part-00000-of-00001.parquet
      duplicates/part-....parquet                (dedup audit trail, when dedup ran)
      stats.json                                 the funnel: read, kept, dropped by stage and reason
      _SUCCESS                                   written last: its absence means a crashed/partial run

Every reader of a corpus (stats, dedup, tokenizer) goes through `list_shards` so that a
partial output is never mistaken for a finished one. Paths may be local or any file system
Beam knows (gs://, s3://): listing goes through `apache_beam.io.filesystems` only when the
path is remote, so this module stays importable without Beam for local use.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
from typing import Iterable, Iterator

import pyarrow.parquet as pq

from cleancrawl.corpus.errors import UserError

SUCCESS_MARKER = "_SUCCESS"
SUCCESS_CONTENT = b"cleancrawl: complete\n"  # never empty: S3 refuses zero-byte multipart uploads
STATS_FILE = "stats.json"
SPLITS = ("train", "validation")
_SHARD_NAME = re.compile(r"^part-(\d{5})-of-(\d{5})\.parquet$")


def shard_name(index: int, count: int) -> str:
    return f"part-{index:05d}-of-{count:05d}.parquet"


def _is_remote(path: str) -> bool:
    return "://" in path


def join(*parts: str) -> str:
    if _is_remote(parts[0]):
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))
    return os.path.join(*parts)


def exists(path: str) -> bool:
    if _is_remote(path):
        return filesystems().exists(path)
    return os.path.exists(path)


def list_dir(path: str) -> list[str]:
    """Sorted names in a directory (local) or under a prefix (remote); [] when there is none."""
    if _is_remote(path):
        found = filesystems().match([path.rstrip("/") + "/*"])[0].metadata_list
        return sorted(m.path.rstrip("/").rsplit("/", 1)[-1] for m in found)
    if not os.path.isdir(path):
        return []
    return sorted(os.listdir(path))


def filesystems():
    """Beam's `FileSystems`, ready for remote paths read outside a pipeline.

    Beam's S3 client refuses to work without pipeline options, and outside a pipeline there are
    none unless `set_filesystem_options` (or a build) set some: then empty ones are set, which
    means each client's default credentials. Inside a pipeline's workers the runtime options
    stand and nothing is touched.
    """
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.value_provider import RuntimeValueProvider

    if FileSystems._pipeline_options is None and RuntimeValueProvider.runtime_options is None:  # no getter
        from apache_beam.options.pipeline_options import PipelineOptions
        FileSystems.set_options(PipelineOptions([]))
    return FileSystems


def set_filesystem_options(args: list[str]) -> None:
    """Settings for remote paths read or written outside a pipeline, as Beam options.

    e.g. `--s3_endpoint_url=... --s3_access_key_id=...` or `--project=...`; without them Beam's
    clients use their default credentials. Raises UserError for anything Beam does not know.
    """
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    complaint = io.StringIO()
    try:
        with contextlib.redirect_stderr(complaint):  # argparse prints all of Beam's usage first
            wrong = _not_beam_options(args)
    except SystemExit:  # a flag without its value, a bad choice
        said = complaint.getvalue().strip().splitlines()[-1:] or [""]
        raise UserError(f"file-system options {' '.join(args)}: {said[0].split('error: ', 1)[-1]} "
                        "(give each as --name=value)") from None
    if wrong:
        raise UserError("unrecognized arguments: " + " ".join(wrong))
    options = PipelineOptions(args)
    FileSystems.set_options(options)
    _filesystem_args[:] = args


def _not_beam_options(args: list[str]) -> list[str]:
    """The arguments Beam's own option parser leaves over (it would only warn and drop them):
    built as `PipelineOptions.get_all_options` builds it, so aliases and flags without values
    are read exactly as Beam reads them."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser.parse_known_args(args)[1]


_filesystem_args: list[str] = []  # as given to set_filesystem_options: for worker processes


def filesystem_args() -> list[str]:
    """The file-system options set in this process (empty: Beam's and pyarrow's defaults)."""
    return list(_filesystem_args)


def is_complete(output_dir: str) -> bool:
    return exists(join(output_dir, SUCCESS_MARKER))


def list_shards(corpus_dir: str, split: str | None = "train", allow_partial: bool = False) -> list[str]:
    """Sorted Parquet shard paths of one split of a built corpus (all splits if split is None).

    Also accepts a split directory itself (`out/train`) or a plain directory of Parquet
    files with `url` and `text` columns written by another tool. Raises UserError for a
    corpus whose `_SUCCESS` marker is missing (a crashed or running build) unless
    `allow_partial`.
    """
    corpus_dir = corpus_dir.rstrip("/") or "/"
    # On an object store a "directory" is only a key prefix: it exists when something is under it.
    entries = list_dir(corpus_dir)
    if not entries and not exists(corpus_dir) and not any(list_dir(join(corpus_dir, s)) for s in SPLITS):
        raise UserError(f"{corpus_dir}: no such corpus directory")
    # Probe the split folders by name: object stores (gs://, s3://) list files, not folders.
    split_dirs = [s for s in SPLITS if s in entries or (_is_remote(corpus_dir) and list_dir(join(corpus_dir, s)))]
    if split_dirs:  # a cleancrawl build output
        if not allow_partial and SUCCESS_MARKER not in entries:
            raise UserError(
                f"{corpus_dir}: no {SUCCESS_MARKER} marker: the build that wrote it did not finish "
                "(rerun it with --overwrite)"
            )
        wanted = split_dirs if split is None else [split]
        paths = []
        for s in wanted:
            sdir = join(corpus_dir, s)
            paths += [join(sdir, n) for n in list_dir(sdir) if _SHARD_NAME.match(n)]
        return paths
    # a split directory, or any directory of parquet files
    return [join(corpus_dir, n) for n in entries if n.endswith(".parquet")]


def read_stats(corpus_dir: str) -> dict:
    path = join(corpus_dir, STATS_FILE)
    if _is_remote(path):
        with filesystems().open(path) as f:
            return json.loads(f.read().decode("utf-8"))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def parquet_metadata(path: str):
    """A Parquet file's footer (row counts, row groups, schema), local or remote."""
    if _is_remote(path):
        with filesystems().open(path) as f:
            return pq.ParquetFile(f).metadata
    return pq.ParquetFile(path).metadata


def iter_batches(paths: Iterable[str], columns: list[str], batch_size: int = 1024) -> Iterator:
    """Stream record batches of the given columns from Parquet shards, one shard at a time."""
    for path in paths:
        if _is_remote(path):
            with filesystems().open(path) as f:
                yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)
        else:
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns)


def iter_texts(paths: Iterable[str], batch_size: int = 1024) -> Iterator[str]:
    """Every document's text, shard by shard, in stored order (deterministic)."""
    for batch in iter_batches(paths, ["text"], batch_size):
        yield from batch.column(0).to_pylist()
