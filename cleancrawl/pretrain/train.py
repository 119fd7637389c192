"""The pretraining loop: one process, or one per device under `torchrun` (DDP, or FSDP).

    cleancrawl pretrain --tokens tokens/ --model gpt2-tiny --budget-tokens 2e6 --out runs/base
    torchrun --nproc-per-node 8 -m cleancrawl.pretrain pretrain --tokens tokens/ --model gpt2-124m ... --out runs/x
    cleancrawl pretrain --tokens tokens/ --objective span-corruption --model t5-tiny ... --out runs/t5
    cleancrawl pretrain --tokens tokens/ --objective bert-style --masking static ... --out runs/static

The objective (`pretrain.objectives`: a GPT on next tokens or after a prefix, BERT's masked LM, or
T5's span corruption or BERT-style denoising on an encoder-decoder) decides the model and what a
batch is; the loop only calls `model(*batch)`.

Read top to bottom: `train`, whose body is the run's phases in order (set-up, data, model, the
loop, the summary; the loop steps, logs, evaluates and checkpoints), then each phase's functions
in that order. Elsewhere: the steps and the learning-rate schedule (`pretrain.schedule`), the
checkpoint file and resuming (`pretrain.checkpoint`), world set-up, sharding and signals
(`pretrain.distributed`), batches and remote staging (`pretrain.data`), scoring
(`pretrain.evaluation`), config.json, the log lines and summary.json (`pretrain.run_record`). A run writes into `out`:

    config.json      the run's config, model size, data plan and world
    metrics.jsonl    one JSON object per logged step (see `train`)
    checkpoint.pt    the latest checkpoint, replaced atomically
    summary.json     written last: final train and validation loss, throughput

and nothing else: the folder's rules (one run at a time under its lock, no foreign files, a full
disk in one line) are `pretrain.folders`'.
"""
from __future__ import annotations

import json
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from functools import partial

import torch

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.bpb import run_eval_sets
from cleancrawl.pretrain.checkpoint import (
    checkpoint_to_resume,
    model_and_optimizer_state,
    restore,
    rng_state,
    save_checkpoint,
)
from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.data import (
    BatchLoader,
    DataPlan,
    TokenCorpus,
    TokenStream,
    load_corpus,
    local_token_dir,
    plan_data,
    training_batch,
)
from cleancrawl.pretrain.distributed import (
    StopRequested,
    World,
    all_reduce_mean,
    barrier,
    gather_objects,
    gradient_sync,
    log,
    on_main_rank,
    peak_flops_for,
    replicate,
    setup_world,
    shard,
)
from cleancrawl.pretrain.encoder_decoder import DecoderBlock
from cleancrawl.pretrain.evaluation import evaluate_run
from cleancrawl.pretrain.folders import (
    CHECKPOINT,
    METRICS,
    SUMMARY,
    MetricsLog,
    check_lock,
    check_out_not_tokens,
    prepare_run_folder,
    truncate_metrics,
    write_errors_are_one_line,
)
from cleancrawl.pretrain.model import Block
from cleancrawl.pretrain.objectives import Objective, check_objective, make_objective
from cleancrawl.pretrain.run_record import format_record, summarize, write_run_info
from cleancrawl.pretrain.schedule import Steps, plan_steps

# ---------------------------------------------------------------------------------------------
# The run


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
    lock = on_main_rank(world, prepare_run_folder, config.out, config.resume)
    try:
        with write_errors_are_one_line(config.out):  # a full disk, a folder that cannot be written
            return _train(config, world, lock)
    finally:
        if lock is not None:
            lock.release()


