"""`--workers N` worker processes exit with the build that started them.

Beam's DirectRunner in multi_processing mode starts each SDK worker with
`subprocess.Popen("<python> -m apache_beam.runners.worker.sdk_worker_main", shell=True)`. When
the build is killed outright (`kill -9`, the OOM killer) nothing stops them: a worker still
starting waits a minute for the build's gRPC logging service, a running one waits on its
control channel. So a build with worker processes runs Beam's FnApiRunner (what the
DirectRunner runs a batch pipeline on) with one change, the worker command:

    exec <python> -m cleancrawl.pipelines.worker_exit      (then Beam's sdk_worker_main)

`exec` makes the worker the build's own child; before importing Beam it asks Linux to kill it
when its parent dies (prctl PR_SET_PDEATHSIG), and on any POSIX system a daemon thread ends it
within half a second once it has been re-parented. Other runners manage their own workers.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time

WORKER_COMMAND = f"exec {sys.executable} -m {__name__}"
BUILD_PID = "CLEANCRAWL_BUILD_PID"  # the build's pid, inherited by its workers with the environment
_PR_SET_PDEATHSIG = 1


def runner_for(options):
    """The runner for `options`: a worker-reaping FnApiRunner for the DirectRunner's
    multi_processing mode (`--workers N`), else None (Beam picks the runner as usual)."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    runner = options.view_as(StandardOptions).runner
    if (runner not in (None, "DirectRunner", "direct")
            or options.view_as(DirectOptions).direct_running_mode != "multi_processing"):
        return None
    os.environ[BUILD_PID] = str(os.getpid())
    return _runner_class()()


def _runner_class():
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner
    from apache_beam.transforms.environments import SubprocessSDKEnvironment

    class WorkersExitWithBuild(FnApiRunner):
        """FnApiRunner whose worker processes start through this module (see above)."""

        # FnApiRunner.run_pipeline sets the worker environment from the options and uses it at
        # once; the property swaps Beam's worker command for ours as it is set.
        @property
        def _default_environment(self):
            return self._cleancrawl_environment

        @_default_environment.setter
        def _default_environment(self, environment):
            if isinstance(environment, SubprocessSDKEnvironment) and \
                    environment.command_string.endswith("apache_beam.runners.worker.sdk_worker_main"):
                environment = SubprocessSDKEnvironment.from_command_string(WORKER_COMMAND)
            self._cleancrawl_environment = environment

    return WorkersExitWithBuild


def _watch(parent: int, interval: float = 0.5) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)  # nothing to flush: the build that would read this worker's output is gone


def exit_with_parent() -> None:
    """In a worker process: end it when the process that started it ends."""
    parent = int(os.environ.get(BUILD_PID) or os.getppid())
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except Exception:  # no libc prctl: the watchdog below still works
            pass
    if os.getppid() != parent:  # the build died before this line
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="cleancrawl-parent-watch", daemon=True).start()


class QuietTracebacks:
    """A worker's stderr without the tracebacks Beam's SDK worker prints (`print(traceback, file=
    sys.stderr)`) for a failing bundle: the error reaches the build, which says it in one line
    (cleancrawl/cli/failures.py); -v shows them."""

    def __init__(self, stream):
        self._stream, self._dropped = stream, False

    def write(self, text: str) -> int:
        if text.startswith("Traceback (most recent call last)"):
            self._dropped = True
            return len(text)
        if self._dropped and text == "\n":  # print's end after the dropped traceback
            self._dropped = False
            return len(text)
        self._dropped = False
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


if __name__ == "__main__":
    exit_with_parent()
    from cleancrawl.verbosity import ENV, configure_worker
    configure_worker()  # the CLI's -q/-v, before Beam's import logs anything
    from apache_beam.runners.worker import sdk_worker_main

    from cleancrawl.write_failures import hide_explained_beam_tracebacks

    hide_explained_beam_tracebacks()  # the build prints them in one line
    if os.environ.get(ENV) != "verbose":
        sys.stderr = QuietTracebacks(sys.stderr)  # Beam's worker prints a failing bundle's traceback itself

    sdk_worker_main.main(sys.argv)
