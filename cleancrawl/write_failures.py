"""A run's write failures as one line: a full disk, and an output folder another run took over.

Beam re-raises a DoFn's exception wrapped in its own, or only as text from another process;
`write_errors_are_user_errors` finds the failure either way and raises a UserError naming the
output, while `hide_explained_beam_tracebacks` keeps Beam from printing the traceback of what is
explained (even with -v: the line says it all). Anything else is left to the CLI's one place for
errors (cli/failures.py).
"""
from __future__ import annotations

import contextlib
import logging

from cleancrawl.corpus.errors import UserError
from cleancrawl.output_folder import TAKEN_OVER


def is_disk_full(err: BaseException) -> bool:
    """An ENOSPC/EDQUOT anywhere in `err`'s chain, or in a worker's re-raised message."""
    import errno

    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(err)
        if "[Errno 28]" in text or "No space left on device" in text or "[Errno 122]" in text:
            return True
        err = err.__cause__ or err.__context__
    return False


@contextlib.contextmanager
def write_errors_are_user_errors(output: str):
    """Around a run that writes `output`: a full disk, and the run id check failing inside a
    pipeline worker (Beam re-raises a DoFn's exception wrapped, or as text from another process),
    become one line (UserError) instead of a traceback."""
    shown_again = hide_explained_beam_tracebacks()
    try:
        yield
    except UserError:
        raise
    except Exception as err:
        if is_disk_full(err):
            raise UserError(f"{output}: no space left on device; free space or choose another output "
                            "(the unfinished output has no _SUCCESS and readers refuse it)") from None
        cause, seen = err, set()
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            if isinstance(cause, UserError) or TAKEN_OVER in str(cause):
                lines = str(cause).splitlines() or [type(cause).__name__]
                line = next((candidate for candidate in lines if TAKEN_OVER in candidate), lines[0])
                raise UserError(line.split("UserError: ", 1)[-1][:600]) from None
            cause = cause.__cause__ or cause.__context__
        raise
    finally:
        shown_again()


def hide_explained_beam_tracebacks():
    """Beam logs a failing DoFn's traceback before re-raising it; for a full disk and a lost
    output folder, explained in one line by `write_errors_are_user_errors`, it is left out (also
    in `--workers` processes, which log to the same terminal). Returns the undo function."""
    from cleancrawl.verbosity import BEAM_FAILURE_LOGGERS

    quiet = _ExplainedFailures()
    loggers = [logging.getLogger(name) for name in BEAM_FAILURE_LOGGERS]
    for logger in loggers:
        logger.addFilter(quiet)

    def undo():
        for logger in loggers:
            logger.removeFilter(quiet)
    return undo


class _ExplainedFailures(logging.Filter):
    """A logging filter: drops Beam's traceback of the failures explained in one line."""

    def filter(self, record) -> bool:
        err = record.exc_info[1] if record.exc_info else None
        if err is not None and (is_disk_full(err) or isinstance(err, UserError)):
            return False
        text = record.getMessage()
        return not (is_disk_full(RuntimeError(text)) or TAKEN_OVER in text)
