"""A T5-style encoder-decoder for span corruption, built from the GPT's pieces (`pretrain.model`).

The encoder is the GPT's pre-LayerNorm block with bidirectional attention; each decoder block
adds cross-attention over the encoder's output between causal self-attention and the MLP. One
embedding serves the encoder's inputs, the decoder's inputs and the output head (tied, as in
T5 v1.0). Positions are the GPT's: learned tables (one per stack) or rotary in self-attention;
cross-attention has none, as in T5. Read top to bottom: config and named sizes,
cross-attention, the decoder block, the model, then counting and optimising.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from cleancrawl.pretrain.model import IGNORE_INDEX, MLP, Block, GPTConfig, SelfAttention


@dataclass(frozen=True)
class EncoderDecoderConfig(GPTConfig):
    """The GPT's fields, read for both stacks: `n_layer` layers in each of the encoder and the
    decoder (T5's num_layers), `seq_len` the encoder's input length; plus the decoder's length."""
    target_len: int = 114        # decoder tokens; for span corruption, from `span_corruption_lengths`

    def __post_init__(self):
        super().__post_init__()
        if self.target_len < 1:
            raise ValueError(f"target_len must be positive, not {self.target_len}")


# Named sizes. t5-small and t5-base have T5's shapes (60M and 220M with its 32k vocabulary, 6+6
# and 12+12 layers); the tiny and mini ones are for tests and CPU runs. target_len is set per run
# from seq_len and the noise settings (`pretrain.objectives`).
ENCODER_DECODER_SIZES: dict[str, EncoderDecoderConfig] = {
    "t5-tiny": EncoderDecoderConfig(seq_len=64, target_len=14, n_layer=2, n_head=2, d_model=64),
    "t5-mini": EncoderDecoderConfig(seq_len=128, target_len=29, n_layer=4, n_head=4, d_model=128),
    "t5-small": EncoderDecoderConfig(seq_len=512, target_len=114, n_layer=6, n_head=8, d_model=512),
    "t5-base": EncoderDecoderConfig(seq_len=512, target_len=114, n_layer=12, n_head=12, d_model=768),
}


def encoder_decoder_config(name: str, vocab_size: int, **overrides) -> EncoderDecoderConfig:
    """The named size for `vocab_size` ids (sentinels included), fields overridden where not None."""
    if name not in ENCODER_DECODER_SIZES:
        raise KeyError(f"unknown encoder-decoder model {name!r}; known: {', '.join(ENCODER_DECODER_SIZES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(ENCODER_DECODER_SIZES[name], **overrides).with_vocab(vocab_size)


# ---------------------------------------------------------------------------------------------
# Modules


class CrossAttention(nn.Module):
    """Decoder queries over the encoder's output: every input position visible, no positions."""

    def __init__(self, config: EncoderDecoderConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.d_model // config.n_head
        self.q = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.kv = nn.Linear(config.d_model, 2 * config.d_model, bias=config.bias)  # on encoder tokens
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.proj.is_residual_output = True
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        S = memory.shape[1]
        q = self.q(x).view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k, v = (t.view(B, S, self.n_head, self.head_dim).transpose(1, 2) for t in self.kv(memory).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return F.dropout(self.proj(y), self.dropout, self.training)


class DecoderBlock(nn.Module):
    """Pre-LayerNorm, three sublayers: causal self-attention, cross-attention, MLP."""

    def __init__(self, config: EncoderDecoderConfig):
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = SelfAttention(config, causal=True, max_len=config.target_len)
        self.ln_cross = nn.LayerNorm(config.d_model, bias=config.bias)
        self.cross = CrossAttention(config)
        self.ln_mlp = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_attn(x))
        x = x + self.cross(self.ln_cross(x), memory)
        return x + self.mlp(self.ln_mlp(x))


class EncoderDecoder(nn.Module):
    def __init__(self, config: EncoderDecoderConfig):
        super().__init__()
        self.config = config
        learned = config.positions == "learned"
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)  # shared by all three
        self.encoder_positions = nn.Embedding(config.seq_len, config.d_model) if learned else None
        self.decoder_positions = nn.Embedding(config.target_len, config.d_model) if learned else None
        self.encoder_blocks = nn.ModuleList(Block(config, causal=False) for _ in range(config.n_layer))
        self.encoder_ln = nn.LayerNorm(config.d_model, bias=config.bias)
        self.decoder_blocks = nn.ModuleList(DecoderBlock(config) for _ in range(config.n_layer))
        self.decoder_ln = nn.LayerNorm(config.d_model, bias=config.bias)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # weight tying
        self._init_weights()

    def _init_weights(self) -> None:
        # The GPT's: N(0, 0.02), and projections into the residual stream scaled by
        # 1/sqrt(residual additions in the stack): 2 per encoder block, 3 per decoder block.
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        for blocks, per_block in ((self.encoder_blocks, 2), (self.decoder_blocks, 3)):
            for module in blocks.modules():
                if getattr(module, "is_residual_output", False):
                    nn.init.normal_(module.weight, mean=0.0, std=0.02 / math.sqrt(per_block * self.config.n_layer))

    def _embed(self, ids: torch.Tensor, positions: nn.Embedding | None, max_len: int, what: str) -> torch.Tensor:
        T = ids.shape[1]
        if T > max_len:
            raise ValueError(f"{what} of {T} tokens is longer than the model's {max_len}")
        x = self.token_embedding(ids)
        if positions is not None:
            x = x + positions(torch.arange(T, device=ids.device))
        return F.dropout(x, self.config.dropout, self.training)

    def encode(self, inputs: torch.Tensor) -> torch.Tensor:
        """The encoder's output, (B, S, d_model): what every decoder block attends to."""
        x = self._embed(inputs, self.encoder_positions, self.config.seq_len, "input")
        for block in self.encoder_blocks:
            x = block(x)
        return self.encoder_ln(x)

    def decode(self, decoder_inputs: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) for the next target token at each decoder position."""
        x = self._embed(decoder_inputs, self.decoder_positions, self.config.target_len, "decoder input")
        for block in self.decoder_blocks:
            x = block(x, memory)
        return self.lm_head(self.decoder_ln(x))

    def forward(self, inputs: torch.Tensor, decoder_inputs: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits when no targets are given, else the mean cross-entropy over the targets that
        are not IGNORE_INDEX. `decoder_inputs` are the targets shifted right behind a start token."""
        logits = self.decode(decoder_inputs, self.encode(inputs))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=IGNORE_INDEX)

    # -----------------------------------------------------------------------------------------
    # Counting and optimising

    def num_params(self, include_position_embedding: bool = True) -> int:
        """Parameters, the shared embedding counted once."""
        n = sum(p.numel() for p in self.parameters())
        if not include_position_embedding:
            n -= sum(t.weight.numel() for t in (self.encoder_positions, self.decoder_positions) if t is not None)
        return n

    def flops_per_example(self, input_len: int | None = None, target_len: int | None = None) -> float:
        """Training FLOPs (forward and backward) for one example of S input and T target tokens.

        6 · (parameters · the tokens they act on): the encoder's on S tokens, and the
        cross-attention key/value projections on S too (they read the encoder's output); the rest
        of the decoder and the tied output head on T. The embedding lookups cost nothing. Attention
        adds 12 · layers · d_model · (query tokens × key tokens) for each of encoder self-attention
        (S·S), decoder self-attention (T·T, no discount for the mask) and cross-attention (T·S),
        the GPT's count (`GPT.flops_per_token`) applied to each.
        """
        c = self.config
        S, T = input_len or c.seq_len, target_len or c.target_len

        def count(modules) -> int:
            return sum(p.numel() for m in modules for p in m.parameters())

        encoder = count([*self.encoder_blocks, self.encoder_ln])
        cross_kv = count([block.cross.kv for block in self.decoder_blocks])
        decoder = count([*self.decoder_blocks, self.decoder_ln]) - cross_kv
        head = self.token_embedding.weight.numel()
        matmuls = 6 * ((encoder + cross_kv) * S + (decoder + head) * T)
        attention = 12 * c.n_layer * c.d_model * (S * S + T * T + T * S)
        return float(matmuls + attention)

    def flops_per_token(self, tokens_per_example: int, input_len: int | None = None,
                        target_len: int | None = None) -> float:
        """Training FLOPs per token, for whatever an example counts as its tokens: for span
        corruption, the raw text tokens it was cut from (what tokens/s counts). Unlike
        `GPT.flops_per_token(seq_len)`, the first argument is that count, not a length."""
        return self.flops_per_example(input_len, target_len) / tokens_per_example

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay the matrices (and embedding), never the gains and biases."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
