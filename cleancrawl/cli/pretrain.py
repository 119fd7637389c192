"""`cleancrawl pretrain` and `cleancrawl experiment {repetition,report}`: options in, one call out.

Counts accept scientific notation (`--budget-tokens 2e8`, `--unique-tokens 2e8,5e7,1.25e7`).
`--objective span-corruption` trains a t5-* encoder-decoder with T5's objective instead of a GPT;
without `--model`, each objective has its own default (gpt2-tiny, t5-tiny).
"""
from __future__ import annotations

import argparse

from cleancrawl.corpus.errors import UserError

# The names pretrain.objectives defines, spelt out so that building the parser imports no torch
# (`cleancrawl --help` starts in a fraction of a second); tests/test_cli_conventions.py keeps them equal.
OBJECTIVES = ("causal-lm", "span-corruption")
DEFAULT_MODEL = {"causal-lm": "gpt2-tiny", "span-corruption": "t5-tiny"}
ALL_MODELS = ["gpt2-tiny", "gpt2-mini", "gpt2-small-cpu", "gpt2-124m", "gpt2-350m",
              "t5-tiny", "t5-mini", "t5-small", "t5-base"]


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


def add_train_arguments(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """The training options, shared by `pretrain` (also `python -m cleancrawl.pretrain pretrain`, torchrun's entry) and `experiment repetition`."""
    default_models = " or ".join(f"{m} for {o}" for o, m in DEFAULT_MODEL.items())
    parser.add_argument("--tokens", required=True, help="token directory (holding manifest.json); gs:// is staged locally")
    parser.add_argument("--out", required=True, help="run directory" + (" for the sweep" if sweep else ""))
    if sweep:
        parser.add_argument("--model", default=None,
                            help=f"one or more of {', '.join(ALL_MODELS)}, comma-separated "
                                 f"(default {default_models})")
        parser.add_argument("--unique-tokens", type=parse_count_list, required=True,
                            help="unique-data sizes to sweep, comma-separated ('all' for every token)")
    else:
        parser.add_argument("--model", default=None, choices=ALL_MODELS, help=f"default {default_models}")
        parser.add_argument("--unique-tokens", type=parse_count, default=None,
                            help="repeat a fixed subset of this many tokens until the budget is spent")
        parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
        parser.add_argument("--stop-after-steps", type=int, default=None,
                            help="stop early without finishing, as if killed (resume later with --resume)")
    parser.add_argument("--objective", choices=list(OBJECTIVES), default="causal-lm",
                        help="causal-lm: a GPT predicts the next token (gpt2-* models); span-corruption: "
                             "T5's objective on an encoder-decoder (t5-* models). Default causal-lm")
    parser.add_argument("--noise-density", type=float, default=0.15,
                        help="span corruption: share of the tokens dropped (default 0.15)")
    parser.add_argument("--mean-noise-span", type=float, default=3.0,
                        help="span corruption: mean length of a dropped span (default 3)")
    parser.add_argument("--budget-tokens", type=parse_count, default=200_000_000,
                        help="training tokens (default 2e8); for span corruption, raw tokens before corruption")
    parser.add_argument("--seq-len", type=int, default=None,
                        help="context length (default: the model size's); for span corruption, the encoder's "
                             "input length after corruption")
    parser.add_argument("--positions", choices=["learned", "rotary"], default=None)
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per optimiser step, all ranks together")
    parser.add_argument("--micro-batch", type=int, default=None, help="sequences per forward pass per rank")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--min-lr-ratio", type=float, default=0.1)
    parser.add_argument("--warmup-steps", type=int, default=None, help="default: 5%% of the steps")
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--validation-tokens", type=parse_count, default=262_144,
                        help="tokens per evaluation; held out of train by hash if the validation split is smaller")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float32"], default="auto",
                        help="auto: bf16 autocast on GPU, float32 on CPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--fsdp", action="store_true", help="shard with FSDP instead of DDP (larger models)")
    parser.add_argument("--peak-flops", type=parse_count, default=None,
                        help="peak FLOP/s per device for MFU (default: looked up for known GPUs)")
    parser.add_argument("--tokens-cache", default="/tmp/cleancrawl-tokens",
                        help="local directory where a remote --tokens (gs://, s3://) is staged, per node")


