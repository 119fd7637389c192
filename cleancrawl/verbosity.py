"""-q / -v: what the libraries may print, set once at CLI start-up and inherited by worker processes.

Without -v, the known noise is hidden: a failing Beam step's traceback (the CLI says the failure
in one line), Beam's "apitools not found" (logged on import when the gcp
extra is absent), its DirectRunner workers' start-up INFO lines and "No semi_persistent_directory"
warning, and warcio's logged warnings (e.g. "Replacing spaces in invalid WARC-Target-URI").
With -v everything shows, Beam's INFO logs included. The CLI process calls `configure`; it puts
the choice in the environment, where DirectRunner worker processes (`--workers N`) find it and
call `configure_worker` before Beam is imported, and DoFns call it again (cheap) for warcio.
"""
from __future__ import annotations

import logging
import os

ENV = "CLEANCRAWL_VERBOSITY"  # verbose | normal | quiet
NOISE = (
    "apitools not found",  # Beam's bigquery client stub without the gcp extra
    "No semi_persistent_directory found",  # each DirectRunner worker process, forwarded too
)


# where Beam logs a failing DoFn's traceback before re-raising it (in this process, and in a
# `--workers` process); the CLI then says the failure in one line (cleancrawl/cli/failures.py)
BEAM_FAILURE_LOGGERS = ("apache_beam.runners.common", "apache_beam.runners.portability.local_job_service",
                        "apache_beam.runners.worker.sdk_worker", "apache_beam.runners.worker.bundle_processor",
                        "apache_beam.runners.portability.fn_api_runner")


class NoiseFilter(logging.Filter):
    """Drops log records carrying the known library noise, and Beam's tracebacks of a failing
    step, which the CLI repeats as its one-line error (unless -v)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            return True
        if record.levelno >= logging.ERROR and record.name.startswith(BEAM_FAILURE_LOGGERS) and (
                record.exc_info or "Traceback (most recent call last)" in message):
            return False
        library = LIBRARY_LOGGERS.get(record.name.split(".", 1)[0])
        if library is not None and record.levelno < library:  # however the library set its own level
            return False
        return not any(noise in message for noise in NOISE)


def _stderr_handler(formatter: logging.Formatter | None = None) -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter or logging.Formatter(logging.BASIC_FORMAT))
    handler.cleancrawl = True  # ours: configure() may adjust it
    return handler


def configure(verbose: bool, quiet: bool, formatter: logging.Formatter | None = None) -> None:
    """In the CLI process, before Beam or warcio is imported. Leaves logging alone when a program
    (or pytest) that calls the CLI in-process has set up its own handlers."""
    import warnings

    from cleancrawl.corpus.safe_text import install_log_escaping
    install_log_escaping()  # libraries log crawl data (warcio: the URL of a record)

    os.environ[ENV] = "verbose" if verbose else "quiet" if quiet else "normal"
    root = logging.getLogger()
    if not root.handlers:  # before a library's logging.warning() calls basicConfig
        root.addHandler(_stderr_handler(formatter))
    if not any(getattr(h, "cleancrawl", False) for h in root.handlers):
        return
    if verbose:
        root.setLevel(logging.INFO)
        warnings.simplefilter("default")
        return
    root.setLevel(logging.WARNING)
    for handler in root.handlers:
        if not any(isinstance(f, NoiseFilter) for f in handler.filters):
            handler.addFilter(NoiseFilter())
    quiet_libraries()
    warnings.filterwarnings("ignore", module=r"(apache_beam|warcio|matplotlib|trafilatura)(\.|$)")


# libraries that log each page they give up on (trafilatura: "ERROR: not enough text …"); a page
# they fail on is a counted drop with its reason, so their lines are noise unless -v
LIBRARY_LOGGERS = {"warcio": logging.ERROR, "trafilatura": logging.CRITICAL, "htmldate": logging.CRITICAL,
                   "courlan": logging.CRITICAL, "justext": logging.CRITICAL}


def quiet_libraries() -> None:
    for name, level in LIBRARY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)


def configure_worker() -> None:
    """In a worker process started by the CLI's build: the CLI's choice, from the environment.
    Beam's worker sets its root logger to INFO; our handler shows only warnings and above."""
    from cleancrawl.corpus.safe_text import install_log_escaping
    install_log_escaping()  # -v or not: a logged URL carries no escape sequence to the terminal
    root = logging.getLogger()
    if os.environ.get(ENV, "verbose") == "verbose":
        return
    if not root.handlers:  # a fresh worker process, before Beam's import logs through basicConfig
        handler = _stderr_handler()
        handler.setLevel(logging.WARNING)
        handler.addFilter(NoiseFilter())
        root.addHandler(handler)
    elif not any(getattr(h, "cleancrawl", False) for h in root.handlers):
        return  # in-process in a program (or pytest) with its own logging set-up: leave it be
    quiet_libraries()
