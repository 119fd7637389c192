"""Storage: every path cleancrawl reads or writes, local or remote, goes through here.

One module for what datatrove's `DataFolder` does: join, list, match, exists, open (Parquet
footers and text columns checked in one line), one atomic writer (`atomic_writer`: one temporary
name, synced, removed on error), a run's private files (`create`) and logs (`open_append`), and
file-system options (set once, passed on to worker processes). Remote paths (gs://, s3://,
http(s):// through `cleancrawl.http_files`) go through Beam's FileSystems, imported only when a
path is remote, so local use needs no Beam. No other module touches files directly
(tests/test_storage_boundary.py).

The rules of an output folder (layouts, the lock) are `cleancrawl.output_folder`'s; what a
build's folder holds (shard names, split folders, `_SUCCESS`) is `cleancrawl.layout`'s; a run's
write failures as one line, `cleancrawl.write_failures`'.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
from typing import Iterable, Iterator

import pyarrow.parquet as pq

from cleancrawl.corpus.errors import UserError


def is_remote(path: str) -> bool:
    return "://" in path


def is_http(path: str) -> bool:
    """An http(s):// URL: one file each, no listing (a crawl's files come from its paths listing)."""
    return path.startswith(("http://", "https://"))


def shown_path(path: str) -> str:
    """`path` as it travels through a pipeline and appears in stats: itself when it is UTF-8;
    otherwise (a local name's undecodable bytes, which Python holds as lone surrogates) with
    each such byte written `\\xNN`, so that Beam, Parquet and JSON can carry it."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", "backslashreplace")


def join(*parts: str) -> str:
    if is_remote(parts[0]):
        return "/".join(p.strip("/") if i else p.rstrip("/") for i, p in enumerate(parts))
    return os.path.join(*parts)


def exists(path: str) -> bool:
    if is_remote(path):
        return filesystems().exists(path)
    return os.path.exists(path)


def list_dir(path: str) -> list[str]:
    """Sorted names in a directory (local) or under a prefix (remote); [] when there is none."""
    if is_remote(path):
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

    import cleancrawl.http_files  # noqa: F401  (registers http:// and https:// with Beam's FileSystems)

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
    return beam_option_parser().parse_known_args(args)[1]


def beam_option_parser():
    """Beam's pipeline-option parser, every option class registered (also for the CLI's "did you mean")."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    parser = _BeamArgumentParser(allow_abbrev=False)
    for cls in {str(c): c for c in PipelineOptions.__subclasses__()}.values():
        cls._add_argparse_args(parser)
    return parser


_filesystem_args: list[str] = []  # as given to set_filesystem_options: for worker processes


def filesystem_args() -> list[str]:
    """The file-system options set in this process (empty: Beam's and pyarrow's defaults)."""
    return list(_filesystem_args)


def parquet_metadata(path: str):
    """A Parquet file's footer (row counts, row groups, schema), local or remote; a file that is
    not Parquet (or is cut short) is a UserError naming it."""
    import pyarrow as pa

    try:
        if is_remote(path):
            with filesystems().open(path) as f:
                return pq.ParquetFile(f).metadata
        return pq.ParquetFile(path).metadata
    except (pa.ArrowException, EOFError) as err:
        said = " ".join(str(err).split())[:200]
        raise UserError(f"{path}: not a readable Parquet file ({said})") from None


def parquet_schema(path: str):
    """A Parquet file's Arrow schema (see `parquet_metadata`)."""
    return parquet_metadata(path).schema.to_arrow_schema()


def check_text_shards(paths: Iterable[str], columns=None, required: Iterable[str] = ("text",),
                      options: bool = True) -> None:
    """Every shard readable as Parquet, with the `required` columns present and of string type
    (`columns`: a `cleancrawl.corpus.columns.Columns` naming them; cleancrawl's names by default),
    before any work starts: one line naming the shard, the option to set (`options`: the command
    has --text-column/--url-column) and the columns it has."""
    from cleancrawl.corpus.columns import Columns

    columns = columns or Columns()
    for path in paths:
        columns.check(parquet_schema(path), path, required=tuple(required), options=options)


