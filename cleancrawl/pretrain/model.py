"""A GPT-2-style decoder: the config dataclass, the modules, and the FLOP count for MFU.

Pre-LayerNorm blocks, learned or rotary positions, input and output embeddings tied, causal
attention through `F.scaled_dot_product_attention` (flash kernels on GPU). The same model serves
two more objectives (`pretrain.objectives`): a prefix LM (full attention over each sequence's
prefix, causal after it: `forward(..., prefix_len=)`) and, with `causal=False`, BERT's masked LM
(an encoder: every token sees every other). Targets equal to IGNORE_INDEX carry no loss. Read top to bottom:
config and named sizes, attention, MLP, block, the model, then the optimiser groups and FLOPs.
The attention, MLP and block are also T5's (`pretrain.encoder_decoder`; bidirectional in its encoder).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100  # a target carrying no loss: a prefix LM's prefix, a masked LM's unmasked tokens


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 50304      # padded up from the tokenizer's size; see `with_vocab`
    seq_len: int = 1024          # the longest context the model is trained on
    n_layer: int = 12
    n_head: int = 12
    d_model: int = 768
    mlp_ratio: int = 4
    positions: str = "learned"   # "learned" (GPT-2) or "rotary" (RoPE on queries and keys)
    rope_base: float = 10000.0
    bias: bool = False           # biases in Linear and LayerNorm; GPT-2 had them, they buy nothing
    dropout: float = 0.0         # pretraining on more data than a model can memorise: 0
    causal: bool = True          # False: bidirectional attention (the masked LM's encoder)

    def __post_init__(self):
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_head {self.n_head}")
        if self.positions not in ("learned", "rotary"):
            raise ValueError(f"positions must be 'learned' or 'rotary', not {self.positions!r}")

    def with_vocab(self, vocab_size: int, multiple: int = 64) -> "GPTConfig":
        """This size for a tokenizer of `vocab_size` ids, padded to a multiple for fast matmuls."""
        return replace(self, vocab_size=(vocab_size + multiple - 1) // multiple * multiple)

    def to_dict(self) -> dict:
        return asdict(self)


# Named sizes. The GPT-2 ones are the paper's (124M and 350M counted with the 50257-token
# vocabulary); the small ones exist so that tests and a CPU demo run in seconds and minutes.
MODEL_SIZES: dict[str, GPTConfig] = {
    "gpt2-tiny": GPTConfig(seq_len=64, n_layer=2, n_head=2, d_model=64),
    "gpt2-mini": GPTConfig(seq_len=128, n_layer=4, n_head=4, d_model=128),
    "gpt2-small-cpu": GPTConfig(seq_len=256, n_layer=6, n_head=6, d_model=384),
    "gpt2-124m": GPTConfig(seq_len=1024, n_layer=12, n_head=12, d_model=768),
    "gpt2-350m": GPTConfig(seq_len=1024, n_layer=24, n_head=16, d_model=1024),
}


def model_config(name: str, vocab_size: int, **overrides) -> GPTConfig:
    """The named size for this vocabulary, with any fields overridden (seq_len, positions, ...)."""
    if name not in MODEL_SIZES:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODEL_SIZES)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return replace(MODEL_SIZES[name], **overrides).with_vocab(vocab_size)


# ---------------------------------------------------------------------------------------------
# Rotary position embedding


def rotary_tables(head_dim: int, seq_len: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of position * frequency, shape (seq_len, head_dim / 2)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of x's last dimension; x is (B, H, T, head_dim)."""
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos[: x.shape[-2]].to(x.dtype), sin[: x.shape[-2]].to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


# ---------------------------------------------------------------------------------------------
# Modules


