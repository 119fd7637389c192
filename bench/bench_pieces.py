"""A build in pieces against the whole build, on the same crawl in one run: CPU of each piece, of
the finish, and of the whole build; the finish's share; the outputs compared byte for byte.

    .venv/bin/python bench/bench_pieces.py [--pages 6000] [--pieces 3] [--kind replicas|duplicates]

The crawl is bench/scale_data.py's (the 323 real sample pages replicated onto other hosts, each
line varied so replicas are distinct pages; `duplicates`: pages recurring on 64-128 hosts, text
unchanged). Everything runs in this process on the DirectRunner (one worker), so CPU is this
process's user+system time. Figures go to stdout and bench/out/bench_pieces.json.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile

from common import OUT_DIR
from scale_data import write_scaled_crawl

from cleancrawl.pipelines.build import run_build, run_finish
from cleancrawl.pipelines.config import BuildConfig
from cleancrawl.pipelines.pieces import run_piece


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def digests(folder: str) -> dict[str, str]:
    found = {}
    for dirpath, _, names in os.walk(folder):
        for name in names:
            rel = os.path.relpath(os.path.join(dirpath, name), folder)
            if rel != "stats.json":
                with open(os.path.join(dirpath, name), "rb") as f:
                    found[rel] = hashlib.sha256(f.read()).hexdigest()
    return found


def funnel(folder: str) -> dict:
    with open(os.path.join(folder, "stats.json")) as f:
        stats = json.load(f)
    return {k: v for k, v in stats.items() if k not in ("config", "finished_at")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=6000)
    parser.add_argument("--pieces", type=int, default=3)
    parser.add_argument("--kind", default="replicas", choices=("replicas", "duplicates"))
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench-pieces-")
    manifest = write_scaled_crawl(os.path.join(work, "data"), args.pages, pages_per_file=max(1, args.pages // 12),
                                  kind=args.kind)
    listing = os.path.join(work, "crawl.paths")
    with open(listing, "w") as f:
        f.write("".join(os.path.basename(p) + "\n" for p in manifest["files"]))
    base = dict(input_list=listing, input_prefix=manifest["input_dir"] + "/")
    n = len(manifest["files"])
    bounds = [round(i * n / args.pieces) for i in range(args.pieces + 1)]

    start = cpu()
    run_build(BuildConfig(**base, files=f"0:{n}", output=os.path.join(work, "whole")))
    whole = cpu() - start
    pieces, piece_cpu = [], []
    for i in range(args.pieces):
        pieces.append(os.path.join(work, f"p{i}"))
        start = cpu()
        run_piece(BuildConfig(**base, files=f"{bounds[i]}:{bounds[i + 1]}", piece=True, output=pieces[-1]))
        piece_cpu.append(cpu() - start)
    start = cpu()
    run_finish(pieces, os.path.join(work, "finished"))
    finish = cpu() - start
    same = (digests(os.path.join(work, "whole")) == digests(os.path.join(work, "finished"))
            and funnel(os.path.join(work, "whole")) == funnel(os.path.join(work, "finished")))
    total = sum(piece_cpu) + finish
    result = {"pages": args.pages, "kind": args.kind, "files": n, "pieces": args.pieces,
              "whole_cpu_s": whole, "pieces_cpu_s": piece_cpu, "finish_cpu_s": finish,
              "finish_share": finish / total, "pieces_and_finish_over_whole": total / whole,
              "byte_identical": same}
    print(f"{args.pages} pages ({args.kind}) in {n} files, {args.pieces} pieces, one worker each:")
    print(f"  whole build          {whole:8.1f} CPU-s")
    for i, c in enumerate(piece_cpu):
        print(f"  piece {i} (files {bounds[i]}:{bounds[i + 1]})  {c:8.1f} CPU-s")
    print(f"  finish               {finish:8.1f} CPU-s  ({100 * finish / total:.0f}% of pieces + finish)")
    print(f"  pieces + finish      {total:8.1f} CPU-s  ({total / whole:.2f}x the whole build)")
    print(f"  shards and funnel byte-identical to the whole build: {same}")
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "bench_pieces.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
