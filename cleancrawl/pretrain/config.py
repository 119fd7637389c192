"""A pretraining run's options: `PretrainConfig` (one run) and `RepetitionConfig` (a sweep), without
torch, so that the CLI builds its parser in a fraction of a second.

Every field is declared with `cleancrawl.options.option`, which generates the command-line options
from it. The objectives and model names are defined here, torch-free, and `pretrain.objectives`
imports them (tests/pretrain/test_model.py ties the names to the model sizes). Counts accept
scientific notation (`--budget-tokens 2e8`).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

from cleancrawl.options import option

OBJECTIVES = ("causal-lm", "prefix-lm", "mlm", "span-corruption", "bert-style")
DEFAULT_MODEL = {"causal-lm": "gpt2-tiny", "prefix-lm": "gpt2-tiny", "mlm": "gpt2-tiny",
                 "span-corruption": "t5-tiny", "bert-style": "t5-tiny"}
CORRUPTING = ("mlm", "span-corruption", "bert-style")  # the objectives that mask: --masking applies to them
MASKINGS = ("dynamic", "static")
ALL_MODELS = ["gpt2-tiny", "gpt2-mini", "gpt2-small-cpu", "gpt2-124m", "gpt2-350m",
              "t5-tiny", "t5-mini", "t5-small", "t5-base"]
_DEFAULT_MODELS = "gpt2-tiny for causal-lm, prefix-lm and mlm, t5-tiny for span-corruption and bert-style"


def parse_count(text: str) -> int:
    """'2e8' -> 200000000; '1.25e7' -> 12500000; '3.1e6' -> 3100000."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive count: {text!r}")
    return int(round(value))


def parse_count_list(text: str) -> list[int | None]:
    """Comma-separated counts; 'all' means every training token."""
    return [None if part.strip() == "all" else parse_count(part) for part in text.split(",") if part.strip()]


