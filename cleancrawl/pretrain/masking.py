"""BERT's masking as pure numpy functions: an i.i.d. noise mask, the 80/10/10 corruption, and masks
keyed to the text so that they are static or dynamic across epochs.

BERT (Devlin et al. 2019, section 3.1) picks 15% of the tokens; 80% of those become a mask token,
10% a random token and 10% stay as they were, and the model predicts the originals. T5 (Raffel et
al. 2020, section 3.3.1) compares the same corruption on an encoder-decoder ("BERT-style"), with
each token picked independently (`iid_noise_mask` in t5/data/preprocessors.py) and the decoder
writing out the whole original text.

RoBERTa (Liu et al. 2019, section 4.1) compares BERT's **static** masking (each sequence masked
once while the data is prepared, the data duplicated so each sequence is seen with 10 masks over 40
epochs) with **dynamic** masking (a new mask every time a sequence is fed to the model). Here a
token's randomness is a hash of (seed, where the token lies in the corpus, round): the place is its
shard and offset, so the same text has the same draws in every stream and every subset that holds
it, whatever document order an epoch reads it in. The round is what masking changes:

    dynamic           round = the epoch the stream is in: a new mask each time the text is read
    static, K copies  round = epoch mod K: one mask (K = 1) or K masks in turn, as BERT's duplication

Validation reads held-out text once (epoch 0, round 0 in either mode), so static and dynamic runs
are scored on the same corrupted text, and every evaluation of a run on the same draws.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleancrawl.pretrain.config import MASKINGS

MASK_SALT = 0x4D41534B           # "MASK": apart from span corruption's and the stream's randomness
BERT_SPLIT = (0.8, 0.1, 0.1)     # of the corrupted tokens: to the mask token, to a random token, unchanged
DRAWS = 3                        # uniforms per token: picked?, what it becomes, which random token


@dataclass(frozen=True)
class Masking:
    """Which round of masks a token gets in each epoch."""
    mode: str = "dynamic"
    copies: int = 1              # static: masks per token, used in turn

    def __post_init__(self):
        if self.mode not in MASKINGS:
            raise ValueError(f"masking must be one of {', '.join(MASKINGS)}, not {self.mode!r}")
        if self.copies < 1 or (self.mode == "dynamic" and self.copies != 1):
            raise ValueError(f"static copies must be 1 or more, and 1 with dynamic masking, not {self.copies}")

    def rounds(self, epochs: np.ndarray) -> np.ndarray:
        epochs = np.asarray(epochs, dtype=np.int64)
        return epochs if self.mode == "dynamic" else epochs % self.copies

    @property
    def label(self) -> str:
        """'dynamic', 'static', or 'static-K' for K copies: the report's masking column."""
        return self.mode if self.copies == 1 else f"{self.mode}-{self.copies}"


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 whose outputs look independent for close inputs."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def token_uniforms(seed: int, shard: np.ndarray, offset: np.ndarray, rounds: np.ndarray,
                   draws: int = DRAWS) -> np.ndarray:
    """(n, draws) uniforms in [0, 1) for n tokens, each a function of (seed, shard, offset, round) alone."""
    with np.errstate(over="ignore"):  # uint64 arithmetic wraps, as the hash wants
        key = _mix(np.uint64(MASK_SALT) ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF))
        key = _mix(key + np.asarray(shard, dtype=np.uint64))
        key = _mix(key ^ np.asarray(offset, dtype=np.uint64))
        key = _mix(key + np.asarray(rounds, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        bits = _mix(key[:, None] + np.arange(1, draws + 1, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03))
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def bert_corrupt(tokens: np.ndarray, uniforms: np.ndarray, noise_density: float, mask_id: int,
                 vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(corrupted tokens, noise mask): each token picked with probability `noise_density`; of the
    picked, 80% become `mask_id`, 10% a random id below `vocab_size`, 10% stay (BERT_SPLIT)."""
    tokens = np.asarray(tokens)
    noise = uniforms[:, 0] < noise_density
    to_mask = noise & (uniforms[:, 1] < BERT_SPLIT[0])
    to_random = noise & ~to_mask & (uniforms[:, 1] < BERT_SPLIT[0] + BERT_SPLIT[1])
    corrupted = tokens.copy()
    corrupted[to_mask] = mask_id
    corrupted[to_random] = np.minimum((uniforms[to_random, 2] * vocab_size).astype(tokens.dtype), vocab_size - 1)
    return corrupted, noise
