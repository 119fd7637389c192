"""Devices and processes: one process, or one per device under `torchrun` (DDP, or FSDP).

`setup_world` reads what torchrun sets (RANK, LOCAL_RANK, WORLD_SIZE) and joins the process
group; the rest are the few collective steps the loop takes (a mean, a barrier, a gather, the
main rank's refusals raised on every rank, a signal agreed by all ranks), how a model is
sharded (FSDP2) or replicated (DDP), and the GPUs' peak FLOP/s for MFU.
"""
from __future__ import annotations

import os
import signal
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

from cleancrawl.corpus.errors import UserError

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


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


# ---------------------------------------------------------------------------------------------
# The world


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


def log(world: World, message: str) -> None:
    if world.is_main:
        print(message, flush=True)


def all_reduce_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.size > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value = value / world.size
    return value


def all_reduce_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.size > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def gather_objects(value, world: World) -> list:
    """Every rank's `value`, in rank order, on every rank."""
    if world.size == 1:
        return [value]
    values = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def on_main_rank(world: World, action, *args):
    """`action(*args)` on the main rank only (taking a folder); its UserError is raised on every
    rank, so that no rank goes on, or waits, when the main one was refused. Returns what it returned."""
    result, message = None, None
    if world.is_main:
        try:
            result = action(*args)
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
# Sharding and replicating a model


def shard(model: torch.nn.Module, block_types: tuple[type, ...], bf16: bool) -> None:
    """FSDP2 in place: each block its own unit, then the rest. Parameters are gathered in bf16 when
    computing in bf16 (half the traffic); gradients are reduced in fp32."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    precision = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32)
    for block in [m for m in model.modules() if isinstance(m, block_types)]:
        fully_shard(block, mp_policy=precision)
    fully_shard(model, mp_policy=precision)


def replicate(model: torch.nn.Module, world: World, *, compile: bool, ddp: bool) -> torch.nn.Module:
    """The model the loop calls: torch.compile'd, then wrapped in DDP, as asked."""
    if compile:
        model = torch.compile(model)
    if ddp:
        from torch.nn.parallel import DistributedDataParallel as DDP
        model = DDP(model, device_ids=[world.local_rank] if world.device.type == "cuda" else None)
    return model


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


# ---------------------------------------------------------------------------------------------
# Signals


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