@dataclass
class PretrainConfig:
    """One run. Token counts (budget, unique, validation) are raw tokens of the stream whatever
    the objective: with span corruption a sequence consumes more raw tokens (568) than its
    encoder input (`seq_len`, 512), and the budget, tokens seen and epochs count the 568, so that
    runs of either objective at one budget and one unique-token count see the same text as often.
    """
    tokens: str = option(help="token directory (holding manifest.json); gs:// is staged locally")
    out: str = option(help="run directory")
    model: str = option("gpt2-tiny", choices=ALL_MODELS, cli_default=None, help=f"default {_DEFAULT_MODELS}")
    objective: str = option("causal-lm", choices=list(OBJECTIVES), help=(
        "on gpt2-* models: causal-lm (a GPT predicts the next token), prefix-lm (full attention over a "
        "random prefix, next tokens after it), mlm (BERT's masked LM, bidirectional); on t5-* encoder-decoders: "
        "span-corruption (T5's objective), bert-style (T5's BERT-style denoising: the decoder writes the "
        "original text). Default causal-lm"))
    noise_density: float = option(0.15, help=(
        "corrupting objectives: share of the tokens corrupted (default 0.15)"))
    mean_noise_span: float = option(3.0, help="span corruption: mean length of a dropped span (default 3)")
    masking: str = option("dynamic", choices=list(MASKINGS), help=(
        "corrupting objectives: dynamic draws a new mask each time text is read (each epoch); static fixes "
        "each token's mask for every epoch (RoBERTa's comparison). Default dynamic"))
    static_copies: int = option(1, help=(
        "with --masking static: K masks per token, used in turn epoch after epoch (BERT: 10). Default 1"))
    # steps = budget // (batch_size · tokens a sequence reads)
    budget_tokens: int = option(200_000_000, type=parse_count, help=(
        "training tokens (default 2e8); for span corruption, raw tokens before corruption"))
    unique_tokens: int | None = option(None, type=parse_count, help=(  # None: all data
        "repeat a fixed subset of this many tokens until the budget is spent"))
    seq_len: int | None = option(None, help=(
        "context length (default: the model size's); for span corruption, the encoder's input length after "
        "corruption"))
    positions: str | None = option(None, choices=["learned", "rotary"],
                                   help="position encoding (default: the model size's)")
    batch_size: int = option(32, help="sequences per optimiser step, all ranks together")
    micro_batch: int | None = option(None, help="sequences per forward pass per rank")  # None: batch / world
    lr: float = option(1e-3, help="peak learning rate (default: %(default)s)")
    min_lr_ratio: float = option(0.1, help="the cosine schedule decays to lr x this (default: %(default)s)")
    warmup_steps: int | None = option(None, help="default: 5%% of the steps")
    weight_decay: float = option(0.1, help="AdamW weight decay (default: %(default)s)")
    betas: tuple[float, float] = option((0.9, 0.95), cli=False, help="AdamW betas")
    grad_clip: float = option(1.0, help="clip the gradient norm to this (default: %(default)s)")
    validation_tokens: int = option(262_144, type=parse_count, help=(
        "tokens per evaluation; held out of train by hash if the validation split is smaller"))
    evals: tuple[str, ...] = option((), flag="--eval", list="repeat", metavar="NAME=PATH", help=(
        "score bits per byte on this text at every evaluation (causal-lm): a text file (one document a "
        "line), a Parquet file or folder with a text column, a cleancrawl corpus, or a packaged text "
        "(wikitext, botchan); repeatable"))
    eval_every: int = option(100, help="evaluate every this many steps; the last step always (default: %(default)s)")
    log_every: int = option(10, help="log every this many steps (default: %(default)s)")
    checkpoint_every: int = option(500, help="checkpoint every this many steps (default: %(default)s)")
    resume: bool = option(False, help="continue from OUT/checkpoint.pt if present")
    stop_after_steps: int | None = option(None, help=(  # tests, time slices
        "stop early without finishing, as if killed (resume later with --resume)"))
    seed: int = option(0, help="model init and data order; the subset depends only on it (default: %(default)s)")
    device: str = option("auto", choices=["auto", "cuda", "cpu"], help="auto: cuda when available, else cpu")
    dtype: str = option("auto", choices=["auto", "bfloat16", "float32"],
                        help="auto: bf16 autocast on GPU, float32 on CPU")
    compile: bool = option(False, help="torch.compile the model")
    fsdp: bool = option(False, help="shard with FSDP instead of DDP (larger models)")
    peak_flops: float | None = option(None, type=parse_count, help=(
        "peak FLOP/s per device for MFU (default: looked up for known GPUs)"))
    prefetch: bool | None = option(None, cli=False, help="make the next micro-batch in a thread; None: on GPU only")
    tokens_cache: str = option("/tmp/cleancrawl-tokens", help=(
        "local directory where a remote --tokens (gs://, s3://) is staged, per node"))

    # Fields that define what a run computes: a resume must not change them.
    RUN_DEFINING = ("model", "objective", "noise_density", "mean_noise_span", "masking", "static_copies",
                    "budget_tokens", "unique_tokens", "seq_len", "positions", "batch_size", "lr", "min_lr_ratio",
                    "warmup_steps", "weight_decay", "betas", "grad_clip", "validation_tokens", "seed")

    @classmethod
    def from_options(cls, values: dict) -> "PretrainConfig":
        """From command-line / --config values: no --model is the objective's default model."""
        values = dict(values)
        values.setdefault("tokens", "")  # kept off the command line (`experiment datasets`: one per dataset)
        if values.get("model") is None:
            values["model"] = DEFAULT_MODEL[values.get("objective", "causal-lm")]
        if isinstance(values.get("betas"), list):
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class RepetitionConfig:
    """`cleancrawl experiment repetition`: one PretrainConfig per (model, unique-token count)."""

    train: PretrainConfig = option(
        help="the runs' options", exclude=("model", "unique_tokens", "masking", "resume", "stop_after_steps"),
        override={"out": dict(help="run directory for the sweep")})
    maskings: tuple[str, ...] = option((), flag="--masking", list="comma", metavar="MASKING[,MASKING]", help=(
        "corrupting objectives: dynamic, static or both (static,dynamic: both at every unique-token count, "
        "side by side in the report). Default dynamic"))
    models: str | None = option(None, flag="--model", help=(
        f"one or more of {', '.join(ALL_MODELS)}, comma-separated (default {_DEFAULT_MODELS})"))
    unique_tokens: tuple[int | None, ...] = option(
        (), type=parse_count_list, required=True,
        help="unique-data sizes to sweep, comma-separated ('all' for every token)")

    def model_names(self) -> list[str]:
        return [m.strip() for m in (self.models or DEFAULT_MODEL[self.train.objective]).split(",") if m.strip()]


@dataclass
class DatasetsConfig:
    """`cleancrawl experiment datasets`: one PretrainConfig per token directory, the same model and budget,
    every run scored on every --eval (T5's Table 8 at any scale)."""

    train: PretrainConfig = option(
        default_factory=lambda: PretrainConfig(tokens="", out=""),  # tokens: per dataset
        help="the runs' options", exclude=("tokens", "unique_tokens", "resume", "stop_after_steps"),
        override={"out": dict(help="directory for one run per dataset and the results (required)")})
    datasets: tuple[str, ...] = option(
        (), flag="--tokens", list="repeat", metavar="NAME=DIR", required=True, help=(
            "a dataset's token directory (from `cleancrawl tokenize`, each with its own tokenizer); repeatable"))


@dataclass
class ReportConfig:
    """`cleancrawl experiment report`: the tables and plots of a sweep's runs, written into its folder."""

    sweep_dir: str | None = option(None, cli=False, help="the sweep directory (the positional SWEEP_DIR)")


@dataclass
class FitConfig:
    """`cleancrawl experiment fit`: the law of repetition fitted to a sweep's results."""

    results_csv: str | None = option(None, cli=False, help="the results (the positional RESULTS.csv)")
    json: str | None = option(None, metavar="FIT.json", help=(
        "also write the fit (r_star, r_star_ci, E, B, beta, r2, t5_log_fit) as JSON here"))
    bootstrap: int = option(200, metavar="N", help=(
        "resamplings of the runs for R*'s 95%% interval (default: 200; 0: no interval)"))
    seed: int = option(0, help="seed of the bootstrap (default: 0)")
