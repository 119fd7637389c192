"""HTTP(S) as a storage scheme: `http://` and `https://` inputs read like gs:// and s3:// ones.

A read-only Beam `FileSystem` for the two schemes, so every command that reads inputs reads a URL
such as `https://data.commoncrawl.org/crawl-data/...` on the DirectRunner and on remote workers
alike. Beam finds a file system once its module is imported: `cleancrawl.storage` imports this one;
Dataflow ships every imported file system to its workers itself, other runners' worker processes
import it by the pipeline option `--beam_plugins=cleancrawl.http_files`. Files are streamed (a chunk at a time, never a
whole file in memory) through urllib3's connection pool, politely, as Common Crawl asks:

- a 429, a 5xx, a connection reset, a timeout or a cut transfer is retried, with exponential
  backoff and full jitter, at least `min_wait` (1 s) between two attempts on one file, and at least
  what a Retry-After asks (up to `max_wait`); `attempts` failures in a row (8) give up;
- a transfer cut mid-body resumes at its byte offset with `Range: bytes=N-` (and `If-Range`), and
  the new response's ETag, Last-Modified and total length must equal the first response's: a file
  that changed between attempts is `HttpFileChanged`, never a splice of two versions;
- at most `connections` (4) requests are in flight per process; every request names cleancrawl
  and its version in its User-Agent;
- a 404 or 410 is `FileNotFoundError`, another 4xx `HttpStatusError`, retries spent
  `HttpRetriesExhausted`: one line each, naming the URL (its query string left out) and no body.

There is no listing over HTTP: a pattern with `*` is an error, and `match` of a URL is one HEAD.
The files are seekable (a seek starts a new ranged request), so Parquet footers read as they do
from an object store. Settings come from the environment (see `HttpSettings`); what was fetched
and retried in this process is `stats()`.
"""
from __future__ import annotations

import collections
import dataclasses
import email.utils
import errno
import io
import os
import random
import re
import socket
import ssl
import threading
import time

import urllib3
from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
    MatchResult,
)

from cleancrawl import __version__
from cleancrawl.corpus.errors import UserError

USER_AGENT = f"cleancrawl/{__version__} (+https://github.com/cleancrawl/cleancrawl)"


# ---------------------------------------------------------------------------- settings

def _setting(default, env: str):
    return dataclasses.field(default=default, metadata={"env": env})


@dataclasses.dataclass
class HttpSettings:
    """How HTTP(S) inputs are fetched. Each can be set by an environment variable, read when this
    module is imported (so a remote worker takes its own environment's):

    CLEANCRAWL_HTTP_ATTEMPTS (8): failures in a row on one file before HttpRetriesExhausted (a
        resumed transfer that made progress starts the count again)
    CLEANCRAWL_HTTP_MIN_WAIT (1 s): the least wait between two attempts on one file, and the base
        of the backoff: a random wait up to min_wait * 2**(failures - 1) ("full jitter")
    CLEANCRAWL_HTTP_MAX_WAIT (60 s): the longest one wait, a Retry-After's included
    CLEANCRAWL_HTTP_CONNECTIONS (4): requests in flight at once in this process
    CLEANCRAWL_HTTP_CONNECT_TIMEOUT (10 s), CLEANCRAWL_HTTP_READ_TIMEOUT (60 s): a connection not
        made, or a transfer stalled, this long is retried (a stalled transfer resumed)
    """
    attempts: int = _setting(8, "CLEANCRAWL_HTTP_ATTEMPTS")
    min_wait: float = _setting(1.0, "CLEANCRAWL_HTTP_MIN_WAIT")
    max_wait: float = _setting(60.0, "CLEANCRAWL_HTTP_MAX_WAIT")
    connections: int = _setting(4, "CLEANCRAWL_HTTP_CONNECTIONS")
    connect_timeout: float = _setting(10.0, "CLEANCRAWL_HTTP_CONNECT_TIMEOUT")
    read_timeout: float = _setting(60.0, "CLEANCRAWL_HTTP_READ_TIMEOUT")
    chunk_size: int = 1 << 20  # the most bytes one read of a body returns (the file object's buffer)

    @classmethod
    def from_env(cls, environ=None) -> "HttpSettings":
        environ = os.environ if environ is None else environ
        values = {}
        for field in dataclasses.fields(cls):
            name = field.metadata.get("env")
            if name and environ.get(name, "").strip():
                kind = int if field.type in (int, "int") else float
                try:
                    values[field.name] = kind(environ[name])
                except ValueError:
                    raise UserError(f"{name}={environ[name]!r}: not a number") from None
        found = cls(**values)
        found.check()
        return found

    def check(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            positive = field.name in ("attempts", "connections", "chunk_size") or field.name.endswith("timeout")
            if value < 0 or (positive and value <= 0):
                raise UserError(f"{field.metadata.get('env', field.name)}={value}: must be "
                                f"{'more than 0' if positive else 'at least 0'}")


settings = HttpSettings.from_env()


# ---------------------------------------------------------------------------- errors

class HttpError(OSError):
    """An HTTP(S) read that failed, said in one line."""


class HttpStatusError(HttpError):
    """An answer that is neither the file nor worth retrying (a 4xx other than 404/410)."""

    def __init__(self, method: str, url: str, status: int):
        super().__init__(f"{method} {_shown(url)}: HTTP {status} {_reason(status)}".rstrip())
        self.url, self.status = url, status


class HttpRetriesExhausted(HttpError):
    """`attempts` failures in a row on one file; `cause` is the last one (e.g. "http_503", "reset")."""

    def __init__(self, method: str, url: str, attempts: int, cause: str):
        said = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        super().__init__(f"{method} {_shown(url)}: gave up after {said} (last: {cause})")
        self.url, self.attempts, self.cause = url, attempts, cause


class HttpFileChanged(HttpError):
    """A resumed transfer found another version of the file than the one it started reading."""

    def __init__(self, url: str, changes: str):
        super().__init__(f"{_shown(url)}: the file changed between attempts ({changes}); read it again")
        self.url = url


def _shown(url: str) -> str:
    """The URL as errors name it: a query string (a signature, a token) is left out."""
    base, question, _ = url.partition("?")
    return base + ("?…" if question else "")


def _reason(status: int) -> str:
    import http

    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def _not_found(url: str, status: int) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, f"HTTP {status} {_reason(status)}", _shown(url))


