"""Training objectives: which model a run trains, and what one training sequence is.

T5 (Raffel et al. 2020) compares architectures (section 3.2) and objectives (section 3.3); here are
five of them, each beside T5's description with the deliberate differences:

- "causal-lm" (the default): a GPT (`pretrain.model`). Sequence k is stream tokens [k·T, k·T + T]:
  the inputs, and the same shifted by one as targets; the loss is on every token.
- "prefix-lm": the same GPT with T5's prefix-LM attention (section 3.2.1, figure 3 right): the
  first P tokens of a sequence see each other fully, the rest attend causally, and the loss is on
  the tokens after the prefix (T5's language-modelling objective on a prefix LM, section 3.2.3: a
  span of text split at a random point into prefix and target). P is drawn uniformly from
  [1, T - 1] for (seed, k), as span corruption's masks are. T5 trains its prefix LM on inputs and
  targets of a task concatenated; here every sequence is unlabelled text, split at random.
- "mlm": BERT's masked LM on an encoder (the GPT's blocks with bidirectional attention, an
  "encoder-only" model that T5 sets aside because it cannot generate): `noise_density` of the
  tokens picked independently, 80% of them to a mask token, 10% to a random token, 10% kept, and
  the loss on the picked tokens only (`pretrain.masking`). BERT picks exactly 15% of each
  sequence and adds next-sentence prediction; here tokens are picked i.i.d. (T5's
  `iid_noise_mask`) and there is no second task (RoBERTa dropped it too).
- "span-corruption": T5's objective on an encoder-decoder (`pretrain.encoder_decoder`). Sequence k
  is the L raw stream tokens [k·L, k·L + L), L chosen so that the corrupted encoder input is exactly
  `seq_len` tokens (`span_corruption_lengths`: 512 -> 568 raw tokens, 114 targets), corrupted with
  the mask drawn for (seed, k) (`span_corruption`).
- "bert-style": T5's BERT-style denoising on the encoder-decoder (section 3.3.1, figure 4's
  first objective): the encoder reads `seq_len - 1` raw tokens corrupted as "mlm" does, plus eos;
  the decoder writes the whole original text and eos, and the loss is on all of it. T5 sends 90%
  of the picked tokens to the mask token and 10% to a random one, none kept
  (`noise_token_to_random_token_or_sentinel`); here BERT's 80/10/10 is kept, so that "mlm" and
  "bert-style" corrupt alike and differ only in the model.

The corrupting objectives ("mlm", "bert-style", "span-corruption") take `--masking`: dynamic (a
new mask each epoch) or static (one mask, or `--static-copies` K in turn, fixed to the text;
`pretrain.masking`). Span corruption's masks are drawn per sequence index, whose text changes with
each epoch's reshuffle, so they are dynamic; a static span mask would need sequences fixed to the
text, and is refused.

All read the same `TokenStream`, so the data plan, the repeated subset, the validation hold-out,
resume and DDP work alike for all. `tokens_per_sequence` is the raw stream tokens one sequence
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
from cleancrawl.pretrain.config import (  # noqa: F401 (DEFAULT_MODEL: re-exported)
    ALL_MODELS,
    CORRUPTING,
    DEFAULT_MODEL,
    OBJECTIVES,
)
from cleancrawl.pretrain.data import TokenStream
from cleancrawl.pretrain.encoder_decoder import (
    ENCODER_DECODER_SIZES,
    EncoderDecoder,
    EncoderDecoderConfig,
    encoder_decoder_config,
)
from cleancrawl.pretrain.masking import Masking, bert_corrupt, token_uniforms
from cleancrawl.pretrain.model import GPT, IGNORE_INDEX, MODEL_SIZES, GPTConfig, model_config
from cleancrawl.pretrain.span_corruption import (
    NUM_SENTINELS,
    corrupt,
    mask_rng,
    random_spans_noise_mask,
    span_corruption_lengths,
    span_counts,
)

SIZES = {"causal-lm": MODEL_SIZES, "prefix-lm": MODEL_SIZES, "mlm": MODEL_SIZES,  # the models of each (ALL_MODELS)
         "span-corruption": ENCODER_DECODER_SIZES, "bert-style": ENCODER_DECODER_SIZES}
PREFIX_SEED_SALT = 0x50524546  # "PREF": the prefix lengths' randomness, apart from the masks'


def check_model(model: str, objective: str) -> None:
    """A UserError unless `model` is a known size that trains with `objective`."""
    if objective not in OBJECTIVES:
        raise UserError(f"unknown objective {objective!r}; known: {', '.join(OBJECTIVES)}")
    if model not in ALL_MODELS:
        raise UserError(f"unknown model {model!r}; known: {', '.join(ALL_MODELS)}")
    if model not in SIZES[objective]:
        needed = [o for o in OBJECTIVES if model in SIZES[o]]
        kind = "an encoder-decoder" if model in ENCODER_DECODER_SIZES else "a decoder-only GPT"
        raise UserError(f"model {model!r} is {kind}, trained with --objective {' or '.join(needed)}; for "
                        f"--objective {objective} choose one of {', '.join(SIZES[objective])}")


class _CountsTargets:
    """What evaluation weighs a batch's loss by: its targets that carry a loss (a prefix LM's and a
    masked LM's vary per sequence, so a mean over sequences would depend on how ranks split them)."""
    targets_at: ClassVar[int] = 1  # where the targets are in `batch(...)`

    def num_targets(self, batch) -> int:
        return int((batch[self.targets_at] != IGNORE_INDEX).sum())


