"""datatrove's 4-stage MinhashDedup on a JSONL file: run in bench/.venv-peers only.

    python datatrove_minhash.py INPUT.jsonl WORKDIR [--buckets 14 --rows 8 --ngram 5]

Writes WORKDIR/result.json: {"seconds": {stage: s}, "cluster_of": {doc id: cluster id},
"removed": [doc ids]}; the peak RSS of the process is reported by the caller.
"""
import argparse
import json
import os
import shutil
import time

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import HashConfig


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("workdir")
    parser.add_argument("--buckets", type=int, default=14)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--precision", type=int, default=64)
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data_dir = os.path.join(work, "input")
    os.makedirs(data_dir)
    shutil.copy(args.input, os.path.join(data_dir, "docs.jsonl"))
    config = MinhashConfig(n_grams=args.ngram, num_buckets=args.buckets, hashes_per_bucket=args.rows,
                           hash_config=HashConfig(precision=args.precision))

    def reader():
        return JsonlReader(data_dir, compression=None, glob_pattern="*.jsonl")

    stages = {
        "1-signatures": ([reader(), MinhashDedupSignature(output_folder=f"{work}/signatures", config=config)], 1),
        "2-buckets": ([MinhashDedupBuckets(input_folder=f"{work}/signatures", output_folder=f"{work}/buckets",
                                           config=config)], args.buckets),
        "3-cluster": ([MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids",
                                           config=config, save_cluster_id=True)], 1),
        "4-filter": ([reader(),
                      MinhashDedupFilter(input_folder=f"{work}/remove_ids", load_cluster_ids=True,
                                         exclusion_writer=JsonlWriter(f"{work}/removed", compression=None)),
                      JsonlWriter(f"{work}/kept", compression=None)], 1),
    }
    seconds = {}
    for name, (pipeline, tasks) in stages.items():
        start = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=f"{work}/logs/{name}",
                              skip_completed=False).run()
        seconds[name] = time.perf_counter() - start
    cluster_of, removed = {}, []
    for folder in ("kept", "removed"):
        for name in sorted(os.listdir(f"{work}/{folder}")):
            with open(f"{work}/{folder}/{name}") as f:
                for line in f:
                    doc = json.loads(line)
                    cluster_of[doc["id"]] = doc["metadata"].get("minhash_cluster_id", -1)
                    if folder == "removed":
                        removed.append(doc["id"])
    with open(f"{work}/result.json", "w") as f:
        json.dump({"seconds": seconds, "cluster_of": cluster_of, "removed": removed}, f)


if __name__ == "__main__":
    main()