def _train(config: PretrainConfig, world: World, lock) -> dict:
    # ---- set-up: a finished run, or a checkpoint to resume ----------------------------------
    if config.resume and os.path.exists(os.path.join(config.out, SUMMARY)):
        log(world, f"{config.out}: already finished")
        with open(os.path.join(config.out, SUMMARY), encoding="utf-8") as f:
            return json.load(f)
    checkpoint = checkpoint_to_resume(config)  # checked: whole, and written with these options

    # ---- data: the token stream, the plan, the steps -----------------------------------------
    data = load_data(config, world)
    steps = plan_steps(config, world.size, data.objective.tokens_per_sequence)

    # ---- model and optimiser, as the checkpoint left them -----------------------------------
    run = build_model(config, world, data)
    start_step = 0
    if checkpoint is not None:
        start_step = restore(checkpoint, config.out, run.raw_model, run.optimizer, run.sharded,
                             data.plan.train.fingerprint(), world.rank)
        log(world, f"resumed from {os.path.join(config.out, CHECKPOINT)} at step {start_step}")
        del checkpoint
    if world.is_main:  # records past the checkpoint (or of a run that died before its first) go
        truncate_metrics(os.path.join(config.out, METRICS), start_step)
    write_run_info(config, world, data, steps, run)

    # ---- the loop ---------------------------------------------------------------------------
    batches = batch_loader(config, world, data, steps)
    run.model.train()
    step, last_record = start_step, {}
    interval_start, interval_tokens = time.perf_counter(), 0
    with StopRequested() as stop, batches, MetricsLog(os.path.join(config.out, METRICS), world.is_main) as metrics:
        while step < steps.total_steps:
            lr = steps.schedule(step)
            for group in run.optimizer.param_groups:
                group["lr"] = lr
            step_loss = torch.zeros((), device=world.device)
            for micro in range(steps.grad_accum):
                batch = [t.to(world.device, non_blocking=True) for t in batches.get(step, micro)]
                with gradient_sync(run.raw_model if run.sharded else run.model, world=world, sharded=run.sharded,
                                   enabled=micro == steps.grad_accum - 1):
                    with run.autocast:
                        loss = run.model(*batch) / steps.grad_accum
                    loss.backward()
                step_loss += loss.detach()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
            step += 1
            interval_tokens += steps.tokens_per_step

            last = step == steps.total_steps
            evaluate_now = last or step % config.eval_every == 0
            if evaluate_now or step % config.log_every == 0:
                train_loss = float(all_reduce_mean(step_loss, world))  # waits for the GPU: only here
                tokens_per_s = interval_tokens / (time.perf_counter() - interval_start)
                record = {"step": step, "tokens_seen": step * steps.tokens_per_step,
                          "epochs": step * steps.tokens_per_step / data.plan.unique_tokens, "lr": lr,
                          "train_loss": train_loss, "tokens_per_s": tokens_per_s, "mfu": run.mfu(tokens_per_s)}
                if evaluate_now:
                    record.update(evaluate_run(run, data, steps, world))
                metrics.write(record)
                log(world, format_record(record, steps.total_steps))
                last_record = record
                interval_start, interval_tokens = time.perf_counter(), 0
            if step % config.checkpoint_every == 0 or last:
                save(step, config, run, steps, data, world, lock)
            if step % config.log_every == 0 and not last and stop.agreed(world):  # a sync: not every step
                save(step, config, run, steps, data, world, lock)
                log(world, f"stopping at step {step} on a signal; continue with --resume")
                break
            if config.stop_after_steps is not None and step >= config.stop_after_steps and not last:
                log(world, f"stopping at step {step} (--stop-after-steps)")
                break
    if step < steps.total_steps:
        return {"finished": False, "step": step}

    # ---- the summary: the train/validation gap ----------------------------------------------
    return summarize(config, world, data, steps, run, step, last_record, lock)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class RunData:
    """What a run reads: the corpus, the objective on its vocabulary, the plan and its streams."""
    corpus: TokenCorpus
    objective: Objective
    plan: DataPlan
    train: TokenStream          # the training subset, reshuffled every epoch
    validation: TokenStream
    train_eval: TokenStream     # the training subset in a fixed order: the train side of the final gap
    eval_sequences: int         # sequences an evaluation reads, a multiple of the world size
    eval_sets: list             # the --eval texts (`pretrain.bpb.EvalSet`)


