"""A Beam SDK worker started the way a portable runner starts one: `python -m cleancrawl.pipelines.worker_boot`.

Portable runners (Flink, Spark, Beam's Python job service) start a Python worker by running an
executable with the container contract's flags

    --id=WORKER --provision_endpoint=HOST:PORT --control_endpoint=… --logging_endpoint=… --artifact_endpoint=…

Beam's own executable (`boot`, a Go binary) ships only inside Beam's Docker image. This module
does its part for a machine where cleancrawl is already installed: it asks the provision
service for the pipeline options, puts them and the endpoints where `sdk_worker_main` reads
them, and runs the worker through `cleancrawl.pipelines.worker_exit` (the worker ends when the
process that started it ends). Nothing is staged or installed: the worker runs the installed
cleancrawl. Use it through a two-line shell script (runners take one executable, no arguments):

    #!/bin/sh
    exec /path/to/venv/bin/python -m cleancrawl.pipelines.worker_boot "$@"

with `--environment_type=PROCESS --environment_config='{"command": "/path/to/that/script"}'`
(Flink, Spark), or as the `--container_executable` of Beam's worker pool with
`--environment_type=EXTERNAL`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile


def worker_environment(argv: list[str]) -> dict[str, str]:
    """The environment variables `sdk_worker_main` reads, from the contract's flags and the provision service."""
    import grpc
    from apache_beam.portability.api import (
        beam_provision_api_pb2,
        beam_provision_api_pb2_grpc,
        endpoints_pb2,
    )
    from google.protobuf import json_format, text_format

    parser = argparse.ArgumentParser(prog="cleancrawl.pipelines.worker_boot")
    for name in ("id", "provision_endpoint", "control_endpoint", "logging_endpoint", "artifact_endpoint",
                 "semi_persist_dir"):
        parser.add_argument(f"--{name}", default="")
    args, _ = parser.parse_known_args(argv)
    if not args.provision_endpoint:
        raise SystemExit("worker_boot: --provision_endpoint is required (a portable runner passes it)")

    with grpc.insecure_channel(args.provision_endpoint) as channel:
        info = beam_provision_api_pb2_grpc.ProvisionServiceStub(channel).GetProvisionInfo(
            beam_provision_api_pb2.GetProvisionInfoRequest(), metadata=[("worker_id", args.id)], timeout=60).info

    def descriptor(url: str) -> str:
        return text_format.MessageToString(endpoints_pb2.ApiServiceDescriptor(url=url))

    env = {
        "WORKER_ID": args.id,
        "PIPELINE_OPTIONS": json_format.MessageToJson(info.pipeline_options),
        "CONTROL_API_SERVICE_DESCRIPTOR": descriptor(info.control_endpoint.url or args.control_endpoint),
        "LOGGING_API_SERVICE_DESCRIPTOR": descriptor(info.logging_endpoint.url or args.logging_endpoint),
        "SEMI_PERSISTENT_DIRECTORY": args.semi_persist_dir or tempfile.gettempdir(),
        "RUNNER_CAPABILITIES": " ".join(info.runner_capabilities),
    }
    if info.status_endpoint.url:
        env["STATUS_API_SERVICE_DESCRIPTOR"] = descriptor(info.status_endpoint.url)
    return env


def main(argv: list[str]) -> None:
    from cleancrawl.pipelines.worker_exit import BUILD_PID

    os.environ.pop(BUILD_PID, None)  # a pool started beside a `--workers N` build: its parent is the pool
    os.environ.update(worker_environment(argv))
    os.execv(sys.executable, [sys.executable, "-m", "cleancrawl.pipelines.worker_exit"])


if __name__ == "__main__":
    main(sys.argv[1:])