# ---------------------------------------------------------------------------- what was fetched

_stats_lock = threading.Lock()
_counts: collections.Counter = collections.Counter()      # files, requests, bytes, resumes
_retries: collections.Counter = collections.Counter()     # by cause: http_503, reset, timeout, ...
_failures: collections.Counter = collections.Counter()    # by kind: not_found, status, retries_exhausted, changed


def _count(counter: collections.Counter, key: str, n: int = 1) -> None:
    with _stats_lock:
        counter[key] += n


def stats() -> dict:
    """What this process fetched over HTTP(S): files opened, requests sent, body bytes received,
    transfers resumed, retries by cause and failures by kind (a snapshot)."""
    with _stats_lock:
        return {"files": _counts["files"], "requests": _counts["requests"], "bytes": _counts["bytes"],
                "resumes": _counts["resumes"], "retries": dict(_retries), "failures": dict(_failures)}


# ---------------------------------------------------------------------------- connections

class _Slots:
    """At most `settings.connections` requests in flight in this process, each holding a slot from
    its request until its body is read, dropped or closed. A thread that already holds a slot may
    take another without waiting: a reader that opens a second file before finishing the first
    never waits on itself."""

    def __init__(self):
        self._cond = threading.Condition()
        self._busy = 0
        self._held: dict[int, int] = {}

    def acquire(self) -> int:
        me = threading.get_ident()
        with self._cond:
            while not self._held.get(me) and self._busy >= settings.connections:
                self._cond.wait()
            self._busy += 1
            self._held[me] = self._held.get(me, 0) + 1
        return me

    def release(self, owner: int) -> None:
        with self._cond:
            self._busy -= 1
            self._held[owner] -= 1
            if not self._held[owner]:
                del self._held[owner]
            self._cond.notify()


_slots = _Slots()
_pool_lock = threading.Lock()
_pool: urllib3.PoolManager | None = None

# urllib3 follows redirects; every other retry is ours (it cannot resume a body at an offset).
_ONLY_REDIRECTS = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5,
                                raise_on_status=False, respect_retry_after_header=False)


def _forget_connections() -> None:
    """In a forked child: no slot, lock or connection of the parent's (another thread may have held them)."""
    global _slots, _pool_lock, _pool, _stats_lock
    _slots, _pool_lock, _pool, _stats_lock = _Slots(), threading.Lock(), None, threading.Lock()


os.register_at_fork(after_in_child=_forget_connections)


