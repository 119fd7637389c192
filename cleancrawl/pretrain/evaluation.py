"""Scoring a model during a run: the mean loss of a token stream, split over the ranks, and the
run's evaluation (validation loss, and with --eval the bits per byte of each text). `run` and `data`
are the loop's `Learner` and `RunData` (pretrain/train.py; not imported: train imports this)."""
from __future__ import annotations

import numpy as np
import torch

from cleancrawl.pretrain.bpb import score_all
from cleancrawl.pretrain.data import TokenStream
from cleancrawl.pretrain.distributed import World, all_reduce_sum
from cleancrawl.pretrain.schedule import Steps


@torch.no_grad()
def evaluate(model, stream: TokenStream, num_sequences: int, objective, micro_batch: int,
             world: World, autocast) -> float:
    """Mean loss per target over the stream's first `num_sequences` sequences, split over the ranks.

    `objective.batch(stream, indices)` makes them: masks depend only on the sequence index (span
    corruption) or on the text and its epoch (`pretrain.masking`), so every evaluation scores the
    same corrupted sequences. Each batch's mean loss is weighed by its targets
    (`objective.num_targets`), so the mean is the same however the ranks split the sequences.
    Every rank runs the same number of forward passes (FSDP needs all of them in each).
    """
    model.eval()
    mine = np.arange(world.rank, num_sequences, world.size)
    total = torch.zeros(2, dtype=torch.float64, device=world.device)  # loss sum, targets
    for chunk in (mine[i:i + micro_batch] for i in range(0, len(mine), micro_batch)):  # training's shape
        batch = objective.batch(stream, chunk)
        targets = float(objective.num_targets(batch))
        with autocast:
            loss = model(*(t.to(world.device) for t in batch))
        total += torch.stack([loss.double() * targets, torch.tensor(targets, device=world.device,
                                                                    dtype=torch.float64)])
    all_reduce_sum(total, world)
    model.train()
    return float(total[0] / total[1])


def evaluate_run(run, data, steps: Steps, world: World) -> dict:
    """val_loss, and with --eval the bits per byte of each text (eval_bpb) and their mean, scored
    with the unwrapped model (no DDP, no torch.compile: eval shapes vary) on every rank, as FSDP
    needs each forward on every rank."""
    scores = {"val_loss": evaluate(run.model, data.validation, data.eval_sequences, data.objective,
                                   steps.micro_batch, world, run.autocast)}
    if data.eval_sets:
        scores.update(score_all(run.raw_model, data.eval_sets, data.corpus.eos_id, run.raw_model.config.seq_len,
                                world.device))
    return scores
