"""The build through Beam's portable path, as Flink/Spark/Dataflow run it, and under retried bundles.

`PortableRunner` with Beam's Python job service in this process (`--job_endpoint=embed`) and
`--environment_type=EXTERNAL`: every DoFn is pickled into a pipeline proto and runs in SDK worker
processes that a worker pool (a separate process, 127.0.0.1 only) starts through
`cleancrawl.pipelines.worker_boot` — the workers get their options from the runner's provision
service and share no memory with the build. The output must be the DirectRunner's, byte for byte.
"""
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
from apache_beam.runners.portability import portable_runner

from cleancrawl import layout
from cleancrawl.cli import main as cli_main
from cleancrawl.pipelines.build import BuildConfig, run_build

pytestmark = pytest.mark.slow

# A worker pool on 127.0.0.1 (Beam's worker_pool_main binds every interface), whose workers run
# the container-contract executable given; it ends by itself after the given seconds.
POOL = """
import sys, time, grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
from apache_beam.utils import thread_pool_executor
server = grpc.server(thread_pool_executor.shared_unbounded_instance())
port = server.add_insecure_port("127.0.0.1:0")
beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
    BeamFnExternalWorkerPoolServicer(use_process=True, container_executable=sys.argv[1]), server)
server.start()
print(port, flush=True)
time.sleep(float(sys.argv[2]))
"""
POOL_LIFETIME_S = 150


def output_digests(out: str) -> dict[str, str]:
    """sha256 of every file of a build, by path under `out`, stats.json aside."""
    digests = {}
    for root, _, files in os.walk(out):
        for name in files:
            path = os.path.join(root, name)
            relative = os.path.relpath(path, out)
            if relative != layout.STATS_FILE:
                digests[relative] = hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()
    return digests


def comparable_stats(out: str) -> dict:
    """stats.json without what belongs to the run: its finish time and its output folder."""
    stats = json.loads(pathlib.Path(out, layout.STATS_FILE).read_text())
    stats.pop("finished_at")
    stats["config"].pop("output")
    return stats


@pytest.fixture(scope="module")
def direct_build(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("direct") / "out")
    run_build(BuildConfig(output=out, keep_dropped=1.0))
    return out


@pytest.fixture()
def worker_pool(tmp_path):
    """(address, log path) of a worker pool process that starts SDK workers through worker_boot."""
    boot = tmp_path / "boot.sh"
    boot.write_text(f'#!/bin/sh\nexec {sys.executable} -m cleancrawl.pipelines.worker_boot "$@"\n')
    boot.chmod(0o755)
    log = tmp_path / "pool.log"
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}"}
    with open(log, "w") as stderr:
        pool = subprocess.Popen([sys.executable, "-c", POOL, str(boot), str(POOL_LIFETIME_S)],
                                stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
    try:
        port = int(pool.stdout.readline())
        yield f"127.0.0.1:{port}", log
    finally:
        pool.kill()  # its workers end with it (worker_exit: PR_SET_PDEATHSIG / parent watch)
        pool.wait(timeout=30)
        pool.stdout.close()


def test_portable_runner_with_worker_processes_gives_the_direct_runners_bytes(direct_build, worker_pool, tmp_path,
                                                                             monkeypatch):
    address, pool_log = worker_pool

    def no_metrics(self):
        raise NotImplementedError("this runner commits no metrics")

    # A runner that commits no metrics: stats.json must not need them.
    monkeypatch.setattr(portable_runner.PipelineResult, "metrics", no_metrics)
    out = str(tmp_path / "portable")
    started = time.monotonic()
    code = cli_main(["build", "--output", out, "--keep-dropped", "1",
                     "--runner=PortableRunner", "--job_endpoint=embed",
                     "--environment_type=EXTERNAL", f"--environment_config={address}"])
    seconds = time.monotonic() - started
    assert code == 0
    print(f"portable build of the sample: {seconds:.1f} s")
    # The DoFns ran in workers the pool started as processes, through the boot executable.
    assert "Starting worker with command" in pool_log.read_text()
    assert "boot.sh" in pool_log.read_text()

    digests = output_digests(out)
    assert {p.split("/")[0] for p in digests} >= {"train", "validation", "duplicates", "dropped", "_SUCCESS"}
    assert digests == output_digests(direct_build)
    # stats.json is computed from the tallies (PCollection data), so it is the same under a runner
    # whose metrics the build never asks for; only the run's own output folder and time differ.
    assert comparable_stats(out) == comparable_stats(direct_build)
    assert comparable_stats(out)["totals"]["balanced"] is True