def iter_batches(paths: Iterable[str], columns: list[str], batch_size: int = 1024) -> Iterator:
    """Stream record batches of the given columns from Parquet shards, one shard at a time."""
    for path in paths:
        if is_remote(path):
            with filesystems().open(path) as f:
                yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=columns)
        else:
            yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns)


def iter_values(paths: Iterable[str], name: str, batch_size: int = 1024) -> Iterator:
    """Batches of one column or struct path's values over Parquet shards, in stored order."""
    from cleancrawl.corpus.columns import column_path, extract

    for path in paths:
        schema = parquet_metadata(path).schema.to_arrow_schema()
        top = column_path(schema, name)
        if top is None:
            raise KeyError(name)
        for batch in iter_batches([path], [top[0]], batch_size):
            yield extract(batch, name)


def iter_texts(paths: Iterable[str], batch_size: int = 1024) -> Iterator[str]:
    """Every document's text, shard by shard, in stored order (deterministic)."""
    for batch in iter_batches(paths, ["text"], batch_size):
        yield from batch.column(0).to_pylist()


def open_binary(path: str):
    """A binary file object for reading a local path or any file system Beam knows, as stored
    (no decompression by file name: callers look at the bytes)."""
    if not is_remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes

    return filesystems().open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def file_signature(path: str) -> tuple | None:
    """(size, modification time) of a file, local or remote; None when it is gone. Two equal
    signatures taken before and after reading say the file did not change meanwhile."""
    if not is_remote(path):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns, st.st_ino
    try:
        found = filesystems().match([path])[0].metadata_list
    except Exception:
        return None
    return (found[0].size_in_bytes, found[0].last_updated_in_seconds) if found else None


