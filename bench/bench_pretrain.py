"""Pretraining throughput: cleancrawl's loop against a plain nanoGPT-style loop, same model.

Both train `pretrain.model.GPT` with AdamW, gradient clipping, and (on GPU) bf16 autocast and
optionally torch.compile. The reference is the minimal loop of nanoGPT's train.py: random
windows of one memory-mapped token array, no evaluation, no checkpoints, no bookkeeping.
cleancrawl's loop adds everything the issue asks for (document-level subsets and epochs, rank
slices, metrics, checkpoints), and the ratio says what that costs.

    .venv/bin/python bench/bench_pretrain.py                      # CPU: gpt2-tiny
    .venv/bin/python bench/bench_pretrain.py --model gpt2-124m --compile --batch-size 64 \
        --micro-batch 16                                          # one GPU: GPT-2 124M, seq 1024
    .venv/bin/python bench/bench_pretrain.py --model t5-tiny      # span corruption, encoder-decoder

A t5-* model is benchmarked with T5's span corruption (`--objective span-corruption`): the
reference loop then cuts random windows of the raw tokens one sequence reads, masks and corrupts
them with the same functions, and trains the same encoder-decoder. Tokens/s counts raw tokens
(70 per t5-tiny sequence for 64 encoder inputs), as the training loop's budget does, and FLOPs per
token are the encoder's on the inputs and the decoder's on the targets over those raw tokens.

Tokens are real text (tests/data/text, a byte per token) written as token shards; for GPT-2
sizes the shards declare GPT-2's 50,257-token vocabulary, for t5-small and t5-base T5's 32,000,
so that the model has the paper's shape.
MFU = FLOPs per token (6·N + attention, `GPT.flops_per_token`) × tokens/s / peak, the peak
from the GPU table in `pretrain.train`; on a CPU, against a measured fp32 matmul rate instead.
Each loop runs `--repeats` times, alternating; the best run of each is reported (other work on
a shared machine only ever slows a run down). Results are printed and saved to
bench/out/pretrain-<model>.json.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import nullcontext

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from cleancrawl.pretrain.config import PretrainConfig  # noqa: E402
from cleancrawl.pretrain.data import load_corpus  # noqa: E402
from cleancrawl.pretrain.distributed import peak_flops_for  # noqa: E402
from cleancrawl.pretrain.encoder_decoder import ENCODER_DECODER_SIZES  # noqa: E402
from cleancrawl.pretrain.objectives import make_objective  # noqa: E402
from cleancrawl.pretrain.span_corruption import corrupt, random_spans_noise_mask  # noqa: E402
from cleancrawl.pretrain.train import train  # noqa: E402
from cleancrawl.tokenizer.token_shards import write_manifest, write_token_shard  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = [os.path.join(ROOT, "tests", "data", "text", n) for n in ("wikitext-2-valid.txt", "botchan.txt")]
OUT_DIR = os.path.join(ROOT, "bench", "out")


def write_text_tokens(directory: str, vocab_size: int) -> str:
    """Real text as byte tokens (ids 0..255), eos = vocab_size - 1, in 4 KB documents."""
    docs = []
    for path in TEXT:
        with open(path, "rb") as f:
            data = f.read()
        docs += [list(data[i:i + 4096]) for i in range(0, len(data), 4096)]
    held_out, train_docs = docs[::20], [d for i, d in enumerate(docs) if i % 20]
    splits = {}
    for split, split_docs in (("train", train_docs), ("validation", held_out)):
        rel = f"{split}/part-00000-of-00001.tok"
        h = write_token_shard(os.path.join(directory, rel), split_docs, vocab_size=vocab_size,
                              eos_id=vocab_size - 1, tokenizer_hash=f"bytes-{vocab_size}")
        splits[split] = [{"path": rel, "num_tokens": h.num_tokens, "num_docs": h.num_docs}]
    write_manifest(directory, {"tokenizer": {"path": "", "kind": "bytes", "hash": f"bytes-{vocab_size}",
                                             "vocab_size": vocab_size, "eos_id": vocab_size - 1},
                               "splits": splits})
    return directory


def measured_cpu_matmul_flops(size: int = 1024, repeats: int = 20) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size ** 3 * repeats / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------
# The two loops


def objective_name(model: str) -> str:
    return "span-corruption" if model in ENCODER_DECODER_SIZES else "causal-lm"


def bench_objective(model: str, vocab_size: int, eos_id: int):
    """The training loop's objective for this model: its model config, batches and FLOP count."""
    config = PretrainConfig(tokens="", out="", model=model, objective=objective_name(model))
    return make_objective(config, vocab_size, eos_id)