@dataclass(frozen=True)
class _OnGPT(_CountsTargets):
    """What the objectives on a GPT (causal, prefix, masked) share: the model and a sequence's length."""
    model_config: GPTConfig

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


@dataclass(frozen=True)
class CausalLM(_OnGPT):
    """Next-token prediction on a GPT: the loss is per token of the sequence."""
    name: ClassVar[str] = "causal-lm"

    def batch(self, stream: TokenStream, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), (B, seq_len) int64 each."""
        return stream.sequences(indices, self.seq_len)

    def describe(self) -> dict:
        return {"name": self.name, "seq_len": self.seq_len}


@dataclass(frozen=True)
class SpanCorruption(_CountsTargets):
    """T5's span corruption on an encoder-decoder: the loss is per target token."""
    model_config: EncoderDecoderConfig  # seq_len: the encoder's input length; target_len: the decoder's
    tokens_length: int                  # raw stream tokens cut for one sequence
    noise_density: float
    mean_noise_span: float
    first_sentinel: int                 # the tokenizer's vocabulary size: sentinels are the ids above it
    eos_id: int                         # ends inputs and targets (as T5), and starts the decoder
    seed: int                           # sequence k of a stream is masked with mask_rng(seed, k)
    name: ClassVar[str] = "span-corruption"
    targets_at: ClassVar[int] = 2

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


