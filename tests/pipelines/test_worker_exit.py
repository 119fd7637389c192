"""pipelines/worker_exit.py: `--workers N` processes exit with the build; their printed tracebacks stay quiet."""
import io
import os
import subprocess
import sys
import time

from apache_beam.options.pipeline_options import PipelineOptions

from cleancrawl.pipelines import worker_exit


def test_a_workers_stderr_drops_beams_printed_traceback_only():
    stream = io.StringIO()
    quiet = worker_exit.QuietTracebacks(stream)
    print("Traceback (most recent call last):\n  File ...\nOSError: [Errno 28] No space left on device", file=quiet)
    print("a worker's own line", file=quiet)
    assert stream.getvalue() == "a worker's own line\n"
    assert quiet.getvalue() == stream.getvalue()  # everything else passes through to the stream


def test_only_the_multi_process_direct_runner_gets_the_reaping_runner():
    assert worker_exit.runner_for(PipelineOptions([])) is None
    assert worker_exit.runner_for(PipelineOptions(["--runner=DataflowRunner"])) is None
    runner = worker_exit.runner_for(PipelineOptions(["--direct_running_mode=multi_processing",
                                                     "--direct_num_workers=2"]))
    assert type(runner).__name__ == "WorkersExitWithBuild"
    assert os.environ[worker_exit.BUILD_PID] == str(os.getpid())


def test_a_worker_ends_when_the_process_that_started_it_is_gone(tmp_path):
    # a parent that starts a child running exit_with_parent(), then exits at once
    child = ("import os, sys, time; sys.path.insert(0, %r); "
             "from cleancrawl.pipelines.worker_exit import exit_with_parent; exit_with_parent(); "
             "open(%r, 'w').write(str(os.getpid())); time.sleep(30)") % (os.getcwd(), str(tmp_path / "pid"))
    parent = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(3)"
    subprocess.run([sys.executable, "-c", parent], timeout=60, env={**os.environ, worker_exit.BUILD_PID: ""})
    pid = int((tmp_path / "pid").read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker {pid} outlived its parent")
