"""T5's span corruption, as pure numpy functions (Raffel et al. 2020, section 3.1.4).

A run of raw tokens loses about 15% of them in spans of mean length 3; the encoder sees the rest
with each dropped span replaced by one sentinel, and the decoder writes each sentinel followed
by the tokens it stands for:

    tokens   Thank you for inviting me to your party last week .
    inputs   Thank you <0> me to your party <1> week . <eos>
    targets  <0> for inviting <1> last <eos>

Each function follows its namesake in t5/data/preprocessors.py (google-research/
text-to-text-transfer-transformer): `random_spans_noise_mask`, `random_spans_helper` (here
`span_corruption_lengths`), `noise_span_to_unique_sentinel` and `nonnoise_span_to_unique_sentinel`.
Two differences: randomness comes from a numpy Generator, which `mask_rng` derives from
(seed, sequence index) so that the mask of a training sequence is a function of its index alone;
and sentinels count up from the first id above the tokenizer's vocabulary (T5 counts down from
the top of its vocabulary), so any tokenizer works without reserving ids.
"""
from __future__ import annotations

import numpy as np

NUM_SENTINELS = 100           # T5's 100 extra ids; one per noise span, so a sequence has at most 100 spans
MASK_SEED_SALT = 0x5350414E   # keeps mask randomness apart from the stream's epoch shuffles ([seed, epoch])


def mask_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for the mask of sequence `index`: resume and every rank see the same masks."""
    return np.random.default_rng([MASK_SEED_SALT, seed, index])


def span_counts(length: int, noise_density: float, mean_noise_span_length: float) -> tuple[int, int]:
    """(noise tokens, noise spans) in a mask of `length` tokens, exactly as the mask draws them."""
    num_noise_tokens = int(round(length * noise_density))
    num_noise_tokens = min(max(num_noise_tokens, 1), length - 1)  # at least one of each kind
    num_noise_spans = max(int(round(num_noise_tokens / mean_noise_span_length)), 1)
    # T5 would build empty spans past this; here the span count is capped instead (only ever
    # reached at densities near 0 or 1, or mean spans near 1, where one kind has fewer tokens
    # than there are spans to fill).
    num_noise_spans = min(num_noise_spans, num_noise_tokens, length - num_noise_tokens)
    return num_noise_tokens, num_noise_spans


def random_segmentation(num_items: int, num_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `num_items` into `num_segments` positive lengths at random; they sum to `num_items`.

    As T5: shuffle (num_segments - 1) ones among (num_items - 1) cut positions, so every way of
    cutting is equally likely.
    """
    first_in_segment = np.zeros(num_items, dtype=np.int64)
    first_in_segment[1:] = rng.permutation(np.arange(num_items - 1) < num_segments - 1)
    segment_id = np.cumsum(first_in_segment)
    return np.bincount(segment_id, minlength=num_segments)


def random_spans_noise_mask(length: int, noise_density: float, mean_noise_span_length: float,
                            rng: np.random.Generator) -> np.ndarray:
    """A boolean mask of `length`, True on noise: round(length · density) noise tokens in
    round(noise / mean span) spans, alternating with as many non-noise spans, non-noise first."""
    if length < 2:
        raise ValueError(f"cannot mask {length} token(s): need at least one noise and one kept token")
    num_noise_tokens, num_noise_spans = span_counts(length, noise_density, mean_noise_span_length)
    num_nonnoise_tokens = length - num_noise_tokens
    noise_span_lengths = random_segmentation(num_noise_tokens, num_noise_spans, rng)
    nonnoise_span_lengths = random_segmentation(num_nonnoise_tokens, num_noise_spans, rng)
    interleaved = np.stack([nonnoise_span_lengths, noise_span_lengths], axis=1).reshape(-1)
    return np.repeat(np.tile([False, True], num_noise_spans), interleaved)


def span_corruption_lengths(inputs_length: int, noise_density: float = 0.15,
                            mean_noise_span_length: float = 3.0) -> tuple[int, int]:
    """(tokens_length, targets_length): the raw tokens to cut so the encoder input is exactly
    `inputs_length`, and the decoder target length that follows. T5's `random_spans_helper`
    with one sentinel per span on each side and an eos ending each: 512 -> (568, 114)."""

    def corrupted_lengths(tokens_length: int) -> tuple[int, int]:
        num_noise_tokens, num_noise_spans = span_counts(tokens_length, noise_density, mean_noise_span_length)
        inputs = tokens_length - num_noise_tokens + num_noise_spans + 1
        targets = num_noise_tokens + num_noise_spans + 1
        return inputs, targets

    if inputs_length < 3:
        raise ValueError(f"inputs_length {inputs_length}: too short to hold a span, a sentinel and eos")
    tokens_length = inputs_length - 1
    while corrupted_lengths(tokens_length + 1)[0] <= inputs_length:
        tokens_length += 1
    _, targets_length = corrupted_lengths(tokens_length)
    if noise_density == 0.5 and targets_length > inputs_length:  # T5's hack: targets no longer than inputs
        tokens_length -= 1
        targets_length -= 1
    return tokens_length, targets_length


def noise_span_to_unique_sentinel(tokens: np.ndarray, noise_mask: np.ndarray,
                                  sentinel_ids: np.ndarray) -> np.ndarray:
    """Tokens with noise span i replaced by the single token sentinel_ids[i]."""
    previous_is_noise = np.concatenate([[False], noise_mask[:-1]])
    first_noise = noise_mask & ~previous_is_noise
    subsequent_noise = noise_mask & previous_is_noise
    num_spans = int(first_noise.sum())
    if num_spans > len(sentinel_ids):
        raise ValueError(f"{num_spans} spans but only {len(sentinel_ids)} sentinels")
    span_index = np.cumsum(first_noise) - 1
    out = tokens.copy()
    out[first_noise] = np.asarray(sentinel_ids)[span_index[first_noise]]
    return out[~subsequent_noise]


def nonnoise_span_to_unique_sentinel(tokens: np.ndarray, noise_mask: np.ndarray,
                                     sentinel_ids: np.ndarray) -> np.ndarray:
    """The targets: each kept span becomes a sentinel, the noise stays. With a mask that starts
    with a kept span, sentinel i is followed by the tokens of noise span i."""
    return noise_span_to_unique_sentinel(tokens, ~noise_mask, sentinel_ids)


def corrupt(tokens: np.ndarray, mask: np.ndarray, sentinel_ids: np.ndarray,
            eos_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) for the encoder and decoder; with `eos_id`, both end with it, as T5's
    inputs and targets do (so lengths are those `span_corruption_lengths` promises)."""
    tokens, mask = np.asarray(tokens), np.asarray(mask, dtype=bool)
    if tokens.shape != mask.shape:
        raise ValueError(f"tokens {tokens.shape} and mask {mask.shape} differ in shape")
    inputs = noise_span_to_unique_sentinel(tokens, mask, sentinel_ids)
    targets = nonnoise_span_to_unique_sentinel(tokens, mask, sentinel_ids)
    if eos_id is not None:
        inputs, targets = np.append(inputs, eos_id), np.append(targets, eos_id)
    return inputs, targets