def use_pipeline_options(options) -> None:
    """Remote file systems take their settings (s3 endpoint and credentials, gcs project) from a
    run's Beam pipeline options: set them here too, for the listing and checks done before it.
    And the run's workers import `cleancrawl.http_files` (a Beam plugin), so that they read
    http(s):// inputs too, in another process or on another machine."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import SetupOptions

    import cleancrawl.http_files  # noqa: F401  (registers the scheme here)

    setup = options.view_as(SetupOptions)
    setup.beam_plugins = sorted(set(setup.beam_plugins or []) | {HTTP_PLUGIN})
    FileSystems.set_options(options)


HTTP_PLUGIN = "cleancrawl.http_files"


def delete(paths: list[str]) -> None:
    """Delete files, local or remote (all of one kind)."""
    if paths and is_remote(paths[0]):
        filesystems().delete(paths)
        return
    for path in paths:
        os.remove(path)


def delete_matching(pattern: str) -> None:
    """Delete every file a glob matches (none: nothing to do)."""
    try:
        found = [path for path, _ in match_files(pattern)]
    except UserError:  # nothing under a remote prefix
        found = []
    if found:
        delete(found)


def create(path: str):
    """A new binary file at `path` (local or remote), written in place: for a run's private
    temporary files (spill files), which no reader takes for output. Output files go through
    `atomic_writer`."""
    if not is_remote(path):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return open(path, "wb")
    from apache_beam.io.filesystem import CompressionTypes

    return filesystems().create(path, compression_type=CompressionTypes.UNCOMPRESSED)


def open_append(path: str):
    """A local text file opened for appending whole lines (a run's own log, `metrics.jsonl`): each
    write is one line, flushed by the caller; a line cut by a kill is the reader's to drop."""
    if is_remote(path):
        raise UserError(f"{path}: a log is appended on a local disk")
    return open(path, "a", encoding="utf-8")


def basename(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1] if is_remote(path) else os.path.basename(path)


def match_files(pattern: str) -> list[tuple[str, int]]:
    """(path, size) of the files a glob matches, local or remote, sorted; [] when none."""
    if is_remote(pattern):
        try:
            found = filesystems().match([pattern])[0].metadata_list
        except Exception as err:
            from cleancrawl.corpus.safe_text import one_line

            raise UserError(f"cannot list {pattern}: {one_line(err)}") from None
        return sorted((m.path, m.size_in_bytes) for m in found)
    import glob

    return sorted((p, os.path.getsize(p)) for p in glob.glob(os.path.expanduser(pattern), recursive=True)
                  if os.path.isfile(p))


def broken_links(pattern: str) -> list[str]:
    """The local symbolic links a glob names (hidden names aside) whose target is missing, sorted:
    `match_files` leaves them out. [] for a remote pattern."""
    if is_remote(pattern):
        return []
    import glob

    try:
        names = glob.glob(pattern, recursive=True) if set("*?[") & set(pattern) else [pattern]
    except (OSError, ValueError):
        return []
    return sorted(n for n in names if not os.path.basename(n).startswith(".")
                  and os.path.islink(n) and not os.path.exists(n))


def broken_link_target(path: str) -> str | None:
    """Where a local symbolic link whose target is missing points ("?" if unreadable); None otherwise."""
    if is_remote(path) or not os.path.islink(path) or os.path.exists(path):
        return None
    try:
        return os.readlink(path)
    except OSError:
        return "?"


# ---------------------------------------------------------------------------- atomic writes
#
# Every file cleancrawl writes is written under one temporary name beside it, `.<name>.tmp-<hex>`,
# and renamed over the final name when complete (synced first, locally); on any error (a full disk,
# a lost connection, a kill signal turned into an exception) the temporary file is removed. So a
# partial file never carries the final name, and an output layout knows every temporary name
# (`OutputLayout.owns` accepts them; `temp_name_of` reads them back).

_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-[0-9a-f]{8,32}$")


def temp_path(path: str) -> str:
    """The temporary name `path` is written under: `.<name>.tmp-<random hex>` beside it."""
    import uuid

    directory, _, name = (path.rpartition("/") if is_remote(path)
                          else (os.path.dirname(path), "/", os.path.basename(path)))
    tmp = f".{name}.tmp-{uuid.uuid4().hex}"
    return f"{directory}/{tmp}" if is_remote(path) else os.path.join(directory, tmp)


def temp_name_of(name: str) -> str | None:
    """The final name a temporary file name stands for (None: not a temporary name)."""
    found = _TEMP_NAME.match(name)
    return found.group("name") if found else None


@contextlib.contextmanager
def atomic_writer(path: str):
    """A binary file object for `path` (local, or any file system Beam knows), written under
    `temp_path(path)` and renamed over `path` when the block ends; on any error the temporary
    file is removed. Local files are synced before the rename and need no Beam (a GPU machine
    with only torch writes its checkpoints through here)."""
    tmp = temp_path(path)
    if not is_remote(path):
        if not os.path.isdir(os.path.dirname(tmp) or "."):  # as Beam's local create does
            with contextlib.suppress(FileExistsError):  # a file in the way: open() below names it
                os.makedirs(os.path.dirname(tmp))
        try:
            with open(tmp, "wb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return
    from apache_beam.io.filesystem import CompressionTypes

    fs = filesystems()
    try:
        with fs.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            yield f
    except BaseException:  # a full disk, a lost connection: leave no temporary file behind
        with contextlib.suppress(Exception):
            if fs.exists(tmp):
                fs.delete([tmp])
        raise
    if fs.exists(path):
        fs.delete([path])
    fs.rename([tmp], [path])


def write_atomically(path: str, data: bytes) -> None:
    """`data` as the whole of `path`, written through `atomic_writer`."""
    with atomic_writer(path) as f:
        f.write(data)


def open_seekable(path: str):
    """A seekable binary file for a local or remote path: pyarrow's own file systems for
    gs:// and s3:// (ranged reads of just the needed columns), Beam's for other schemes or when
    file-system options were given as Beam options (pyarrow knows none of them). Use it as a
    context manager; `pq.ParquetFile(source)` reads from it."""
    import pyarrow as pa

    if not is_remote(path):
        return pa.OSFile(path, "rb")   # native reads, not through a Python file object
    if filesystem_args():
        return filesystems().open(path, compression_type="uncompressed")
    try:
        from pyarrow import fs as pafs
        filesystem, inner = pafs.FileSystem.from_uri(path)
        return filesystem.open_input_file(inner)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ImportError):
        return filesystems().open(path, compression_type="uncompressed")