def _manager() -> urllib3.PoolManager:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(num_pools=32, maxsize=settings.connections, block=False)
        return _pool


def _send(method: str, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
    """One request; the response's body not read yet, and kept as stored (no decoding)."""
    timeout = urllib3.Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}  # bytes as stored
    return _manager().request(method, url, headers=headers, preload_content=False, decode_content=False,
                              retries=_ONLY_REDIRECTS, timeout=timeout)


# ---------------------------------------------------------------------------- retrying

def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _cause(err: BaseException) -> str:
    """What a failed request or read is counted as: timeout, connect, reset, ssl, or its class."""
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        err = err.reason
    if isinstance(err, urllib3.exceptions.NewConnectionError):  # a subclass of ConnectTimeoutError
        return "connect"
    if isinstance(err, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(err, (urllib3.exceptions.ProtocolError, ConnectionError)):
        return "reset"
    if isinstance(err, urllib3.exceptions.SSLError):
        return "ssl"
    return type(err).__name__.lower()


def _permanent(err: BaseException) -> str | None:
    """Why another attempt will not mend this failure (None: it may): a host name the resolver
    does not know (not a temporary resolver failure), a certificate refused, a redirect loop.
    (Beam's DirectRunner opens the Prism runner's download URL through FileSystems first: offline,
    an unknown host fails at once, as it does without this module.)"""
    if isinstance(err, urllib3.exceptions.MaxRetryError) and err.reason is not None:
        err = err.reason
    causes = (err.__cause__, err.__context__, *err.args)
    resolver = next((e for e in causes if isinstance(e, socket.gaierror)), None)
    if isinstance(err, urllib3.exceptions.NameResolutionError) and resolver and resolver.errno != socket.EAI_AGAIN:
        return f"cannot resolve the host ({resolver.strerror})"
    if isinstance(err, urllib3.exceptions.SSLError) and \
            any(isinstance(e, ssl.SSLCertVerificationError) for e in causes):
        return "certificate refused"
    if isinstance(err, urllib3.exceptions.ResponseError):
        return "too many redirects"
    return None


def _retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (a number of seconds or an HTTP date); None if none."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _Attempts:
    """One file's attempts: failures in a row, and the waits between them."""

    def __init__(self, method: str, url: str):
        self.method, self.url = method, url
        self.failures = 0

    def failed(self, cause: str, retry_after: float | None = None, error: BaseException | None = None) -> None:
        """Count a failure; wait before the next attempt, or raise HttpRetriesExhausted."""
        self.failures += 1
        if self.failures >= settings.attempts:
            _count(_failures, "retries_exhausted")
            raise HttpRetriesExhausted(self.method, self.url, self.failures, cause) from error
        _count(_retries, cause)
        time.sleep(self.wait(retry_after))

    def wait(self, retry_after: float | None = None) -> float:
        backoff = random.uniform(0, min(settings.max_wait, settings.min_wait * 2 ** (self.failures - 1)))
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, settings.max_wait))
        return max(settings.min_wait, backoff)

    def progressed(self) -> None:
        self.failures = 0


def _request(method: str, url: str, attempts: _Attempts, headers: dict[str, str] | None = None):
    """`method url` until it answers 2xx: (the response, its slot). Retries what may pass; a 404 or
    410 is FileNotFoundError, another 4xx HttpStatusError. The caller gives the slot back."""
    while True:
        owner = _slots.acquire()
        _count(_counts, "requests")
        try:
            response = _send(method, url, headers or {})
        except BaseException as err:
            _slots.release(owner)
            if isinstance(err, urllib3.exceptions.LocationValueError):
                raise HttpError(f"{_shown(url)}: not a URL that can be fetched") from None
            if not isinstance(err, (urllib3.exceptions.HTTPError, OSError)):
                raise
            why = _permanent(err)
            if why:
                _count(_failures, "permanent")
                raise HttpError(f"{method} {_shown(url)}: {why}") from err
            attempts.failed(_cause(err), error=err)
            continue
        if 200 <= response.status < 300:
            return response, owner
        response.close()  # an error's body is not read: the connection goes
        response.release_conn()
        _slots.release(owner)
        if response.status in (404, 410):
            _count(_failures, "not_found")
            raise _not_found(url, response.status)
        if not _retryable(response.status):
            _count(_failures, "status")
            raise HttpStatusError(method, url, response.status)
        attempts.failed(f"http_{response.status}", _retry_after(response.headers.get("Retry-After")))