@dataclass(frozen=True)
class PrefixLM(_OnGPT):
    """T5's prefix LM on a GPT: full attention over a random prefix, the loss on the tokens after it."""
    seed: int                    # sequence k's prefix length is drawn from (seed, k)
    name: ClassVar[str] = "prefix-lm"

    def prefix_length(self, index: int) -> int:
        """Tokens of sequence `index` in its prefix: uniform in [1, seq_len - 1]."""
        return int(np.random.default_rng([PREFIX_SEED_SALT, self.seed, index]).integers(1, self.seq_len))

    def batch(self, stream: TokenStream, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, targets, prefix_len): (B, seq_len), (B, seq_len), (B,) int64. Input position i
        predicts token i + 1; positions inside the prefix but its last see the token they would
        predict (full attention), so their targets are IGNORE_INDEX."""
        inputs, targets = stream.sequences(indices, self.seq_len)
        targets = targets.clone()  # for one sequence, a view of the same row as the inputs
        prefix = torch.tensor([self.prefix_length(int(k)) for k in indices], dtype=torch.int64)
        targets[torch.arange(self.seq_len)[None, :] < prefix[:, None] - 1] = IGNORE_INDEX
        return inputs, targets, prefix

    def describe(self) -> dict:
        return {"name": self.name, "seq_len": self.seq_len, "prefix_length": [1, self.seq_len - 1]}


@dataclass(frozen=True)
class BertCorruption:
    """BERT's corruption of raw stream tokens, keyed to the text (`pretrain.masking`): what "mlm"
    and "bert-style" share."""
    noise_density: float
    mask_id: int                 # the tokenizer's vocabulary size: the mask token is the first id above it
    vocab_size: int              # random replacements are drawn below this
    masking: Masking
    seed: int

    def read(self, stream: TokenStream, position: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw tokens, corrupted tokens, noise mask) of `count` stream tokens from `position`."""
        tokens, shard, offset, epoch = stream.read_located(position, count)
        draws = token_uniforms(self.seed, shard, offset, self.masking.rounds(epoch))
        corrupted, noise = bert_corrupt(tokens, draws, self.noise_density, self.mask_id, self.vocab_size)
        return tokens, corrupted, noise

    def describe(self) -> dict:
        return {"noise_density": self.noise_density, "mask_id": self.mask_id, "masking": self.masking.label,
                "replace": {"mask": 0.8, "random": 0.1, "keep": 0.1}}


