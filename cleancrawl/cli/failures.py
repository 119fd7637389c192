"""One place that turns any exception a command ends with into one line and an exit code.

Every subcommand runs under `run_parser` (cleancrawl/cli/__init__.py), which calls `describe`
on whatever escapes: a new command cannot forget it. What the line says:

    UserError                       its own words                                     exit 2
    a full disk (ENOSPC/EDQUOT)     "<file>: no space left on device; …"              exit 2
    other OSError (read-only, …)    "<file>: <the OS's words>"                        exit 2
    a file that is not what its     "<file>: not a readable Parquet file (…)"         exit 2
      name says (Arrow, gzip, zstd)
    text that is not UTF-8          "not UTF-8 text (…)"                              exit 2
    anything else                   "internal error (<type>: <words>); -v shows the   exit 1
                                     traceback"

Beam re-raises a worker's exception wrapped in its own, or only as text from another process;
the cause chain and the text are both searched for the innermost known error, so the line names
the real failure and not "while running 'ScanShards'". Lines are made safe to print (file names
and messages quote data) and kept short. With -v the traceback is printed as well.
"""
from __future__ import annotations

import errno
import re

from cleancrawl.corpus.errors import UserError
from cleancrawl.write_failures import is_disk_full

EXIT_USER = 2  # the user can fix it: bad input, unwritable output, a full disk
EXIT_FAILED = 1  # something went wrong during the run that is not the user's to fix
MAX_LINE = 600

_BEAM_SUFFIX = re.compile(r"\s*\[while running '[^']*'\]")
_TEXT_ERRORS = (  # an exception known only as text (from a Beam worker process); a full disk: is_disk_full
    re.compile(r"(?:PermissionError|Read-only file system|\[Errno 13\]|\[Errno 30\])"),
    re.compile(r"(?:pyarrow\.lib\.)?Arrow(?:Invalid|IOError|TypeError)\b"),
)
DISK_FULL = "no space left on device; free space or choose another output (unfinished output has no _SUCCESS)"


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _words(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return _BEAM_SUFFIX.sub("", text) or type(err).__name__


def _short(text: str) -> str:
    from cleancrawl.corpus.safe_text import safe

    text = safe(text)
    return text if len(text) <= MAX_LINE else text[:MAX_LINE] + "…"


def _os_line(err: OSError) -> str:
    where = err.filename if err.filename is not None else ""
    if isinstance(where, bytes):
        where = where.decode("utf-8", "backslashreplace")
    what = err.strerror or _words(err)
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        what = DISK_FULL
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what += " (the output folder, or a file in it, cannot be written)" if where else ""
    return f"{where}: {what}" if where else what


def _is_format_error(err: BaseException) -> bool:
    import gzip
    import zlib

    if isinstance(err, (gzip.BadGzipFile, zlib.error, EOFError)):
        return True
    module = type(err).__module__ or ""
    if module.startswith("pyarrow") and type(err).__name__.startswith("Arrow"):
        return True
    return type(err).__name__ == "ZstdError"


def describe(err: BaseException) -> tuple[str, int]:
    """(one line for stderr, the exit code) for the exception a command ended with."""
    chain = list(_chain(err))
    for cause in chain:  # a UserError anywhere (raised in a DoFn, wrapped by Beam) says it best
        if isinstance(cause, UserError):
            return _short(str(cause).splitlines()[0] if str(cause) else "error"), getattr(cause, "exit_code", EXIT_USER)
    for cause in chain:
        if isinstance(cause, OSError) and cause.errno is not None:
            return _short(_os_line(cause)), EXIT_USER
    for cause in chain:
        if isinstance(cause, UnicodeDecodeError):
            return _short(f"not UTF-8 text ({cause.reason} at byte {cause.start})"), EXIT_USER
        if _is_format_error(cause):
            return _short(f"a file is not in the format its name says ({type(cause).__name__}: {_words(cause)})"), \
                EXIT_USER
    if is_disk_full(err):  # also a worker process's, known only as text
        return DISK_FULL, EXIT_USER
    text = "\n".join(str(c) for c in chain)
    for pattern in _TEXT_ERRORS:  # a worker process's exception, known only as text
        found = pattern.search(text)
        if not found:
            continue
        line = next((candidate for candidate in text.splitlines() if pattern.search(candidate)), found.group())
        return _short(_BEAM_SUFFIX.sub("", line.strip())), EXIT_USER
    inner = chain[-1]
    kind, words = type(inner).__name__, _words(inner)
    raised = _raised_in_text(text)
    if raised:  # a worker's traceback as text: its last exception line is the real failure
        kind, words = raised
        if kind.endswith("UserError"):
            return _short(words), EXIT_USER
    return _short(f"internal error ({kind}: {words}); rerun with -v for the traceback"), EXIT_FAILED


_RAISED = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)): (.*)$")


def _raised_in_text(text: str) -> tuple[str, str] | None:
    """(type, message) of the last exception line of a traceback quoted in `text`."""
    if "Traceback (most recent call last)" not in text:
        return None
    for line in reversed(text.splitlines()):
        found = _RAISED.match(line.strip())
        if found:
            return found.group(1).rsplit(".", 1)[-1], _BEAM_SUFFIX.sub("", found.group(2))
    return None
