"""Bits per byte on common evaluation texts (`--eval NAME=PATH`), comparable across tokenizers.

    bits per byte = total negative log-likelihood (nats) of the eval tokens / (UTF-8 bytes of the text × ln 2)

Each document is scored on its own, with no context from another: the model sees `<eos>` (the
separator it was trained to read before a document) and then predicts every token of the document;
the `<eos>` after it is not scored, and the bytes counted are exactly the document's UTF-8 bytes.
A document longer than the context is scored in windows of `seq_len` tokens moved `seq_len // 2`
at a time (the usual stride rule): every token is scored once, in the first window that contains it
after the previous window's last scored token, so each token after the first window has at least
half a context of preceding tokens.

Eval sources (`cleancrawl.eval_sets`, the reader `overlap` shares; local, gs:// or s3://): a text
file (one document per line, blank lines skipped; gzip read), a Parquet file with a `text` column,
or a folder — a cleancrawl corpus (its `validation/` shards), or else every `*.parquet` under it,
in sorted order. A bare NAME of one of the texts shipped in `cleancrawl/pretrain/eval_texts/`
(PACKAGED) is that text.

The text is encoded with the run's own tokenizer, the one the token directory's manifest names (its
file must still have the recorded sha256): HuggingFace `tokenizers` for a tokenizer.json, SentencePiece
for a .model, UTF-8 bytes for kind `bytes` (the tests' byte tokens). Both libraries are imported only
when an eval runs.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cleancrawl import eval_sets
from cleancrawl.corpus.errors import UserError

DATA_DIR = os.path.join(os.path.dirname(__file__), "eval_texts")  # not data/: pretrain/data.py is a module
LOGIT_BUDGET = 1 << 26  # floats of logits per forward pass (256 MB): fewer rows for long windows, large vocabularies
PACKAGED = {"wikitext": "wikitext-2-valid-slice.txt", "botchan": "botchan-slice.txt"}
PACKAGED_PATHS = {name: os.path.join(DATA_DIR, file) for name, file in PACKAGED.items()}


def parse_eval_spec(spec: str) -> tuple[str, str]:
    """`NAME=PATH` → (NAME, PATH); `PATH` → (its file name without suffix, PATH); a packaged NAME → its file."""
    return eval_sets.parse_eval_spec(spec, PACKAGED_PATHS)


def read_eval_texts(path: str) -> list[str]:
    """The documents of one eval source, in a fixed order, blank ones skipped (a corpus: its validation split)."""
    return eval_sets.read_texts(path, "--eval", split="validation")


class RunTokenizer:
    """The tokenizer a token directory was made with, from its manifest's `tokenizer` entry."""

    def __init__(self, tokens_dir: str, manifest: dict):
        info = manifest.get("tokenizer") or {}
        self.kind, self.eos_id = info.get("kind", ""), info.get("eos_id")
        if self.kind == "bytes":
            self._encode = lambda text: list(text.encode("utf-8"))
            return
        path = self._find(tokens_dir, info)
        if path.endswith(".model"):
            import sentencepiece

            sp = sentencepiece.SentencePieceProcessor(model_file=path)
            self._encode = lambda text: sp.encode(text)
        else:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(path)
            tok.encode_special_tokens = True  # as `cleancrawl tokenize`: text that looks like <eos> is text
            self._encode = lambda text: tok.encode(text, add_special_tokens=False).ids

    @staticmethod
    def _find(tokens_dir: str, info: dict) -> str:
        """The tokenizer file: copied into the token directory, else where the manifest says."""
        want = info.get("hash", "")
        candidates = [os.path.join(tokens_dir, info["copy"])] if info.get("copy") else []
        recorded = info.get("path") or ""
        if os.path.isdir(recorded):
            candidates += [os.path.join(recorded, n) for n in ("tokenizer.json", "tokenizer.model")]
        elif recorded:
            candidates.append(recorded)
        for path in candidates:
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest() == want:
                        return path
        raise UserError(f"--eval: the tokenizer of {tokens_dir} (sha256 {want[:12]}…, recorded at {recorded or '?'}) "
                        f"is neither in {os.path.join(tokens_dir, 'tokenizer')} nor at its recorded path with "
                        f"that sha256; re-tokenize, or copy the tokenizer into the token directory")

    def encode(self, text: str) -> list[int]:
        return list(self._encode(text))


