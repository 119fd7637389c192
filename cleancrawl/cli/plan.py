"""`cleancrawl plan`: build a seeded sample of the listing's files, project the whole build.

    cleancrawl plan --crawl CC-MAIN-2019-18 --sample 20 [--sample-seed S] [--json FILE]
                    [--price-cpu-hour P] [--workers-wall N]

Takes every `build` option (the sample is built with them) and writes nothing but --json: the
sample is built into a temporary folder, deleted afterwards (--output is not touched). Parses
options and calls `cleancrawl.pipelines.plan.plan_build`.
"""
from __future__ import annotations

import argparse
import json
import sys

from cleancrawl import options, output_folder, storage
from cleancrawl.cli.build import check_extractor
from cleancrawl.cli.common import add_command
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.safe_text import safe
from cleancrawl.pipelines.config import BuildConfig


def _run(args: argparse.Namespace) -> int:
    from cleancrawl.pipelines.plan import plan_build, render_text  # Beam is imported only when a build runs

    if args.price_cpu_hour is not None and args.price_cpu_hour < 0:
        raise UserError(f"--price-cpu-hour {args.price_cpu_hour:g}: give a price of zero or more")
    config = options.from_args(BuildConfig, args)
    if args.json:
        output_folder.check_replaceable_json(  # before the sample build: a user's file there is never replaced
            args.json, "--json", "plan", lambda data: "sampled_files" in data and "cpu_hours" in data)
    check_extractor(config.extraction)
    plan = plan_build(config, args.workers_wall, args.pipeline_args)
    if args.price_cpu_hour is not None:
        plan.update(price_cpu_hour=args.price_cpu_hour, cost=plan["cpu_hours"] * args.price_cpu_hour)
    sys.stdout.write(render_text(plan, args.price_cpu_hour))
    if args.json:
        storage.write_atomically(args.json, (json.dumps(plan, indent=1) + "\n").encode("utf-8"))
        print(f"wrote {safe(args.json)}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    parser = add_command(subparsers, "plan", BuildConfig, _run, description=__doc__, pipeline_options=True,
                         help="the cost first: build a sample of the files, project pages, CPU-hours, bytes")
    parser.add_argument("--json", metavar="FILE", help="also write the plan as JSON")
    parser.add_argument("--price-cpu-hour", type=float, metavar="PRICE", help="price of a CPU-hour: print the cost")
    parser.add_argument("--workers-wall", type=int, default=1, metavar="N",
                        help="workers for the projected wall time (default: %(default)s)")
