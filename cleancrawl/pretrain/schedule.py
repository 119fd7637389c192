"""How many optimiser steps a run takes, of what size, at what learning rate.

`plan_steps` splits `--batch-size` sequences a step into micro-batches per rank (gradient
accumulation makes up the rest) and the token budget into whole steps; `CosineSchedule` is the
learning rate of each step: linear warm-up, then cosine decay to a floor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import PretrainConfig


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


@dataclass(frozen=True)
class Steps:
    micro_batch: int            # sequences per forward pass per rank
    grad_accum: int             # micro-batches per optimiser step per rank
    tokens_per_step: int        # raw stream tokens, all ranks together
    total_steps: int
    schedule: CosineSchedule


def plan_steps(config: PretrainConfig, world_size: int, seq_tokens: int) -> Steps:
    """The steps of a run whose sequences each read `seq_tokens` raw tokens; one line for a batch
    that does not split over the ranks, or a budget of less than one step."""
    micro_batch = config.micro_batch or config.batch_size // world_size
    if config.batch_size % (micro_batch * world_size):
        raise UserError(f"--batch-size {config.batch_size} is not a multiple of micro-batch {micro_batch} "
                        f"× {world_size} processes")
    tokens_per_step = config.batch_size * seq_tokens
    total_steps = config.budget_tokens // tokens_per_step
    if total_steps < 1:
        raise UserError(f"--budget-tokens {config.budget_tokens} is less than one step of {tokens_per_step} tokens")
    warmup = config.warmup_steps if config.warmup_steps is not None else max(1, total_steps // 20)
    return Steps(micro_batch, config.batch_size // (micro_batch * world_size), tokens_per_step, total_steps,
                 CosineSchedule(config.lr, warmup, total_steps, config.min_lr_ratio))
