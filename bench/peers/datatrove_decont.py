"""datatrove's n-gram decontamination (NGramsDecontFilter) over Parquet shards: run in the peers venv only.

    python datatrove_decont.py CORPUS_DIR EVAL.txt WORKDIR [--ngram 13]

The index is written the way NGramsDecontIndexer writes it (datatrove's text normalisation, its
spaCy word tokenizer, its 64-bit xxhash of " ".join(n-gram), one uint64 array a task) but from a
text file, one eval document a line: the indexer itself only reads lighteval tasks. Then one
LocalPipelineExecutor task runs ParquetReader → NGramsDecontFilter (exclusions to JSONL).
Writes WORKDIR/result.json: seconds, documents, removed (ids), index size, peak RSS.
"""
import argparse
import json
import os
import resource
import shutil
import time

import numpy as np
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.decont import NGramsDecontConfig, NGramsDecontFilter
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter
from datatrove.utils.hashing import create_hash_func
from datatrove.utils.text import ngrams, simplify_text
from datatrove.utils.word_tokenizers import load_word_tokenizer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("eval")
    parser.add_argument("workdir")
    parser.add_argument("--ngram", type=int, default=13)
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "index"))
    config = NGramsDecontConfig(n_grams=args.ngram)
    before = resource.getrusage(resource.RUSAGE_SELF)  # imports are not the work's: index + filter are
    start = time.perf_counter()
    tokenizer, hash_func = load_word_tokenizer("en"), create_hash_func(config.hash_config)
    hashes = set()
    with open(args.eval, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                tokens = tokenizer.word_tokenize(simplify_text(line, config.norm_config))
                hashes.update(map(hash_func, map(" ".join, ngrams(tokens, args.ngram))))
    np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(os.path.join(work, "index", "held.index.hashes"))
    index_seconds = time.perf_counter() - start
    start = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[ParquetReader(args.corpus, glob_pattern="*.parquet", text_key="text", id_key="url"),
                  NGramsDecontFilter(os.path.join(work, "index"), config=config,
                                     exclusion_writer=JsonlWriter(os.path.join(work, "removed"), compression=None)),
                  JsonlWriter(os.path.join(work, "kept"), compression=None)],
        tasks=1, workers=1, logging_dir=os.path.join(work, "logs"),
    ).run()
    seconds = time.perf_counter() - start
    removed, kept = [], 0
    for folder in ("removed", "kept"):
        for name in os.listdir(os.path.join(work, folder)) if os.path.isdir(os.path.join(work, folder)) else []:
            with open(os.path.join(work, folder, name)) as f:
                for line in f:
                    if folder == "removed":
                        removed.append(json.loads(line)["id"])
                    else:
                        kept += 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump({"index_seconds": index_seconds, "seconds": seconds, "documents": kept + len(removed),
                   "removed": removed, "index_ngrams": len(hashes),
                   "cpu_seconds": usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
                   "max_rss_mb": usage.ru_maxrss / 1024}, f)


if __name__ == "__main__":
    main()