@dataclass(frozen=True)
class MaskedLM(_OnGPT):
    """BERT's masked LM on an encoder (the GPT with bidirectional attention, model_config.causal
    False): the loss is per picked token."""
    corruption: BertCorruption
    name: ClassVar[str] = "mlm"

    def num_sequences(self, stream: TokenStream) -> int:  # no next token to predict: T raw tokens a sequence
        return stream.epoch_tokens // self.seq_len

    def batch(self, stream: TokenStream, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), (B, seq_len) int64: sequence k is raw tokens [k·T, k·T + T), corrupted;
        the targets are the originals where a token was picked, IGNORE_INDEX elsewhere."""
        T = self.seq_len
        rows = [self.corruption.read(stream, int(k) * T, T) for k in indices]
        targets = np.stack([np.where(noise, tokens, IGNORE_INDEX) for tokens, _, noise in rows])
        for row, (tokens, _, noise) in zip(targets, rows):
            if not noise.any():  # nothing picked (0.85^T: rare): predict the first token, as a kept pick
                row[0] = tokens[0]
        return torch.from_numpy(np.stack([c for _, c, _ in rows])), torch.from_numpy(targets)

    def describe(self) -> dict:
        return {"name": self.name, "seq_len": self.seq_len, **self.corruption.describe()}


@dataclass(frozen=True)
class BertStyle(_CountsTargets):
    """T5's BERT-style denoising on an encoder-decoder: the decoder writes the original text."""
    model_config: EncoderDecoderConfig  # seq_len = target_len: raw tokens + eos on each side
    corruption: BertCorruption
    eos_id: int
    name: ClassVar[str] = "bert-style"
    targets_at: ClassVar[int] = 2

    @property
    def tokens_per_sequence(self) -> int:
        return self.model_config.seq_len - 1

    def build_model(self) -> EncoderDecoder:
        return EncoderDecoder(self.model_config)

    def flops_per_token(self, model: EncoderDecoder) -> float:
        return model.flops_per_token(self.tokens_per_sequence)

    def num_sequences(self, stream: TokenStream) -> int:
        return stream.epoch_tokens // self.tokens_per_sequence

    def batch(self, stream: TokenStream, indices) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(inputs, decoder_inputs, targets), (B, seq_len) int64 each: the corrupted raw tokens and
        eos; the original raw tokens and eos, shifted right behind eos for the decoder."""
        L = self.tokens_per_sequence
        rows = [self.corruption.read(stream, int(k) * L, L) for k in indices]
        eos = np.full((len(rows), 1), self.eos_id, dtype=np.int64)
        inputs = np.concatenate([np.stack([c for _, c, _ in rows]), eos], axis=1)
        targets = np.concatenate([np.stack([t for t, _, _ in rows]), eos], axis=1)
        decoder_inputs = np.concatenate([eos, targets[:, :-1]], axis=1)
        return torch.from_numpy(inputs), torch.from_numpy(decoder_inputs), torch.from_numpy(targets)

    def describe(self) -> dict:
        return {"name": self.name, "inputs_length": self.model_config.seq_len,
                "targets_length": self.model_config.target_len, "tokens_length": self.tokens_per_sequence,
                "decoder_start_id": self.eos_id, **self.corruption.describe()}


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
    """A UserError for any model, objective, noise or masking option of a PretrainConfig that cannot train."""
    check_model(config.model, config.objective)
    masking = getattr(config, "masking", "dynamic")
    copies = getattr(config, "static_copies", 1)
    if masking != "dynamic" and config.objective not in CORRUPTING:
        raise UserError(f"--masking {masking}: only the corrupting objectives ({', '.join(CORRUPTING)}) mask; "
                        f"{config.objective} does not")
    if masking == "static" and config.objective == "span-corruption":
        raise UserError("--masking static: span corruption draws its masks per sequence, whose text changes "
                        "with each epoch's reshuffle, so its masks are dynamic only; use --objective bert-style "
                        "or mlm to compare static and dynamic masking")
    if copies < 1 or (copies != 1 and masking != "static"):
        raise UserError(f"--static-copies {copies}: must be 1 or more, and is only for --masking static")
    if config.objective == "span-corruption":
        span_corruption_shape(config)
    if config.objective in ("mlm", "bert-style") and not 0 < config.noise_density < 1:
        raise UserError(f"--noise-density {config.noise_density}: must be between 0 and 1")
    if config.objective in ("prefix-lm", "bert-style") and config.seq_len is not None and config.seq_len < 3:
        raise UserError(f"--seq-len {config.seq_len}: too short for {config.objective}")


def make_objective(config, vocab_size: int, eos_id: int):
    """The objective of a PretrainConfig, for a tokenizer of `vocab_size` ids ending sequences with `eos_id`."""
    check_objective(config)
    sizes = dict(seq_len=config.seq_len, positions=config.positions)
    if config.objective == "causal-lm":
        return CausalLM(model_config(config.model, vocab_size, **sizes))
    if config.objective == "prefix-lm":
        return PrefixLM(model_config(config.model, vocab_size, **sizes), seed=config.seed)
    if config.objective in ("mlm", "bert-style"):
        # The embedding holds the tokenizer's ids, then the mask token (padded to a multiple of 64).
        corruption = BertCorruption(config.noise_density, mask_id=vocab_size, vocab_size=vocab_size,
                                    masking=Masking(config.masking, config.static_copies), seed=config.seed)
        if config.objective == "mlm":
            return MaskedLM(model_config(config.model, vocab_size + 1, causal=False, **sizes), corruption)
        length = config.seq_len or ENCODER_DECODER_SIZES[config.model].seq_len
        return BertStyle(encoder_decoder_config(config.model, vocab_size + 1, seq_len=length, target_len=length,
                                                positions=config.positions), corruption, eos_id=eos_id)
    encoder_length, tokens_length, targets_length = span_corruption_shape(config)
    # The embedding holds the tokenizer's ids, then the sentinels (padded to a multiple of 64).
    sizes = encoder_decoder_config(config.model, vocab_size + NUM_SENTINELS, seq_len=encoder_length,
                                   target_len=targets_length, positions=config.positions)
    return SpanCorruption(sizes, tokens_length, config.noise_density, config.mean_noise_span,
                          first_sentinel=vocab_size, eos_id=eos_id, seed=config.seed)


Objective = CausalLM | PrefixLM | MaskedLM | SpanCorruption | BertStyle
