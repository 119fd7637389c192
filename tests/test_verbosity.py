"""verbosity.py: what the libraries may print under -q / default / -v."""
import logging

from cleancrawl import verbosity
from cleancrawl.verbosity import NoiseFilter


def _record(name, level, message, exc=False):
    return logging.LogRecord(name, level, __file__, 1, message, None,
                             (ValueError, ValueError("x"), None) if exc else None)


def test_library_noise_and_beams_step_tracebacks_are_hidden():
    noise = NoiseFilter()
    assert not noise.filter(_record("trafilatura.core", logging.ERROR, "ERROR: not enough text"))
    assert not noise.filter(_record("htmldate.core", logging.WARNING, "no date"))
    assert not noise.filter(_record("warcio.recordloader", logging.WARNING,
                                    "Replacing spaces in invalid WARC-Target-URI"))
    assert not noise.filter(_record("apache_beam.runners.common", logging.ERROR, "boom", exc=True))
    assert not noise.filter(_record("apache_beam.runners.portability.local_job_service", logging.ERROR,
                                    "Error: Traceback (most recent call last):\n ..."))
    assert not noise.filter(_record("root", logging.WARNING, "apitools not found; some functions unavailable"))


def test_real_warnings_still_show():
    noise = NoiseFilter()
    assert noise.filter(_record("cleancrawl.pipelines.read", logging.WARNING, "a real warning"))
    assert noise.filter(_record("apache_beam.runners.common", logging.WARNING, "a Beam warning"))
    assert noise.filter(_record("trafilatura.core", logging.CRITICAL, "something grave"))


def test_the_choice_travels_to_worker_processes(monkeypatch):
    monkeypatch.delenv(verbosity.ENV, raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        for h in list(root.handlers):  # as a fresh CLI process: no handler yet
            root.removeHandler(h)
        verbosity.configure(verbose=False, quiet=True)
        import os
        assert os.environ[verbosity.ENV] == "quiet"
        assert any(isinstance(f, NoiseFilter) for h in root.handlers for f in h.filters)
        assert logging.getLogger("trafilatura").level == logging.CRITICAL
        verbosity.configure(verbose=True, quiet=False)
        assert os.environ[verbosity.ENV] == "verbose" and root.level == logging.INFO
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
        root.setLevel(level)