def load_data(config: PretrainConfig, world: World) -> RunData:
    """The token directory (a remote one staged locally), the objective on its vocabulary, the
    data plan and the streams read from it."""
    tokens_dir = local_token_dir(config.tokens, config.tokens_cache, world)
    corpus = load_corpus(tokens_dir)
    objective = make_objective(config, corpus.vocab_size, corpus.eos_id)
    seq_tokens = objective.tokens_per_sequence  # raw stream tokens a sequence reads
    plan = plan_data(corpus, unique_tokens=config.unique_tokens, validation_tokens=config.validation_tokens,
                     seed=config.seed)
    validation = TokenStream(corpus, plan.validation, seed=config.seed, shuffle=False)
    eval_sequences = min(config.validation_tokens // seq_tokens, objective.num_sequences(validation))
    eval_sequences -= eval_sequences % world.size
    if eval_sequences < world.size:
        raise UserError(f"validation data of {plan.validation.num_tokens} tokens holds no whole sequence "
                        f"of {seq_tokens} per rank; raise --validation-tokens")
    return RunData(corpus, objective, plan, TokenStream(corpus, plan.train, seed=config.seed, shuffle=True),
                   validation, TokenStream(corpus, plan.train, seed=config.seed, shuffle=False), eval_sequences,
                   run_eval_sets(config.evals, tokens_dir, corpus.vocab_size, objective.name))


def batch_loader(config: PretrainConfig, world: World, data: RunData, steps: Steps) -> BatchLoader:
    """The training batches of this rank; made ahead in a thread on a GPU (or as --config `prefetch` says)."""
    on_gpu = world.device.type == "cuda"
    load = partial(training_batch, make_batch=data.objective.batch, stream=data.train, rank=world.rank,
                   world_size=world.size, micro_batch=steps.micro_batch, batch_size=config.batch_size,
                   pin=on_gpu)  # pinned host memory lets the copy overlap the GPU's work
    return BatchLoader(load, steps.grad_accum, steps.total_steps,
                       on_gpu if config.prefetch is None else config.prefetch)


# ---------------------------------------------------------------------------------------------
# The model and its optimiser


@dataclass
class Learner:
    """The model as the loop trains it, its optimiser, and what MFU and the record need of it."""
    model: torch.nn.Module      # what the loop calls: compiled and DDP-wrapped as asked
    raw_model: torch.nn.Module  # the model itself (FSDP shards it in place): its state, its --eval scores
    optimizer: torch.optim.Optimizer
    sharded: bool               # FSDP
    bf16: bool
    autocast: object            # torch.autocast to bf16, or a context that does nothing
    num_params: int
    flops_per_token: float
    peak_flops: float | None    # per device, for MFU
    world_size: int

    def mfu(self, tokens_per_s: float) -> float | None:
        return self.flops_per_token * tokens_per_s / (self.peak_flops * self.world_size) if self.peak_flops else None


def build_model(config: PretrainConfig, world: World, data: RunData) -> Learner:
    torch.manual_seed(config.seed)
    model = data.objective.build_model().to(world.device)
    flops_per_token, num_params = data.objective.flops_per_token(model), model.num_params()
    bf16 = config.dtype == "bfloat16" or (config.dtype == "auto" and world.device.type == "cuda")
    sharded = config.fsdp and world.size > 1
    if sharded:
        shard(model, (Block, DecoderBlock), bf16)
    optimizer = torch.optim.AdamW(model.optimizer_groups(config.weight_decay), lr=config.lr,
                                  betas=tuple(config.betas), fused=world.device.type == "cuda")
    wrapped = replicate(model, world, compile=config.compile, ddp=world.size > 1 and not config.fsdp)
    autocast = torch.autocast(world.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    return Learner(wrapped, model, optimizer, sharded, bf16, autocast, num_params, flops_per_token,
                   config.peak_flops or peak_flops_for(world.device), world.size)


# ---------------------------------------------------------------------------------------------
# Checkpoints (evaluation: pretrain.evaluation; config.json, the log lines and summary.json:
# pretrain.run_record)


def save(step: int, config: PretrainConfig, run: Learner, steps: Steps, data: RunData, world: World, lock) -> None:
    """Checkpoint after `step`: every rank gives its state and random state, the main rank writes."""
    model_state, optim_state = model_and_optimizer_state(run.raw_model, run.optimizer, run.sharded)
    rngs = gather_objects(rng_state(), world)
    if world.is_main:
        check_lock(lock, config.out)
        save_checkpoint(os.path.join(config.out, CHECKPOINT), {
            "step": step, "config": config.to_dict(), "model": model_state, "optimizer": optim_state,
            "schedule": asdict(steps.schedule), "rng": rngs, "data_fingerprint": data.plan.train.fingerprint(),
            "next_sequence": step * config.batch_size,  # the data position: a function of the step
        })
    barrier(world)