# ---------------------------------------------------------------------------- the file object

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class HttpFile(io.RawIOBase):
    """One URL read as a stream, seekable; use it through `io.BufferedReader` (`open_url`).

    The first GET is sent when the file is opened (a missing file fails there, as a local one
    does). Its ETag, Last-Modified and length are the version this file object reads: every later
    response (a resumed transfer, a seek) must show the same, or reading raises HttpFileChanged.
    """

    mode = "rb"

    def __init__(self, url: str):
        super().__init__()
        self.name = url
        self._pos = 0
        self._size: int | None = None            # the whole file's length, when the server said it
        self._version: tuple | None = None       # (ETag, Last-Modified) of the first response
        self._response = None
        self._slot: int | None = None
        self._skip = 0                           # bytes to drop: a server that answered a range with all
        self._attempts = _Attempts("GET", url)
        _count(_counts, "files")
        self._connect()

    # -- requests

    def _connect(self) -> None:
        headers = {}
        if self._pos:
            headers["Range"] = f"bytes={self._pos}-"
            etag, modified = self._version
            if etag and not etag.startswith("W/"):  # weak ETags may not validate a range
                headers["If-Range"] = etag
            elif modified:
                headers["If-Range"] = modified
        try:
            self._response, self._slot = _request("GET", self.name, self._attempts, headers)
        except HttpStatusError as err:  # 416: no byte at self._pos
            if err.status != 416 or not self._pos:
                raise
            if self._size is None:  # past the end of a file whose length was not said: the end
                self._size = self._pos
                return
            _count(_failures, "changed")
            raise HttpFileChanged(self.name, f"length {self._size!r}: no byte {self._pos} any more") from None
        try:
            self._check(self._response)
        except BaseException:
            self._drop()
            raise

    def _check(self, response) -> None:
        """The response's version against the first one's; where its body starts."""
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        if response.status == 206:
            found = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if not found or int(found.group(1)) != self._pos:
                raise HttpError(f"{_shown(self.name)}: a range from byte {self._pos} was answered with "
                                f"{response.headers.get('Content-Range')!r}")
            total = None if found.group(3) == "*" else int(found.group(3))
        else:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        self._skip = self._pos if response.status != 206 else 0
        if self._version is None:
            self._version, self._size = (etag, modified), total
            return
        if self._version == (None, None) and self._size is None:
            raise HttpError(f"{_shown(self.name)}: cut at byte {self._pos}, and the server gave no ETag, "
                            "Last-Modified or length to resume it safely against")
        changes = [f"{what} {old!r} -> {new!r}" for what, old, new in
                   (("ETag", self._version[0], etag), ("Last-Modified", self._version[1], modified),
                    ("length", self._size, total)) if old != new and (what != "length" or old is not None)]
        if changes:
            _count(_failures, "changed")
            raise HttpFileChanged(self.name, "; ".join(changes))
        self._size = total if self._size is None else self._size  # a length first unsaid, now said

    def _drop(self) -> None:
        """Let the current response go (closing its connection if its body was not all read)."""
        if self._response is not None:
            self._response.close()
            self._response.release_conn()
            self._response = None
        if self._slot is not None:
            _slots.release(self._slot)
            self._slot = None

    # -- reading

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        want = min(len(buffer), settings.chunk_size)
        while want:
            if self._size is not None and self._pos >= self._size:
                self._drop()
                return 0
            if self._response is None:
                self._connect()
                continue  # (a 416 past the end of a file of unknown length connects to nothing)
            try:
                data = self._response.read1(want, decode_content=False)
            except (urllib3.exceptions.HTTPError, OSError) as err:
                self._drop()
                self._attempts.failed(_cause(err), error=err)
                _count(_counts, "resumes")
                continue
            if not data:  # this response's end
                self._drop()
                if self._size is None:  # a length unsaid: the end is where the body ended
                    self._size = self._pos
                if self._pos >= self._size:
                    return 0
                self._attempts.failed("short")  # closed cleanly but early: resume
                _count(_counts, "resumes")
                continue
            _count(_counts, "bytes", len(data))
            if self._skip:
                dropped = min(self._skip, len(data))
                self._skip -= dropped
                data = data[dropped:]
                if not data:
                    continue
            self._attempts.progressed()
            buffer[:len(data)] = data
            self._pos += len(data)
            return len(data)
        return 0

    # -- position

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._pos + offset
        elif whence == io.SEEK_END:
            if self._size is None:
                raise io.UnsupportedOperation(f"{_shown(self.name)}: the server did not say its length")
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise OSError(errno.EINVAL, "negative seek position", _shown(self.name))
        if position != self._pos:
            self._drop()  # the next read asks for a range from here
            self._pos, self._skip = position, 0
        return self._pos

    def readall(self) -> bytes:
        parts = []
        while data := self.read(settings.chunk_size):
            parts.append(data)
        return b"".join(parts)

    def close(self) -> None:
        self._drop()
        super().close()