@dataclass
class EvalSet:
    name: str
    path: str
    docs: list[list[int]]     # token ids per document
    num_bytes: int            # UTF-8 bytes of all documents

    @property
    def num_tokens(self) -> int:
        return sum(len(d) for d in self.docs)


def load_eval_sets(specs, tokenizer: RunTokenizer, vocab_size: int) -> list[EvalSet]:
    sets = []
    for spec, (name, path) in zip(specs, eval_sets.parse_eval_specs(specs, "--eval", PACKAGED_PATHS)):
        texts = read_eval_texts(path)
        docs = [tokenizer.encode(t) for t in texts]
        if any(i >= vocab_size for d in docs for i in d):
            raise UserError(f"--eval {spec}: the tokenizer gives ids beyond the model's vocabulary {vocab_size}")
        sets.append(EvalSet(name, path, docs, sum(len(t.encode("utf-8")) for t in texts)))
    return sets


def run_eval_sets(specs, tokens_dir: str, vocab_size: int, objective: str) -> list[EvalSet]:
    """A run's --eval sets, encoded with the tokenizer of its token directory (causal-lm only)."""
    if not specs:
        return []
    from cleancrawl.tokenizer.token_shards import read_manifest

    if objective != "causal-lm":
        raise UserError("--eval (bits per byte) scores a causal-lm; span-corruption models have no "
                        "next-token likelihood of a text")
    return load_eval_sets(specs, RunTokenizer(tokens_dir, read_manifest(tokens_dir)), vocab_size)


def windows(n: int, seq_len: int) -> list[tuple[int, int, int]]:
    """(begin, end, first scored) over n input positions: windows of seq_len, stride seq_len // 2."""
    stride = max(1, seq_len // 2)
    out, scored = [], 0
    for begin in range(0, n, stride):
        end = min(begin + seq_len, n)
        out.append((begin, end, scored))
        scored = end
        if end == n:
            break
    return out


@torch.no_grad()
def document_nats(model, docs: list[list[int]], eos_id: int, seq_len: int, device, batch_size: int = 16) -> float:
    """Total NLL (nats) of every document's tokens, each after `<eos>` alone."""
    pieces = []  # (input ids, target ids, number of leading targets not scored)
    for doc in docs:
        if not doc:
            continue
        seq = [eos_id] + list(doc)
        inputs, targets = seq[:-1], seq[1:]
        for begin, end, scored in windows(len(inputs), seq_len):
            pieces.append((inputs[begin:end], targets[begin:end], scored - begin))
    total = 0.0
    was_training = model.training
    model.eval()
    pieces.sort(key=lambda p: len(p[0]))  # similar lengths together: little padding
    vocab = model.lm_head.weight.shape[0] if hasattr(model, "lm_head") else 1
    i = 0
    while i < len(pieces):
        width = len(pieces[min(i + batch_size, len(pieces)) - 1][0])
        rows = max(1, min(batch_size, LOGIT_BUDGET // max(1, width * vocab)))  # bounded logits memory
        chunk = pieces[i:i + rows]
        i += rows
        width = max(len(p[0]) for p in chunk)
        x = torch.zeros(len(chunk), width, dtype=torch.long)
        y = torch.full((len(chunk), width), -100, dtype=torch.long)
        for row, (inp, tgt, skip) in enumerate(chunk):
            x[row, :len(inp)] = torch.tensor(inp)
            y[row, skip:len(tgt)] = torch.tensor(tgt[skip:])
        logits = model(x.to(device)).float()
        total += float(F.cross_entropy(logits.view(-1, logits.shape[-1]), y.to(device).view(-1),
                                       ignore_index=-100, reduction="sum"))
    model.train(was_training)
    return total


def bits_per_byte(model, eval_set: EvalSet, eos_id: int, seq_len: int, device) -> dict:
    nats = document_nats(model, eval_set.docs, eos_id, seq_len, device)
    return {"bpb": nats / (eval_set.num_bytes * math.log(2)), "nats": nats, "tokens": eval_set.num_tokens,
            "bytes": eval_set.num_bytes, "docs": len(eval_set.docs)}


def score_all(model, sets: list[EvalSet], eos_id: int, seq_len: int, device) -> dict:
    """{"eval_bpb": {NAME: bpb}, "eval_bpb_mean": macro average} (empty dict without evals)."""
    if not sets:
        return {}
    scores = {s.name: bits_per_byte(model, s, eos_id, seq_len, device)["bpb"] for s in sets}
    return {"eval_bpb": scores, "eval_bpb_mean": float(np.mean(list(scores.values())))}
