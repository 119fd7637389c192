"""The pretraining loop: one process, or one per device under `torchrun` (DDP, or FSDP).

    cleancrawl pretrain --tokens tokens/ --model gpt2-tiny --budget-tokens 2e6 --out runs/base
    torchrun --nproc-per-node 8 -m cleancrawl.pretrain pretrain --tokens tokens/ --model gpt2-124m ... --out runs/x
    cleancrawl pretrain --tokens tokens/ --objective span-corruption --model t5-tiny ... --out runs/t5

The objective (`pretrain.objectives`: a GPT on next tokens, or T5's span corruption on an
encoder-decoder) decides the model and what a batch is; the loop only calls `model(*batch)`.

Read top to bottom: the config, distributed set-up, the learning-rate schedule, checkpoints,
evaluation, and `train`, whose body is set-up, data, model, then the loop (step, log, evaluate,
checkpoint). A run writes into its `out` directory:

    config.json      the run's config, model size, data plan and world
    metrics.jsonl    one JSON object per logged step (see `train`)
    checkpoint.pt    the latest checkpoint, replaced atomically
    summary.json     written last: final train and validation loss, throughput

and nothing else: the folder's rules (one run at a time under its lock, no foreign files, a full
disk in one line) are `pretrain.folders`'.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import signal
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.distributed as dist

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import PretrainConfig  # noqa: F401 (its options, torch-free)
from cleancrawl.pretrain.data import DataPlan, TokenStream, batch_indices, load_corpus, plan_data, stage_tokens
from cleancrawl.pretrain.encoder_decoder import DecoderBlock
from cleancrawl.pretrain.folders import (  # noqa: F401 (the run's file names, re-exported)
    CHECKPOINT, CONFIG, METRICS, SUMMARY, prepare_run_folder, read_metrics, write_errors_are_one_line, write_file,
)
from cleancrawl.pretrain.model import Block
from cleancrawl.pretrain.objectives import check_objective, make_objective


# ---------------------------------------------------------------------------------------------
# Devices and processes

# Dense bf16 tensor-core peak per device, FLOP/s, from the vendors' data sheets (no sparsity).
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "GH200": 989e12,
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H100": 989e12,       # SXM; matched after the PCIe and NVL names
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "A10": 125e12,
    "RTX 4090": 165e12,
    "RTX 3090": 71e12,
}


def peak_flops_for(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, flops in PEAK_BF16_FLOPS.items():
        if key in name:
            return flops
    return None


@dataclass
class World:
    rank: int
    local_rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_world(device: str) -> World:
    """One process per device; `torchrun` says which through RANK, LOCAL_RANK and WORLD_SIZE."""
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    size = int(os.environ.get("WORLD_SIZE", 1))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
        torch.backends.cuda.matmul.allow_tf32 = True  # whatever autocast leaves in fp32
        torch.backends.cudnn.allow_tf32 = True
    else:
        dev = torch.device("cpu")
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=dev if use_cuda else None)
    return World(rank, local_rank, size, dev)


def all_reduce_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.size > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value = value / world.size
    return value


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def on_main_rank(world: World, action):
    """`action()` on the main rank only (taking a folder); its UserError is raised on every rank,
    so that no rank goes on, or waits, when the main one was refused. Returns what it returned."""
    result, message = None, None
    if world.is_main:
        try:
            result = action()
        except UserError as err:
            if world.size == 1:
                raise
            message = str(err)
    if world.size > 1:
        box = [message]
        dist.broadcast_object_list(box, src=0)
        if box[0] is not None:
            raise UserError(box[0])
    return result


# ---------------------------------------------------------------------------------------------
# Learning-rate schedule


@dataclass(frozen=True)
class CosineSchedule:
    """Linear warm-up to `lr`, then cosine decay to `lr · min_ratio` at `total_steps`.

    A pure function of the step: the schedule's state in a checkpoint is the step itself.
    """
    lr: float
    warmup_steps: int
    total_steps: int
    min_ratio: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return self.lr * (self.min_ratio + (1 - self.min_ratio) * cosine)


# ---------------------------------------------------------------------------------------------
# Checkpoints


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def model_and_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, sharded: bool):
    """Full (unsharded) state dicts, on CPU, whatever the parallelism."""
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
        return get_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return model.state_dict(), optimizer.state_dict()


def load_model_and_optimizer_state(model, optimizer, model_state, optim_state, sharded: bool) -> None:
    if sharded:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict
        set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state,
                       options=StateDictOptions(full_state_dict=True))
        return
    model.load_state_dict(model_state)
    optimizer.load_state_dict(optim_state)


# A checkpoint is torch.save's bytes, then this trailer: magic, the length of those bytes, and
# their sha256, so that a truncated or damaged file is refused instead of resumed. (torch.load
# alone still reads the file: its zip directory is found from the end, past the trailer.)
CHECKPOINT_MAGIC = b"cleancrawl-ckpt1"
_CHECKPOINT_TRAILER = struct.Struct("<16sQ32s")
_CHECKPOINT_KEYS = ("step", "config", "model", "optimizer", "rng", "data_fingerprint")


class _HashingWriter:
    """A write-only file for torch.save that hashes what passes through (no second read)."""

    def __init__(self, f):
        self.f, self.sha256, self.size = f, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()


class _Prefix(io.RawIOBase):
    """The first `length` bytes of a file, as a seekable file of their own (the trailer hidden)."""

    def __init__(self, f, length: int):
        self.f, self.length, self.position = f, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.length - self.position))
        self.f.seek(self.position)
        got = self.f.readinto(memoryview(buffer)[:n]) if n else 0
        self.position += got
        return got


def save_checkpoint(path: str, state: dict) -> None:
    """Write to a temporary file beside `path`, then rename: a killed write leaves the old one."""
    with storage.atomic_writer(path) as f:
        writer = _HashingWriter(f)
        torch.save(state, writer)
        f.write(_CHECKPOINT_TRAILER.pack(CHECKPOINT_MAGIC, writer.size, writer.sha256.digest()))


def load_checkpoint(path: str) -> dict:
    """A checkpoint `save_checkpoint` wrote, its checksum verified; UserError (one line) otherwise."""
    advice = "it cannot be resumed: restore a good copy, or move it away to start the run over"
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size >= _CHECKPOINT_TRAILER.size:
            f.seek(size - _CHECKPOINT_TRAILER.size)
            magic, length, digest = _CHECKPOINT_TRAILER.unpack(f.read(_CHECKPOINT_TRAILER.size))
        if size < _CHECKPOINT_TRAILER.size or magic != CHECKPOINT_MAGIC or length != size - _CHECKPOINT_TRAILER.size:
            raise UserError(f"{path}: truncated or not a cleancrawl checkpoint ({size:,} bytes, no checksum "
                            f"trailer at the end); {advice}")
        sha256, remaining = hashlib.sha256(), length
        f.seek(0)
        while remaining:
            block = f.read(min(remaining, 1 << 24))
            sha256.update(block)
            remaining -= len(block)
        if sha256.digest() != digest:
            raise UserError(f"{path}: corrupt checkpoint (the sha256 of its {length:,} bytes is not the one "
                            f"saved with it); {advice}")
        try:
            state = torch.load(_Prefix(f, length), map_location="cpu", weights_only=False)
        except Exception as err:
            raise UserError(f"{path}: unreadable checkpoint ({type(err).__name__}); {advice}") from None
    if not isinstance(state, dict) or any(key not in state for key in _CHECKPOINT_KEYS):
        raise UserError(f"{path}: not a pretraining checkpoint (it lacks step, model or optimizer state); {advice}")
    return state


def truncate_metrics(path: str, last_step: int) -> None:
    """Drop records past the checkpoint (and a last line cut short), so a resumed log reads as one
    uninterrupted run. Replaced atomically: a kill or a full disk leaves the old file."""
    if not os.path.exists(path):
        return
    kept = [line for line in read_metrics(path) if json.loads(line)["step"] <= last_step]
    write_file(path, "".join(kept))


# ---------------------------------------------------------------------------------------------
# Evaluation


@torch.no_grad()
def evaluate(model, stream: TokenStream, num_sequences: int, make_batch, micro_batch: int,
             world: World, autocast) -> float:
    """Mean loss over the stream's first `num_sequences` sequences, split over the ranks.

    `make_batch(stream, indices)` is the objective's: for span corruption the masks depend only on
    the sequence index, so every evaluation scores the same corrupted sequences.
    Every rank runs the same number of forward passes (FSDP needs all of them in each).
    """
    model.eval()
    mine = np.arange(world.rank, num_sequences, world.size)
    total = torch.zeros(2, dtype=torch.float64, device=world.device)  # loss sum, sequences
    for chunk in (mine[i:i + micro_batch] for i in range(0, len(mine), micro_batch)):  # training's shape
        batch = make_batch(stream, chunk)
        with autocast:
            loss = model(*(t.to(world.device) for t in batch))
        total += torch.stack([loss.double() * len(chunk), torch.tensor(float(len(chunk)), device=world.device,
                                                                          dtype=torch.float64)])
    if world.size > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    model.train()
    return float(total[0] / total[1])


# ---------------------------------------------------------------------------------------------
# Batches


class BatchLoader:
    """Micro-batch (step, micro) of the training stream; with `prefetch`, the next one is made in a
    background thread while this one trains. Span corruption builds its batches in numpy (~2 ms
    for 16 t5-small sequences on one core, a fifth of a step on a fast GPU); made ahead, that
    time is hidden. Batches are a pure function of (step, micro), so prefetching changes nothing
    they hold, nor any random state (masks have their own generators)."""

    def __init__(self, load, grad_accum: int, total_steps: int, prefetch: bool):
        self._load, self._grad_accum, self._total_steps = load, grad_accum, total_steps
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") if prefetch else None
        self._pending = None  # ((step, micro), future)

    def get(self, step: int, micro: int) -> list[torch.Tensor]:
        if self._pending is not None and self._pending[0] == (step, micro):
            batch = self._pending[1].result()
        else:
            batch = self._load(step, micro)
        if self._pool is not None:
            following = (step, micro + 1) if micro + 1 < self._grad_accum else (step + 1, 0)
            self._pending = ((following, self._pool.submit(self._load, *following))
                             if following[0] < self._total_steps else None)
        return batch

    def __enter__(self) -> "BatchLoader":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# The run


class StopRequested:
    """SIGTERM/SIGUSR1 (Slurm pre-emption, `scancel`): checkpoint after this step, then exit.

    A context manager: the previous handlers come back when the run ends.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __init__(self):
        self.flag = False
        self._previous: dict = {}

    def __enter__(self) -> "StopRequested":
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: no signal handling, nothing to restore
                pass
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        self.flag = True

    def agreed(self, world: World) -> bool:
        """True on every rank if any rank was signalled (so that all checkpoint together)."""
        if world.size == 1:
            return self.flag
        flag = torch.tensor([float(self.flag)], device=world.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def log(world: World, message: str) -> None:
    if world.is_main:
        print(message, flush=True)


def train(config: PretrainConfig) -> dict:
    """Train one model as configured; returns the summary (also in out/summary.json).

    Each metrics record has: step (optimiser steps done), tokens_seen (raw stream tokens, see
    PretrainConfig), epochs (tokens seen over unique tokens), lr, train_loss (this step's global
    batch), tokens_per_s and mfu (since the previous record, evaluation excluded; mfu is null
    without a known peak), and val_loss on the steps evaluated; with --eval, also eval_bpb
    ({NAME: bits per byte}, `pretrain.bpb`) and eval_bpb_mean (their macro average) there.
    """
    check_objective(config)  # before anything is written
    check_out_not_tokens(config.out, config.tokens)
    world = setup_world(config.device)
    # The folder's lock, held by the main rank until the run ends; refused (one line, every rank)
    # for a folder with files not a run's, another live run's, or a run already there without --resume.
    lock = on_main_rank(world, lambda: prepare_run_folder(config.out, config.resume))
    try:
        with write_errors_are_one_line(config.out):  # a full disk, a folder that cannot be written
            return _train(config, world, lock)
    finally:
        if lock is not None:
            lock.release()


def _check_lock(lock, out: str) -> None:
    """Before a checkpoint or the summary: this run still holds its folder (the lock was not
    deleted and taken by another run meanwhile), so it never overwrites another run's files."""
    if lock is not None and not lock.owned():
        raise UserError(f"{out}: another run took this folder while this one ran (its lock is no longer this "
                        "run's); stopped without writing more: check the folder, or start over in another --out")


def _train(config: PretrainConfig, world: World, lock) -> dict:
    out = config.out

    # ---- resume or start --------------------------------------------------------------------
    checkpoint_path = os.path.join(out, CHECKPOINT)
    summary_path = os.path.join(out, SUMMARY)
    if config.resume and os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            log(world, f"{out}: already finished")
            return json.load(f)
    checkpoint = None
    if config.resume and os.path.exists(checkpoint_path):
        checkpoint = load_checkpoint(checkpoint_path)
        check_same_run(checkpoint["config"], config)

    # ---- data -------------------------------------------------------------------------------
    if storage.is_remote(config.tokens):
        scheme, location = config.tokens.split("://", 1)
        cache = os.path.join(config.tokens_cache, f"{scheme}_{location.strip('/').replace('/', '_')}")
        if world.local_rank == 0:
            with write_errors_are_one_line(config.tokens_cache, "--tokens-cache", resumable=False):
                stage_tokens(config.tokens, cache)
        barrier(world)
        tokens_dir = cache
    else:
        tokens_dir = config.tokens
    corpus = load_corpus(tokens_dir)
    objective = make_objective(config, corpus.vocab_size, corpus.eos_id)
    make_batch = objective.batch              # (stream, indices) -> the tensors of model(*batch)
    seq_tokens = objective.tokens_per_sequence  # raw stream tokens a sequence reads
    plan: DataPlan = plan_data(corpus, unique_tokens=config.unique_tokens,
                               validation_tokens=config.validation_tokens, seed=config.seed)
    train_stream = TokenStream(corpus, plan.train, seed=config.seed, shuffle=True)
    val_stream = TokenStream(corpus, plan.validation, seed=config.seed, shuffle=False)
    # The same number of sequences, in a fixed order, from the training subset: the train side of
    # the final train/validation gap, measured exactly as validation is.
    train_eval_stream = TokenStream(corpus, plan.train, seed=config.seed, shuffle=False)
    eval_sequences = min(config.validation_tokens // seq_tokens, objective.num_sequences(val_stream))
    eval_sequences -= eval_sequences % world.size
    if eval_sequences < world.size:
        raise UserError(f"validation data of {plan.validation.num_tokens} tokens holds no whole sequence "
                        f"of {seq_tokens} per rank; raise --validation-tokens")

    eval_sets = []
    if config.evals:
        from cleancrawl.pretrain.bpb import RunTokenizer, load_eval_sets
        from cleancrawl.tokenizer.token_shards import read_manifest

        if objective.name != "causal-lm":
            raise UserError("--eval (bits per byte) scores a causal-lm; span-corruption models have no "
                            "next-token likelihood of a text")
        eval_sets = load_eval_sets(config.evals, RunTokenizer(tokens_dir, read_manifest(tokens_dir)),
                                   corpus.vocab_size)

    micro_batch = config.micro_batch or config.batch_size // world.size
    if config.batch_size % (micro_batch * world.size):
        raise UserError(f"--batch-size {config.batch_size} is not a multiple of micro-batch {micro_batch} "
                        f"× {world.size} processes")
    grad_accum = config.batch_size // (micro_batch * world.size)
    tokens_per_step = config.batch_size * seq_tokens
    total_steps = config.budget_tokens // tokens_per_step
    if total_steps < 1:
        raise UserError(f"--budget-tokens {config.budget_tokens} is less than one step of {tokens_per_step} tokens")
    warmup = config.warmup_steps if config.warmup_steps is not None else max(1, total_steps // 20)
    schedule = CosineSchedule(config.lr, warmup, total_steps, config.min_lr_ratio)

    # ---- model and optimiser ----------------------------------------------------------------
    torch.manual_seed(config.seed)
    model = objective.build_model().to(world.device)
    raw_model = model
    flops_per_token = objective.flops_per_token(model)
    num_params = model.num_params()
    use_bf16 = config.dtype == "bfloat16" or (config.dtype == "auto" and world.device.type == "cuda")
    if config.fsdp and world.size > 1:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
        # Gather parameters in bf16 when computing in bf16 (half the traffic); reduce gradients in fp32.
        precision = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if use_bf16 else None,
                                         reduce_dtype=torch.float32)
        for block in [m for m in model.modules() if isinstance(m, (Block, DecoderBlock))]:
            fully_shard(block, mp_policy=precision)
        fully_shard(model, mp_policy=precision)
    use_fused = world.device.type == "cuda"
    optimizer = torch.optim.AdamW(model.optimizer_groups(config.weight_decay), lr=config.lr,
                                  betas=tuple(config.betas), fused=use_fused)
    if config.compile:
        model = torch.compile(model)
    if world.size > 1 and not config.fsdp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(model, device_ids=[world.local_rank] if world.device.type == "cuda" else None)
    sharded = config.fsdp and world.size > 1
    autocast = torch.autocast(world.device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()
    peak = config.peak_flops or peak_flops_for(world.device)

    start_step = 0
    if checkpoint is not None:
        if checkpoint["data_fingerprint"] != plan.train.fingerprint():
            raise UserError(f"{checkpoint_path}: was trained on a different data subset than this corpus gives")
        load_model_and_optimizer_state(raw_model, optimizer, checkpoint["model"], checkpoint["optimizer"], sharded)
        start_step = checkpoint["step"]
        rng_states = checkpoint["rng"]
        set_rng_state(rng_states[world.rank % len(rng_states)])
        log(world, f"resumed from {checkpoint_path} at step {start_step}")
        del checkpoint
    if world.is_main:  # records past the checkpoint (or of a run that died before its first) go
        truncate_metrics(os.path.join(out, METRICS), start_step)

    run_info = {
        "config": config.to_dict(),
        "objective": objective.describe(),
        "model_config": objective.model_config.to_dict(),
        "num_params": num_params,
        "flops_per_token": flops_per_token,
        "world_size": world.size,
        "device": torch.cuda.get_device_name(world.device) if world.device.type == "cuda" else "cpu",
        "autocast_bf16": use_bf16,
        "micro_batch": micro_batch,
        "grad_accum": grad_accum,
        "total_steps": total_steps,
        "warmup_steps": warmup,
        "tokens_per_step": tokens_per_step,
        "tokens_per_sequence": seq_tokens,
        "unique_tokens": plan.unique_tokens,
        "available_train_tokens": plan.available_train_tokens,
        "validation_source": plan.validation_source,
        "eval_sequences": eval_sequences,
        "peak_flops_per_device": peak,
    }
    if world.is_main:
        write_file(os.path.join(out, CONFIG), json.dumps(run_info, indent=2))
    log(world, f"{config.model} ({objective.name}): {num_params / 1e6:.2f}M parameters, {total_steps} steps of "
               f"{tokens_per_step} tokens on {world.size} × {run_info['device']}"
               f"{' (bf16 autocast)' if use_bf16 else ''}")
    log(world, f"training on {plan.unique_tokens} unique tokens of {plan.available_train_tokens} available: "
               f"{total_steps * tokens_per_step / plan.unique_tokens:.2f} epochs")
    log(world, f"validation: {plan.validation_source}")

    def save(step: int) -> None:
        model_state, optim_state = model_and_optimizer_state(raw_model, optimizer, sharded)
        rngs = [None] * world.size
        if world.size > 1:
            dist.all_gather_object(rngs, rng_state())
        else:
            rngs = [rng_state()]
        if world.is_main:
            _check_lock(lock, out)
            save_checkpoint(checkpoint_path, {
                "step": step, "config": config.to_dict(), "model": model_state, "optimizer": optim_state,
                "schedule": asdict(schedule), "rng": rngs,
                "data_fingerprint": plan.train.fingerprint(),
                "next_sequence": step * config.batch_size,  # the data position: a function of the step
            })
        barrier(world)

    # ---- the loop ---------------------------------------------------------------------------
    pin = world.device.type == "cuda"  # pinned host memory lets the copy overlap the GPU's work

    def load_batch(at_step: int, micro: int) -> list[torch.Tensor]:
        idx = batch_indices(at_step, micro, world.rank, world_size=world.size, micro_batch=micro_batch,
                            batch_size=config.batch_size)
        batch = make_batch(train_stream, idx)
        return [t.pin_memory() for t in batch] if pin else list(batch)

    prefetch = config.prefetch if config.prefetch is not None else world.device.type == "cuda"
    batches = BatchLoader(load_batch, grad_accum, total_steps, prefetch)
    model.train()
    interval_start, interval_tokens = time.perf_counter(), 0
    step = start_step
    last_record: dict = {}
    metrics = open(os.path.join(out, METRICS), "a", encoding="utf-8") if world.is_main else nullcontext()
    with StopRequested() as stop, batches, metrics as metrics_file:
        while step < total_steps:
            lr = schedule(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = torch.zeros((), device=world.device)
            for micro in range(grad_accum):
                batch = [t.to(world.device, non_blocking=True) for t in batches.get(step, micro)]
                with gradient_sync(raw_model if sharded else model, enabled=micro == grad_accum - 1,
                                   sharded=sharded, world=world):
                    with autocast:
                        loss = model(*batch) / grad_accum
                    loss.backward()
                step_loss += loss.detach()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            interval_tokens += tokens_per_step

            last = step == total_steps
            evaluate_now = last or step % config.eval_every == 0
            if last or evaluate_now or step % config.log_every == 0:
                train_loss = float(all_reduce_mean(step_loss, world))  # waits for the GPU: only here
                elapsed = time.perf_counter() - interval_start
                tokens_per_s = interval_tokens / elapsed
                record = {
                    "step": step, "tokens_seen": step * tokens_per_step,
                    "epochs": step * tokens_per_step / plan.unique_tokens, "lr": lr,
                    "train_loss": train_loss, "tokens_per_s": tokens_per_s,
                    "mfu": flops_per_token * tokens_per_s / (peak * world.size) if peak else None,
                }
                if evaluate_now:
                    record["val_loss"] = evaluate(model, val_stream, eval_sequences, make_batch, micro_batch,
                                                  world, autocast)
                    record.update(score_evals(raw_model, eval_sets, corpus.eos_id, world))
                if world.is_main:
                    metrics_file.write(json.dumps(record) + "\n")
                    metrics_file.flush()
                log(world, format_record(record, total_steps))
                last_record = record
                interval_start, interval_tokens = time.perf_counter(), 0
            if step % config.checkpoint_every == 0 or last:
                save(step)
            if step % config.log_every == 0 and not last and stop.agreed(world):  # a sync: not every step
                save(step)
                log(world, f"stopping at step {step} on a signal; continue with --resume")
                break
            if config.stop_after_steps is not None and step >= config.stop_after_steps and not last:
                log(world, f"stopping at step {step} (--stop-after-steps)")
                break
    if step < total_steps:
        return {"finished": False, "step": step}

    # ---- the end: train/validation gap ----------------------------------------------------
    train_eval_sequences = min(eval_sequences, objective.num_sequences(train_eval_stream))
    train_eval_sequences = max(world.size, train_eval_sequences - train_eval_sequences % world.size)
    final_train = evaluate(model, train_eval_stream, train_eval_sequences, make_batch, micro_batch, world, autocast)
    if "val_loss" not in last_record:  # resumed from the final checkpoint: nothing logged in this process
        last_record = {"val_loss": evaluate(model, val_stream, eval_sequences, make_batch, micro_batch, world,
                                            autocast),
                       "train_loss": None, **score_evals(raw_model, eval_sets, corpus.eos_id, world)}
    summary = {
        "finished": True,
        "model": config.model,
        "objective": objective.name,
        "num_params": num_params,
        "steps": step,
        "tokens_seen": step * tokens_per_step,
        "unique_tokens": plan.unique_tokens,
        "repeats": step * tokens_per_step / plan.unique_tokens,
        "final_train_loss": final_train,
        "final_val_loss": last_record["val_loss"],
        "gap": last_record["val_loss"] - final_train,
        "last_batch_train_loss": last_record.get("train_loss"),
        "validation_source": plan.validation_source,
        "tokens_per_s": median_throughput(os.path.join(out, METRICS)),
        "mfu": None,
    }
    if eval_sets:
        summary["eval_bpb"] = last_record["eval_bpb"]
        summary["eval_bpb_mean"] = last_record["eval_bpb_mean"]
    if peak and summary["tokens_per_s"]:
        summary["mfu"] = flops_per_token * summary["tokens_per_s"] / (peak * world.size)
    if world.is_main:
        _check_lock(lock, out)
        write_file(summary_path, json.dumps(summary, indent=2))
    log(world, f"done: train {final_train:.4f}, validation {summary['final_val_loss']:.4f} "
               f"after {summary['repeats']:.2f} epochs over {plan.unique_tokens} tokens")
    barrier(world)
    return summary


def score_evals(model, eval_sets, eos_id: int, world: World) -> dict:
    """Bits per byte on every --eval text, with the unwrapped model (no DDP, no torch.compile: eval
    shapes vary); every rank scores all of them, as FSDP needs each forward on every rank."""
    if not eval_sets:
        return {}
    from cleancrawl.pretrain.bpb import score_all

    return score_all(model, eval_sets, eos_id, model.config.seq_len, world.device)


def gradient_sync(model, *, enabled: bool, sharded: bool, world: World):
    """Skip the gradient all-reduce on all but the last micro-batch of a step."""
    if world.size == 1 or enabled:
        if sharded:
            model.set_requires_gradient_sync(True)
        return nullcontext()
    if sharded:
        model.set_requires_gradient_sync(False)
        return nullcontext()
    return model.no_sync()


def check_out_not_tokens(out: str, tokens: str) -> None:
    """A run directory that is, holds or lies inside the token directory it reads is refused."""
    if storage.is_remote(tokens) or storage.is_remote(out):
        return
    o, t = os.path.realpath(out), os.path.realpath(tokens)
    if o == t or o.startswith(t.rstrip(os.sep) + os.sep) or t.startswith(o.rstrip(os.sep) + os.sep):
        raise UserError(f"--out {out} overlaps the input --tokens {tokens}; choose another --out")


def check_same_run(saved: dict, config: PretrainConfig) -> None:
    current = config.to_dict()
    # A field the checkpoint lacks (written before the field existed) had its default.
    defaults = {f.name: f.default for f in fields(PretrainConfig)}
    ignored = {"noise_density", "mean_noise_span"} if config.objective == "causal-lm" else set()  # unused
    changed = [k for k in PretrainConfig.RUN_DEFINING
               if k not in ignored and _normal(saved.get(k, defaults.get(k))) != _normal(current.get(k))]
    if changed:
        raise UserError(f"{config.out}: the checkpoint was written with different "
                        f"{', '.join(changed)}; resume with the same options or use another --out")


def _normal(value):
    return list(value) if isinstance(value, tuple) else value


def median_throughput(metrics_path: str) -> float | None:
    """Median tokens/s over the run's records, the first (compilation, warm-up) left out."""
    if not os.path.exists(metrics_path):
        return None
    with open(metrics_path, encoding="utf-8") as f:
        rates = [json.loads(line)["tokens_per_s"] for line in f if line.strip()]
    rates = rates[1:] or rates
    return float(np.median(rates)) if rates else None


def format_record(record: dict, total_steps: int) -> str:
    parts = [f"step {record['step']}/{total_steps}", f"loss {record['train_loss']:.4f}"]
    if "val_loss" in record:
        parts.append(f"val {record['val_loss']:.4f}")
    if "eval_bpb" in record:
        parts.append(" ".join(f"{name} {bpb:.3f} bpb" for name, bpb in record["eval_bpb"].items()))
    parts += [f"epochs {record['epochs']:.2f}", f"lr {record['lr']:.2e}", f"{record['tokens_per_s']:,.0f} tok/s"]
    if record["mfu"] is not None:
        parts.append(f"MFU {100 * record['mfu']:.1f}%")
    return " | ".join(parts)
