"""Training objectives: which model a run trains, and what one training sequence is.

- "causal-lm" (the default): a GPT (`pretrain.model`). Sequence k is stream tokens [k·T, k·T + T]:
  the inputs, and the same shifted by one as targets.
- "span-corruption": T5's objective on an encoder-decoder (`pretrain.encoder_decoder`). Sequence k
  is the L raw stream tokens [k·L, k·L + L), L chosen so that the corrupted encoder input is exactly
  `seq_len` tokens (`span_corruption_lengths`: 512 -> 568 raw tokens, 114 targets), corrupted with
  the mask drawn for (seed, k) (`span_corruption`).

Both read the same `TokenStream`, so the data plan, the repeated subset, the validation hold-out,
resume and DDP work alike for both. `tokens_per_sequence` is the raw stream tokens one sequence
consumes; the budget, tokens seen, epochs and tokens/s all count those, so the runs of a
repetition sweep see the same text whichever the objective. `batch(stream, indices)` gives the
tensors that `model(*batch)` turns into a loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.config import ALL_MODELS, DEFAULT_MODEL, OBJECTIVES  # noqa: F401 (DEFAULT_MODEL: re-exported)
from cleancrawl.pretrain.data import TokenStream
from cleancrawl.pretrain.encoder_decoder import (
    ENCODER_DECODER_SIZES,
    EncoderDecoder,
    EncoderDecoderConfig,
    encoder_decoder_config,
)
from cleancrawl.pretrain.model import GPT, MODEL_SIZES, GPTConfig, model_config
from cleancrawl.pretrain.span_corruption import (
    NUM_SENTINELS,
    corrupt,
    mask_rng,
    random_spans_noise_mask,
    span_corruption_lengths,
    span_counts,
)

SIZES = {"causal-lm": MODEL_SIZES, "span-corruption": ENCODER_DECODER_SIZES}  # the models of each (ALL_MODELS)


def check_model(model: str, objective: str) -> None:
    """A UserError unless `model` is a known size that trains with `objective`."""
    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    if model not in ALL_MODELS:
        raise UserError(f"unknown model {model!r}; known: {', '.join(ALL_MODELS)}")
    if model not in SIZES[objective]:
        needed = next(o for o in OBJECTIVES if model in SIZES[o])
        kind = "an encoder-decoder" if needed == "span-corruption" else "a decoder-only GPT"
        raise UserError(f"model {model!r} is {kind}, trained with --objective {needed}; for --objective "
                        f"{objective} choose one of {', '.join(SIZES[objective])}")


@dataclass(frozen=True)
class CausalLM:
    """Next-token prediction on a GPT: the loss is per token of the sequence."""
    model_config: GPTConfig
    name: ClassVar[str] = "causal-lm"

    @property
    def seq_len(self) -> int:
        return self.model_config.seq_len

    @property
    def tokens_per_sequence(self) -> int:
        return self.seq_len

    def build_model(self) -> GPT:
        return GPT(self.model_config)

    def flops_per_token(self, model: GPT) -> float:
        return model.flops_per_token(self.seq_len)

    def num_sequences(self, stream: TokenStream) -> int:
        return stream.num_sequences(self.seq_len)

    def batch(self, stream: TokenStream, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), (B, seq_len) int64 each."""
        return stream.sequences(indices, self.seq_len)

    def describe(self) -> dict:
        return {"name": self.name, "seq_len": self.seq_len}


