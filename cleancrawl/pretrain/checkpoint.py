"""Checkpoints: what a run saves to resume exactly, and the file it saves it in.

    checkpoint.pt = torch.save's bytes of {step, config, model, optimizer, schedule, rng (one per
                    rank), data_fingerprint, next_sequence}, then a 56-byte trailer: magic, the
                    length of those bytes, and their sha256

so that a truncated or damaged file is refused in one line instead of resumed (plain `torch.load`
still reads it: its zip directory is found from the end, past the trailer). Model and optimizer
state are saved whole (unsharded, on CPU) whatever the parallelism, so a run resumes on another
number of devices. Written through `storage.atomic_writer`: a killed write leaves the old one.
"""
from __future__ import annotations

import hashlib
import io
import os
import random
import struct
from dataclasses import fields

import numpy as np
import torch

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.folders import CHECKPOINT

CHECKPOINT_MAGIC = b"cleancrawl-ckpt1"
_TRAILER = struct.Struct("<16sQ32s")
_KEYS = ("step", "config", "model", "optimizer", "rng", "data_fingerprint")
_ADVICE = "it cannot be resumed: restore a good copy, or move it away to start the run over"


# ---------------------------------------------------------------------------------------------
# What is saved


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


def check_same_run(saved: dict, config: PretrainConfig) -> None:
    """A resume must not change what the run computes (`PretrainConfig.RUN_DEFINING`)."""
    current = config.to_dict()
    # A field the checkpoint lacks (written before the field existed) had its default.
    defaults = {f.name: f.default for f in fields(PretrainConfig)}
    ignored = {  # the options an objective does not use
        "causal-lm": {"noise_density", "mean_noise_span"}, "prefix-lm": {"noise_density", "mean_noise_span"},
        "mlm": {"mean_noise_span"}, "bert-style": {"mean_noise_span"}}.get(config.objective, set())
    changed = [k for k in PretrainConfig.RUN_DEFINING
               if k not in ignored and _normal(saved.get(k, defaults.get(k))) != _normal(current.get(k))]
    if changed:
        raise UserError(f"{config.out}: the checkpoint was written with different "
                        f"{', '.join(changed)}; resume with the same options or use another --out")


def _normal(value):
    return list(value) if isinstance(value, tuple) else value


# ---------------------------------------------------------------------------------------------
# The file


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
        f.write(_TRAILER.pack(CHECKPOINT_MAGIC, writer.size, writer.sha256.digest()))


def load_checkpoint(path: str) -> dict:
    """A checkpoint `save_checkpoint` wrote, its checksum verified; UserError (one line) otherwise."""
    with storage.open_binary(path) as f:
        size = f.seek(0, io.SEEK_END)
        length = _checked_length(f, path, size)
        try:
            state = torch.load(_Prefix(f, length), map_location="cpu", weights_only=False)
        except Exception as err:
            raise UserError(f"{path}: unreadable checkpoint ({type(err).__name__}); {_ADVICE}") from None
    if not isinstance(state, dict) or any(key not in state for key in _KEYS):
        raise UserError(f"{path}: not a pretraining checkpoint (it lacks step, model or optimizer state); {_ADVICE}")
    return state


def _checked_length(f, path: str, size: int) -> int:
    """The length of torch.save's bytes, once the trailer is found and their sha256 matches."""
    if size >= _TRAILER.size:
        f.seek(size - _TRAILER.size)
        magic, length, digest = _TRAILER.unpack(f.read(_TRAILER.size))
    if size < _TRAILER.size or magic != CHECKPOINT_MAGIC or length != size - _TRAILER.size:
        raise UserError(f"{path}: truncated or not a cleancrawl checkpoint ({size:,} bytes, no checksum "
                        f"trailer at the end); {_ADVICE}")
    sha256, remaining = hashlib.sha256(), length
    f.seek(0)
    while remaining:
        block = f.read(min(remaining, 1 << 24))
        if not block:  # shorter than it was a moment ago: the digest below tells
            break
        sha256.update(block)
        remaining -= len(block)
    if sha256.digest() != digest:
        raise UserError(f"{path}: corrupt checkpoint (the sha256 of its {length:,} bytes is not the one "
                        f"saved with it); {_ADVICE}")
    return length


# ---------------------------------------------------------------------------------------------
# Resuming


def checkpoint_to_resume(config: PretrainConfig) -> dict | None:
    """With --resume, the run's checkpoint, checked: whole (its sha256), and written with the
    options that define what the run computes."""
    path = os.path.join(config.out, CHECKPOINT)
    if not (config.resume and os.path.exists(path)):
        return None
    checkpoint = load_checkpoint(path)
    check_same_run(checkpoint["config"], config)
    return checkpoint


def restore(checkpoint: dict, out: str, model, optimizer, sharded: bool, data_fingerprint: str, rank: int) -> int:
    """Load a checkpoint's model and optimiser state and rank `rank`'s random state; returns its step.
    Refused when the data subset differs (the corpus changed under the run)."""
    if checkpoint["data_fingerprint"] != data_fingerprint:
        raise UserError(f"{os.path.join(out, CHECKPOINT)}: was trained on a different data subset than this "
                        "corpus gives")
    load_model_and_optimizer_state(model, optimizer, checkpoint["model"], checkpoint["optimizer"], sharded)
    rng_states = checkpoint["rng"]
    set_rng_state(rng_states[rank % len(rng_states)])
    return checkpoint["step"]