def cleancrawl_loop(tokens: str, args, device: torch.device) -> float:
    """tokens/s of `pretrain.train.train`, the first logged interval (warm-up, compilation) left out."""
    out = tempfile.mkdtemp(prefix="bench-pretrain-")
    seq_len = bench_objective(args.model, 257, 256).tokens_per_sequence  # raw tokens a sequence reads
    log_every = max(1, args.steps // 5)
    config = PretrainConfig(
        tokens=tokens, out=out, model=args.model, objective=objective_name(args.model),
        budget_tokens=(args.steps + log_every) * args.batch_size * seq_len,
        batch_size=args.batch_size, micro_batch=args.micro_batch, validation_tokens=4 * seq_len,
        eval_every=10**9, log_every=log_every, checkpoint_every=10**9, device=device.type,
        compile=args.compile, warmup_steps=1)
    try:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            train(config)
        with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
            rates = [json.loads(line)["tokens_per_s"] for line in f]
        return float(np.median(rates[1:]))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def reference_loop(tokens: str, args, device: torch.device) -> float:
    """nanoGPT's loop: random windows of the training tokens, grad accumulation, AdamW, clip."""
    corpus = load_corpus(tokens)
    data = corpus.shards[corpus.split_shards["train"][0]]
    objective = bench_objective(args.model, corpus.vocab_size, corpus.eos_id)
    T, B = objective.tokens_per_sequence, args.micro_batch
    accum = args.batch_size // B
    torch.manual_seed(0)
    model = objective.build_model().to(device)
    optimizer = torch.optim.AdamW(model.optimizer_groups(0.1), lr=6e-4, betas=(0.9, 0.95),
                                  fused=device.type == "cuda")
    if args.compile:
        model = torch.compile(model)
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    rng = np.random.default_rng(0)

    def get_batch():
        ix = torch.randint(len(data) - T - 1, (B,))
        if objective.name == "span-corruption":  # T raw tokens, corrupted (`batch` does the same per index)
            pairs = [corrupt(data[i:i + T].astype(np.int64), random_spans_noise_mask(
                T, objective.noise_density, objective.mean_noise_span, rng), objective.sentinel_ids,
                eos_id=objective.eos_id) for i in ix.tolist()]
            x = torch.from_numpy(np.stack([p[0] for p in pairs]))
            y = torch.from_numpy(np.stack([p[1] for p in pairs]))
            batch = (x, torch.cat([torch.full((B, 1), objective.eos_id), y[:, :-1]], dim=1), y)
        else:
            x = torch.stack([torch.from_numpy(data[i:i + T].astype(np.int64)) for i in ix])
            y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + T].astype(np.int64)) for i in ix])
            batch = (x, y)
        if device.type == "cuda":
            return [t.pin_memory().to(device, non_blocking=True) for t in batch]
        return batch

    def step():
        batch = get_batch()
        for _ in range(accum):
            with ctx:
                loss = model(*batch) / accum
            batch = get_batch()  # fetch the next batch while the GPU works, as nanoGPT does
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    warmup = max(1, args.steps // 5)
    for _ in range(warmup):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()
    sync()
    return args.steps * args.batch_size * T / (time.perf_counter() - start)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="default: gpt2-124m on GPU, gpt2-tiny on CPU; "
                                                      "a t5-* model benchmarks span corruption")
    parser.add_argument("--steps", type=int, default=None, help="timed optimiser steps per loop")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per step")
    parser.add_argument("--micro-batch", type=int, default=None)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--repeats", type=int, default=2, help="alternate the loops this many times each")
    parser.add_argument("--tokens", default=None, help="a token directory to use instead of the byte text")
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    gpu = device.type == "cuda"
    args.model = args.model or ("gpt2-124m" if gpu else "gpt2-tiny")
    args.steps = args.steps or (20 if gpu else 40)
    args.batch_size = args.batch_size or (64 if gpu else 16)
    args.micro_batch = args.micro_batch or (16 if gpu else args.batch_size)

    # GPT-2 sizes get GPT-2's vocabulary, T5 sizes T5's (32,000 + the 100 sentinels above it).
    vocab = {"gpt2-124m": 50257, "gpt2-350m": 50257, "t5-small": 32000, "t5-base": 32000}.get(args.model, 257)
    tmp = tempfile.mkdtemp(prefix="bench-tokens-")
    try:
        tokens = args.tokens or write_text_tokens(tmp, vocab)
        corpus = load_corpus(tokens)
        objective = bench_objective(args.model, corpus.vocab_size, corpus.eos_id)
        with torch.device("meta"):
            model = objective.build_model()
        flops_per_token = objective.flops_per_token(model)
        ours, reference, matmul = [], [], []
        for _ in range(args.repeats):  # alternate, so that a busy machine slows both alike
            ours.append(cleancrawl_loop(tokens, args, device))
            reference.append(reference_loop(tokens, args, device))
            matmul.append(0.0 if gpu else measured_cpu_matmul_flops())
        if gpu:
            peak, peak_label = peak_flops_for(device), f"{torch.cuda.get_device_name(device)} bf16 peak"
        else:
            peak = max(matmul)
            peak_label = f"best measured fp32 1024² matmul on {torch.get_num_threads()} threads"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def row(name, rates):
        rate = float(max(rates))  # best of the repeats: other work on the machine only ever slows a run
        return {"loop": name, "tokens_per_s": rate, "tflops": flops_per_token * rate / 1e12,
                "mfu": flops_per_token * rate / peak if peak else None, "runs": rates}

    rows = [row("cleancrawl pretrain.train", ours), row("nanoGPT-style reference", reference)]
    span_corruption = objective.name == "span-corruption"
    result = {
        "device": torch.cuda.get_device_name(device) if gpu else f"cpu ({os.cpu_count()} cores)",
        "model": args.model, "objective": objective.name, "params": model.num_params(),
        "seq_len": model.config.seq_len, "tokens_per_sequence": objective.tokens_per_sequence,
        "vocab_size": model.config.vocab_size, "batch_size": args.batch_size, "micro_batch": args.micro_batch,
        "compile": args.compile, "bf16": gpu, "flops_per_token": flops_per_token,
        "peak_flops": peak, "peak": peak_label, "loops": rows,
        "ratio_ours_over_reference": rows[0]["tokens_per_s"] / rows[1]["tokens_per_s"],
    }
    if span_corruption:
        shape = (f"span corruption: {objective.tokens_per_sequence} raw tokens -> {model.config.seq_len} inputs, "
                 f"{model.config.target_len} targets")
    else:
        shape = f"seq {model.config.seq_len}"
    print(f"{args.model} ({model.num_params() / 1e6:.1f}M params, {shape}, "
          f"batch {args.batch_size}×{args.micro_batch}) on {result['device']}; "
          f"{'bf16 autocast' if gpu else 'fp32'}{', compiled' if args.compile else ''}")
    print(f"MFU against: {peak_label} = {peak / 1e12:.2f} TFLOP/s" if peak else "MFU: no peak known")
    print(f"{'loop':28} {'tokens/s':>12} {'TFLOP/s':>9} {'MFU':>7}")
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
        print(f"{r['loop']:28} {r['tokens_per_s']:>12,.0f} {r['tflops']:>9.3f} {mfu:>7}")
    print(f"ours / reference: {result['ratio_ours_over_reference']:.2f}")
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, f"pretrain-{args.model}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