@dataclass(frozen=True)
class SpanCorruption:
    """T5's span corruption on an encoder-decoder: the loss is per target token."""
    model_config: EncoderDecoderConfig  # seq_len: the encoder's input length; target_len: the decoder's
    tokens_length: int                  # raw stream tokens cut for one sequence
    noise_density: float
    mean_noise_span: float
    first_sentinel: int                 # the tokenizer's vocabulary size: sentinels are the ids above it
    eos_id: int                         # ends inputs and targets (as T5), and starts the decoder
    seed: int                           # sequence k of a stream is masked with mask_rng(seed, k)
    name: ClassVar[str] = "span-corruption"

    @property
    def tokens_per_sequence(self) -> int:
        return self.tokens_length

    @property
    def sentinel_ids(self) -> np.ndarray:
        return np.arange(self.first_sentinel, self.first_sentinel + NUM_SENTINELS)

    def build_model(self) -> EncoderDecoder:
        return EncoderDecoder(self.model_config)

    def flops_per_token(self, model: EncoderDecoder) -> float:
        return model.flops_per_token(self.tokens_length)  # per raw token, as tokens/s counts them

    def num_sequences(self, stream: TokenStream) -> int:
        return stream.epoch_tokens // self.tokens_length

    def example(self, tokens: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets) of sequence `index`, from its raw tokens."""
        mask = random_spans_noise_mask(len(tokens), self.noise_density, self.mean_noise_span,
                                       mask_rng(self.seed, index))
        return corrupt(tokens, mask, self.sentinel_ids, eos_id=self.eos_id)

    def batch(self, stream: TokenStream, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, decoder_inputs, targets): (B, seq_len), (B, target_len), (B, target_len) int64.

        The decoder reads the targets shifted right behind eos as its start token. Every sequence
        corrupts to exactly these lengths, so nothing is padded.
        """
        L = self.tokens_length
        pairs = [self.example(stream.read(int(k) * L, L), int(k)) for k in indices]
        inputs = torch.from_numpy(np.stack([i for i, _ in pairs]))
        targets = torch.from_numpy(np.stack([t for _, t in pairs]))
        start = torch.full((len(pairs), 1), self.eos_id, dtype=targets.dtype)
        return inputs, torch.cat([start, targets[:, :-1]], dim=1), targets

    def describe(self) -> dict:
        return {"name": self.name, "inputs_length": self.model_config.seq_len,
                "targets_length": self.model_config.target_len, "tokens_length": self.tokens_length,
                "noise_density": self.noise_density, "mean_noise_span": self.mean_noise_span,
                "sentinel_ids": [self.first_sentinel, self.first_sentinel + NUM_SENTINELS - 1],
                "decoder_start_id": self.eos_id}


def span_corruption_shape(config) -> tuple[int, int, int]:
    """(encoder input, raw tokens, targets) lengths per sequence for a span-corruption PretrainConfig."""
    density, mean_span = config.noise_density, config.mean_noise_span
    if not 0 < density < 1:
        raise UserError(f"--noise-density {density}: must be between 0 and 1")
    if mean_span < 1:
        raise UserError(f"--mean-noise-span {mean_span}: must be at least 1")
    inputs_length = config.seq_len or ENCODER_DECODER_SIZES[config.model].seq_len
    if inputs_length < 3:
        raise UserError(f"--seq-len {inputs_length}: too short for span corruption")
    tokens_length, targets_length = span_corruption_lengths(inputs_length, density, mean_span)
    noise, spans = span_counts(tokens_length, density, mean_span)
    if spans > NUM_SENTINELS:
        raise UserError(f"--seq-len {inputs_length} makes {spans} noise spans, more than the {NUM_SENTINELS} "
                        f"sentinels; lower --seq-len or raise --mean-noise-span")
    # Exactly the asked length, except at density 0.5 where T5 may give up a token to keep targets shorter.
    encoder_length = tokens_length - noise + spans + 1
    return encoder_length, tokens_length, targets_length


def check_objective(config) -> None:
    """A UserError for any model, objective or noise option of a PretrainConfig that cannot train."""
    check_model(config.model, config.objective)
    if config.objective == "span-corruption":
        span_corruption_shape(config)


def make_objective(config, vocab_size: int, eos_id: int) -> CausalLM | SpanCorruption:
    """The objective of a PretrainConfig, for a tokenizer of `vocab_size` ids ending sequences with `eos_id`."""
    check_model(config.model, config.objective)
    if config.objective == "causal-lm":
        return CausalLM(model_config(config.model, vocab_size, seq_len=config.seq_len, positions=config.positions))
    encoder_length, tokens_length, targets_length = span_corruption_shape(config)
    # The embedding holds the tokenizer's ids, then the sentinels (padded to a multiple of 64).
    sizes = encoder_decoder_config(config.model, vocab_size + NUM_SENTINELS, seq_len=encoder_length,
                                   target_len=targets_length, positions=config.positions)
    return SpanCorruption(sizes, tokens_length, config.noise_density, config.mean_noise_span,
                          first_sentinel=vocab_size, eos_id=eos_id, seed=config.seed)