def open_url(url: str) -> io.BufferedReader:
    """A buffered, seekable binary stream of `url`'s bytes as stored."""
    return io.BufferedReader(HttpFile(url), buffer_size=settings.chunk_size)


def head(url: str) -> tuple[FileMetadata, str | None]:
    """A URL's metadata (size, last modified) and ETag, from one HEAD (retried as reads are)."""
    response, slot = _request("HEAD", url, _Attempts("HEAD", url))
    try:
        headers = response.headers
    finally:
        response.drain_conn()
        response.release_conn()
        _slots.release(slot)
    length = headers.get("Content-Length", "")
    if not length.isdigit():
        raise HttpError(f"HEAD {_shown(url)}: no Content-Length in the answer")
    modified = headers.get("Last-Modified")
    try:
        updated = email.utils.parsedate_to_datetime(modified).timestamp() if modified else 0.0
    except (TypeError, ValueError):
        updated = 0.0
    return FileMetadata(url, int(length), updated), headers.get("ETag")


# ---------------------------------------------------------------------------- Beam's file system

class HttpFileSystem(FileSystem):
    """Beam's `FileSystem` for http:// URLs (and, as HttpsFileSystem, https://): read-only."""

    @classmethod
    def scheme(cls):
        return "http"

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/")] + [p.strip("/") for p in paths])

    def split(self, path):
        head_, _, tail = path.rstrip("/").rpartition("/")
        return head_, tail

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        raise BeamIOError("List operation failed", {dir_or_prefix: HttpError("HTTP has no listing")})

    def match(self, patterns, limits=None):
        """One HEAD per URL: its metadata, or nothing when it is not there. A `*` is an error (a `?`
        or `[` is a URL's own: a query string)."""
        limits = limits or [None] * len(patterns)
        results, errors = [], {}
        for pattern, limit in zip(patterns, limits):
            try:
                if "*" in pattern:
                    raise HttpError(f"{_shown(pattern)}: HTTP has no listing: name each file (no *)")
                try:
                    found = [head(pattern)[0]]
                except FileNotFoundError:
                    found = []
                results.append(MatchResult(pattern, found[:limit] if limit is not None else found))
            except Exception as err:  # Beam reports each pattern's failure
                errors[pattern] = err
        if errors:
            raise BeamIOError("Match operation failed", errors)
        return results

    def open(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        compression_type = FileSystem._get_compression_type(path, compression_type)
        stream = open_url(path)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return stream
        return CompressedFile(stream, compression_type=compression_type)

    def exists(self, path):
        try:
            head(path)
        except FileNotFoundError:
            return False
        return True

    def size(self, path):
        return head(path)[0].size_in_bytes

    def last_updated(self, path):
        return head(path)[0].last_updated_in_seconds

    def checksum(self, path):
        """The ETag when the server gives one, else the size."""
        metadata, etag = head(path)
        return etag or str(metadata.size_in_bytes)

    def metadata(self, path):
        return head(path)[0]

    def _read_only(self, what: str, path: str):
        return OSError(errno.EROFS, f"{self.scheme()}:// is read-only: cannot {what}", _shown(path))

    def mkdirs(self, path):
        raise self._read_only("make folders", path)

    def create(self, path, mime_type="application/octet-stream", compression_type=CompressionTypes.AUTO):
        raise self._read_only("create a file", path)

    def copy(self, source_file_names, destination_file_names):
        raise self._read_only("copy", (destination_file_names or source_file_names or ["?"])[0])

    def rename(self, source_file_names, destination_file_names):
        raise self._read_only("rename", (source_file_names or ["?"])[0])

    def delete(self, paths):
        raise self._read_only("delete", (paths or ["?"])[0])


class HttpsFileSystem(HttpFileSystem):
    @classmethod
    def scheme(cls):
        return "https"
