"""A local HTTP server for tests of cleancrawl.http_files: real files, faults on a schedule.

It listens on 127.0.0.1 on a free port, is started and stopped by the test (a context manager),
answers GET and HEAD with ETag, Last-Modified, Content-Length and `Range: bytes=N-` (If-Range
honoured unless told not to; no validators, or chunked bodies of unsaid length, when told), and
logs every request. Each file has a list of faults, one used
per request to that file in arrival order (a GET's faults, a HEAD's); when none is left the file is
served plainly.
Every loop here is bounded: a body is sent once, in chunks, and every sleep is a fault's own.
"""
from __future__ import annotations

import dataclasses
import email.utils
import hashlib
import http.server
import socket
import struct
import threading
import time


@dataclasses.dataclass
class Fault:
    method: str = "GET"                # the requests it is for (HEADs take only `status`)
    status: int | None = None          # answer this status instead of the file (no body)
    retry_after: str | None = None     # ... with this Retry-After
    cut_after: int | None = None       # send this many body bytes, then end the connection:
    reset: bool = True                 # ... with a TCP reset (unread bytes may be lost), or a plain close
    trickle: tuple[int, float] | None = None  # send the body in chunks of this size, sleeping between
    stall: tuple[int, float] | None = None    # after this many body bytes, sleep this long once
    replace: bytes | None = None       # the file's bytes change before this answer (new ETag, Last-Modified)


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    start: float
    status: int = 0
    sent: int = 0                      # body bytes the server wrote
    done: bool = False


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"      # keep-alive, as real servers: the client's pool reuses connections
    timeout = 5                        # an idle kept-alive connection is closed after this long
    _request: Request | None = None    # the answer being sent, while it counts as in flight
    server: "FaultServer"

    def log_message(self, *args):      # quiet
        pass

    def handle(self):
        try:
            super().handle()
        except (OSError, ValueError):  # a connection this server cut, or one the client closed unread
            self.close_connection = True

    def do_HEAD(self):
        self._answer(body=False)

    def do_GET(self):
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        owner = self.server.owner
        name = self.path.lstrip("/").split("?", 1)[0]
        request = Request(self.command, name, {k.lower(): v for k, v in self.headers.items()}, time.monotonic())
        with owner.lock:
            owner.log.append(request)
            owner.active += 1
            owner.max_active = max(owner.max_active, owner.active)
            waiting = owner.faults.get(name, [])
            mine = next((i for i, f in enumerate(waiting) if f.method == self.command), None)
            fault = waiting.pop(mine) if mine is not None else Fault()
            if fault.replace is not None:
                owner.put(name, fault.replace, modified=owner.files[name][2] + 60)
            found = owner.files.get(name)
        self._request = request
        try:
            self._send(request, fault, found, body)
        except (BrokenPipeError, ConnectionResetError):  # the client went away: a stopped read
            self.close_connection = True
        finally:
            self._last_write()
            request.done = True

    def _last_write(self) -> None:
        """Called before the last bytes of an answer leave: from then on the client may finish and
        send its next request, so this one stops counting as in flight (once)."""
        if self._request is not None:
            with self.server.owner.lock:
                self.server.owner.active -= 1
            self._request = None

    def _send(self, request: Request, fault: Fault, found, body: bool) -> None:
        owner = self.server.owner
        if fault.status is not None or found is None:
            request.status = fault.status or 404
            self.send_response(request.status)
            if fault.retry_after is not None:
                self.send_header("Retry-After", fault.retry_after)
            self.send_header("Content-Length", "0")
            self._last_write()
            self.end_headers()
            return
        data, etag, modified = found
        start = 0
        wanted = self.headers.get("Range", "")
        if_range = self.headers.get("If-Range")
        honoured = not if_range or not owner.honour_if_range or if_range in (etag, _http_date(modified))
        if wanted.startswith("bytes=") and honoured:
            start = int(wanted[len("bytes="):].split("-", 1)[0])
            if start >= len(data):
                request.status = 416
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self._last_write()
                self.end_headers()
                return
        request.status = 206 if start else 200
        self.send_response(request.status)
        if owner.validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", _http_date(modified))
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data) if owner.lengths else '*'}")
        if owner.lengths:
            self.send_header("Content-Length", str(len(data) - start))
        elif body:
            self.send_header("Transfer-Encoding", "chunked")
        if not body:
            self._last_write()
        self.end_headers()
        if body:
            self._body(request, fault, memoryview(data)[start:])

    def _body(self, request: Request, fault: Fault, data: memoryview) -> None:
        chunk, delay = fault.trickle or (64 * 1024, 0.0)
        stalled = fault.stall is None
        end = len(data) if fault.cut_after is None else min(len(data), fault.cut_after)
        while request.sent < end:
            if not stalled and request.sent >= fault.stall[0]:
                self.wfile.flush()
                time.sleep(fault.stall[1])
                stalled = True
            limit = end if stalled else min(end, fault.stall[0])
            piece = data[request.sent:min(limit, request.sent + chunk)]
            if request.sent + len(piece) == len(data):
                self._last_write()
            self._write(piece)
            request.sent += len(piece)
            if delay and request.sent < end:
                self.wfile.flush()
                time.sleep(delay)
        if fault.cut_after is not None and end < len(data):
            self._cut(fault.reset)
        elif not self.server.owner.lengths:
            self.wfile.write(b"0\r\n\r\n")

    def _write(self, piece) -> None:
        if self.server.owner.lengths:
            self.wfile.write(piece)
        else:  # chunked
            self.wfile.write(b"%x\r\n" % len(piece) + bytes(piece) + b"\r\n")

    def _cut(self, reset: bool) -> None:
        """End the connection with the body unfinished: a TCP reset, or a close the client reads
        to its end (every byte sent arrives)."""
        self.wfile.flush()
        self.close_connection = True
        if not reset:
            self.connection.shutdown(socket.SHUT_WR)
            return
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.wfile.close()
        self.rfile.close()
        self.connection.close()


def _http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: "FaultServer"


class FaultServer:
    """`with FaultServer({"a.gz": data}) as server:` ... `server.url("a.gz")`, `server.log`."""

    def __init__(self, files: dict[str, bytes], honour_if_range: bool = True, validators: bool = True,
                 lengths: bool = True):
        self.lock = threading.Lock()
        self.files: dict[str, tuple[bytes, str, float]] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.log: list[Request] = []
        self.active = self.max_active = 0
        self.honour_if_range, self.validators, self.lengths = honour_if_range, validators, lengths
        for name, data in files.items():
            self.put(name, data, modified=1_700_000_000.0)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def put(self, name: str, data: bytes, modified: float) -> None:
        self.files[name] = (data, '"' + hashlib.sha256(data).hexdigest()[:16] + '"', modified)

    def schedule(self, name: str, *faults: Fault) -> None:
        with self.lock:
            self.faults.setdefault(name, []).extend(faults)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/{name}"

    def requests(self, name: str, method: str = "GET") -> list[Request]:
        with self.lock:
            return [r for r in self.log if r.path == name and r.method == method]

    def wait_done(self, timeout: float = 5.0) -> None:
        """Until every request's handler has finished (or `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(r.done for r in self.log):
                    return
            time.sleep(0.02)

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