def train_config_from_args(args: argparse.Namespace, **overrides):
    from cleancrawl.pretrain.objectives import DEFAULT_MODEL
    from cleancrawl.pretrain.train import TrainConfig

    values = dict(
        tokens=args.tokens, out=args.out, model=args.model or DEFAULT_MODEL[args.objective],
        objective=args.objective, noise_density=args.noise_density, mean_noise_span=args.mean_noise_span,
        budget_tokens=args.budget_tokens,
        unique_tokens=getattr(args, "unique_tokens", None), seq_len=args.seq_len, positions=args.positions,
        batch_size=args.batch_size, micro_batch=args.micro_batch, lr=args.lr, min_lr_ratio=args.min_lr_ratio,
        warmup_steps=args.warmup_steps, weight_decay=args.weight_decay, grad_clip=args.grad_clip,
        validation_tokens=args.validation_tokens, eval_every=args.eval_every, log_every=args.log_every,
        checkpoint_every=args.checkpoint_every, resume=getattr(args, "resume", False),
        stop_after_steps=getattr(args, "stop_after_steps", None), seed=args.seed, device=args.device,
        dtype=args.dtype, compile=args.compile, fsdp=args.fsdp, peak_flops=args.peak_flops,
        tokens_cache=args.tokens_cache,
    )
    values.update(overrides)
    return TrainConfig(**values)


# ---------------------------------------------------------------------------------------------
# Subcommands


def _run_pretrain(args: argparse.Namespace) -> int:
    import torch.distributed as dist
    from cleancrawl.pretrain.train import train

    try:
        summary = train(train_config_from_args(args))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0 if summary.get("finished") else 3  # 3: stopped early, continue with --resume


def _run_repetition(args: argparse.Namespace) -> int:
    import torch.distributed as dist
    from cleancrawl.pretrain.experiment import repetition_sweep
    from cleancrawl.pretrain.objectives import DEFAULT_MODEL

    models = [m.strip() for m in (args.model or DEFAULT_MODEL[args.objective]).split(",") if m.strip()]
    if not models:
        raise UserError("--model: no model named")
    base = train_config_from_args(args, model=models[0], unique_tokens=None, resume=True)
    try:
        summaries = repetition_sweep(base, models=models, unique_tokens=args.unique_tokens)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0 if len(summaries) == len(models) * len(args.unique_tokens) else 3


def _run_report(args: argparse.Namespace) -> int:
    from cleancrawl.pretrain.report import write_report

    paths = write_report(args.sweep_dir)
    for path in paths:
        print(path)
    return 0


def register(subparsers) -> None:
    pretrain = subparsers.add_parser(
        "pretrain", help="train a GPT-2-style model (or a T5-style encoder-decoder) on token shards",
        description="Train a GPT-2-style decoder on token shards, or with --objective span-corruption a "
                    "T5-style encoder-decoder. Under torchrun, one process per device.")
    add_train_arguments(pretrain)
    pretrain.set_defaults(func=_run_pretrain, accepts_filesystem_options=True)  # --tokens s3://... settings

    experiment = subparsers.add_parser("experiment", help="pretraining experiments (repetition sweep, report)")
    sub = experiment.add_subparsers(dest="experiment", metavar="EXPERIMENT")
    sub.required = True
    repetition = sub.add_parser(
        "repetition", help="sweep unique-data sizes at a fixed token budget, then report",
        description="Train one run per (model, unique-token count) at the same token budget, so that runs "
                    "differ only in how often their data repeats; finished runs are skipped and "
                    "interrupted ones resumed. Writes the report into OUT.")
    add_train_arguments(repetition, sweep=True)
    repetition.set_defaults(func=_run_repetition, accepts_filesystem_options=True)
    report = sub.add_parser("report", help="table and plots for a finished sweep",
                            description="Write results.md, results.csv, PNG plots and report.html into the sweep directory.")
    report.add_argument("sweep_dir")
    report.set_defaults(func=_run_report)
