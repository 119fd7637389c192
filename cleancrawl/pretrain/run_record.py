"""What a run records besides its checkpoint: config.json (the run's config, model, data plan and
world), one line per logged step, and summary.json, written last. `run` and `data` are the loop's
`Learner` and `RunData` (pretrain/train.py; not imported: train imports this)."""
from __future__ import annotations

import json
import os

from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.distributed import World, barrier, device_name, log
from cleancrawl.pretrain.evaluation import evaluate, evaluate_run
from cleancrawl.pretrain.folders import CONFIG, METRICS, SUMMARY, check_lock, median_throughput, write_file
from cleancrawl.pretrain.schedule import Steps


def write_run_info(config: PretrainConfig, world: World, data, steps: Steps, run) -> None:
    """config.json (the run's config, model, data plan and world), and its gist in the log."""
    plan, device = data.plan, device_name(world.device)
    info = {
        "config": config.to_dict(), "objective": data.objective.describe(),
        "model_config": data.objective.model_config.to_dict(), "num_params": run.num_params,
        "flops_per_token": run.flops_per_token, "world_size": world.size, "device": device,
        "autocast_bf16": run.bf16, "micro_batch": steps.micro_batch, "grad_accum": steps.grad_accum,
        "total_steps": steps.total_steps, "warmup_steps": steps.schedule.warmup_steps,
        "tokens_per_step": steps.tokens_per_step, "tokens_per_sequence": data.objective.tokens_per_sequence,
        "unique_tokens": plan.unique_tokens, "available_train_tokens": plan.available_train_tokens,
        "validation_source": plan.validation_source, "eval_sequences": data.eval_sequences,
        "peak_flops_per_device": run.peak_flops,
    }
    if world.is_main:
        write_file(os.path.join(config.out, CONFIG), json.dumps(info, indent=2))
    log(world, f"{config.model} ({data.objective.name}): {run.num_params / 1e6:.2f}M parameters, "
               f"{steps.total_steps} steps of {steps.tokens_per_step} tokens on {world.size} × {device}"
               f"{' (bf16 autocast)' if run.bf16 else ''}")
    log(world, f"training on {plan.unique_tokens} unique tokens of {plan.available_train_tokens} available: "
               f"{steps.total_steps * steps.tokens_per_step / plan.unique_tokens:.2f} epochs")
    log(world, f"validation: {plan.validation_source}")


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


def summarize(config: PretrainConfig, world: World, data, steps: Steps, run, step: int,
              last_record: dict, lock) -> dict:
    """Final train loss measured as validation is, the gap, throughput; summary.json, written last."""
    train_eval_sequences = min(data.eval_sequences, data.objective.num_sequences(data.train_eval))
    train_eval_sequences = max(world.size, train_eval_sequences - train_eval_sequences % world.size)
    final_train = evaluate(run.model, data.train_eval, train_eval_sequences, data.objective, steps.micro_batch,
                           world, run.autocast)
    if "val_loss" not in last_record:  # resumed from the final checkpoint: nothing logged in this process
        last_record = {**evaluate_run(run, data, steps, world), "train_loss": None}
    tokens_seen, unique = step * steps.tokens_per_step, data.plan.unique_tokens
    summary = {
        "finished": True, "model": config.model, "objective": data.objective.name, "num_params": run.num_params,
        "steps": step, "tokens_seen": tokens_seen, "unique_tokens": unique, "repeats": tokens_seen / unique,
        "final_train_loss": final_train, "final_val_loss": last_record["val_loss"],
        "gap": last_record["val_loss"] - final_train, "last_batch_train_loss": last_record.get("train_loss"),
        "validation_source": data.plan.validation_source,
        "tokens_per_s": median_throughput(os.path.join(config.out, METRICS)), "mfu": None,
    }
    if data.eval_sets:
        summary["eval_bpb"] = last_record["eval_bpb"]
        summary["eval_bpb_mean"] = last_record["eval_bpb_mean"]
    if summary["tokens_per_s"]:
        summary["mfu"] = run.mfu(summary["tokens_per_s"])
    if world.is_main:
        check_lock(lock, config.out)
        write_file(os.path.join(config.out, SUMMARY), json.dumps(summary, indent=2))
    log(world, f"done: train {final_train:.4f}, validation {summary['final_val_loss']:.4f} "
               f"after {summary['repeats']:.2f} epochs over {unique} tokens")
    barrier(world)
    return summary