class SelfAttention(nn.Module):
    """Multi-head self-attention: causal (the GPT, T5's decoder) or bidirectional (T5's encoder).

    `max_len` sizes the rotary tables: the config's seq_len unless given (T5's decoder: target_len).
    """

    def __init__(self, config: GPTConfig, causal: bool = True, max_len: int | None = None):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.d_model // config.n_head
        self.causal = causal
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=config.bias)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=config.bias)
        self.proj.is_residual_output = True
        self.dropout = config.dropout
        self.rotary = config.positions == "rotary"
        if self.rotary:
            cos, sin = rotary_tables(self.head_dim, max_len or config.seq_len, config.rope_base)
            # Not in the state dict: recomputed from the config, identical on every rank.
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`attn_mask` (B, 1, T, T), True where a query may see a key, replaces the causal mask."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        if self.rotary:
            q = apply_rotary(q, self.rope_cos, self.rope_sin)
            k = apply_rotary(k, self.rope_cos, self.rope_sin)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=self.causal and attn_mask is None,
            dropout_p=self.dropout if self.training else 0.0,
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return F.dropout(self.proj(y), self.dropout, self.training)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.d_model
        self.up = nn.Linear(config.d_model, hidden, bias=config.bias)
        self.down = nn.Linear(hidden, config.d_model, bias=config.bias)
        self.down.is_residual_output = True
        self.dropout = config.dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.down(F.gelu(self.up(x), approximate="tanh")), self.dropout, self.training)


class Block(nn.Module):
    """Pre-LayerNorm: normalise, transform, add back — the residual stream itself is never normalised."""

    def __init__(self, config: GPTConfig, causal: bool = True):
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.d_model, bias=config.bias)
        self.attn = SelfAttention(config, causal=causal)
        self.ln_mlp = nn.LayerNorm(config.d_model, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_attn(x), attn_mask)
        return x + self.mlp(self.ln_mlp(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.position_embedding = (
            nn.Embedding(config.seq_len, config.d_model) if config.positions == "learned" else None
        )
        self.blocks = nn.ModuleList(Block(config, causal=config.causal) for _ in range(config.n_layer))
        self.ln_final = nn.LayerNorm(config.d_model, bias=config.bias)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.lm_head.weight = self.token_embedding.weight  # weight tying
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # GPT-2: N(0, 0.02), and projections into the residual stream scaled by 1/sqrt(2 * layers)
        # so that the stream's variance does not grow with depth.
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "is_residual_output", False):
                std /= math.sqrt(2 * self.config.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, prefix_len: torch.Tensor | None = None):
        """Logits (B, T, vocab) when no targets are given, else the mean cross-entropy over the
        targets that are not IGNORE_INDEX. With `prefix_len` (B,), the first prefix_len[b] tokens of
        row b see each other fully and the rest attend causally (T5's prefix LM)."""
        T = idx.shape[1]
        if T > self.config.seq_len:
            raise ValueError(f"sequence of {T} tokens is longer than the model's seq_len {self.config.seq_len}")
        attn_mask = None
        if prefix_len is not None:
            position = torch.arange(T, device=idx.device)
            causal = position[None, :] <= position[:, None]                         # (T, T): key <= query
            in_prefix = position[None, None, :] < prefix_len.view(-1, 1, 1)           # (B, 1, T): key in prefix
            attn_mask = (causal[None] | in_prefix)[:, None]                          # (B, 1, T, T)
        x = self.token_embedding(idx)
        if self.position_embedding is not None:
            x = x + self.position_embedding(torch.arange(T, device=idx.device))
        x = F.dropout(x, self.config.dropout, self.training)
        for block in self.blocks:
            x = block(x, attn_mask)
        logits = self.lm_head(self.ln_final(x))
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1),
                               ignore_index=IGNORE_INDEX)

    # -----------------------------------------------------------------------------------------
    # Counting and optimising

    def num_params(self, include_position_embedding: bool = True) -> int:
        """Parameters, the tied embedding counted once."""
        n = sum(p.numel() for p in self.parameters())
        if not include_position_embedding and self.position_embedding is not None:
            n -= self.position_embedding.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token: 6·N for the matmuls (forward 2, backward 4) plus attention.

        N excludes the position table (a lookup) but keeps the tied embedding, which is also the
        output projection. Attention scores and the weighted sum add 12·layers·d_model·T (PaLM,
        appendix B; nanoGPT counts the same way), with no discount for the causal mask.
        """
        c = self.config
        T = seq_len or c.seq_len
        return 6 * self.num_params(include_position_embedding=False) + 12 * c.n_layer * c.d_model * T

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: decay the matrices (and embedding), never the gains and biases."""
        params = [p for p in self.parameters() if p.requires_grad]
        return [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
