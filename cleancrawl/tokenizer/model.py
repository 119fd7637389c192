"""A trained tokenizer loaded for use: one small interface over SentencePiece and HF `tokenizers`.

`train.py` writes a tokenizer directory:

    tok/
      tokenizer.model          SentencePiece kinds (the usual .model file), or
      tokenizer.json           byte-level BPE (HuggingFace `tokenizers` format)
      cleancrawl-tokenizer.json  kind, file, sha256, special token ids, how it was trained

`load_tokenizer` accepts that directory, or a bare `tokenizer.json` / `.model` file made by
anything else (GPT-2's tokenizer.json, T5's spiece.model), so that eval can compare them.

The tokenizer hash used by token shards is the sha256 of the tokenizer file's bytes.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from cleancrawl import layout, output_folder
from cleancrawl.corpus.errors import UserError

METADATA_NAME = "cleancrawl-tokenizer.json"
SENTENCEPIECE_FILE = "tokenizer.model"
HF_FILE = "tokenizer.json"
# Names an end-of-document token goes by in tokenizers we did not train (first match wins).
EVAL_NAME = "eval.json"  # `tokenizer eval`'s figures, by default beside the tokenizer (its folder's file)
TOKENIZER_LAYOUT = layout.OutputLayout(
    "tokenizer train", r"^(tokenizer\.json|tokenizer\.model|cleancrawl-tokenizer\.json"
    r"|tokenizer_config\.json|special_tokens_map\.json|spiece\.model|eval\.json)(\.tmp-\d+)?$",
    marker=METADATA_NAME, noun="tokenizer")
_EOS_NAMES = ("<eos>", "<|endoftext|>", "</s>", "<|end_of_text|>")
_UNK_NAMES = ("<unk>", "[UNK]", "<|unk|>")
_PAD_NAMES = ("<pad>", "[PAD]", "<|pad|>")


def prepare_output_dir(output: str, overwrite: bool, inputs=(), kind=None, lock: bool = False):
    """A local output directory holding nothing but `kind`'s own files (default: a trained
    tokenizer's): refused when it overlaps an input or holds anything else (nothing is deleted),
    or holds earlier output unless `overwrite`; then only that output is deleted. With `lock`,
    returns the folder's held `output_folder.OutputLock` (release it when done), else None."""
    held = output_folder.prepare_output_folder(output, kind or TOKENIZER_LAYOUT, overwrite, inputs, lock=lock)
    os.makedirs(output, exist_ok=True)
    return held


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenizerInfo:
    """What a tokenizer is, without loading it: enough for a manifest."""

    kind: str
    path: str             # the tokenizer file (tokenizer.model / tokenizer.json)
    sha256: str
    vocab_size: int
    eos_id: int | None
    pad_id: int | None
    unk_id: int | None


class SentencePieceTokenizer:
    """A SentencePiece `.model` (unigram or BPE)."""

    def __init__(self, path: str, kind: str = "", sha256: str | None = None):
        import sentencepiece as spm

        self._sp = spm.SentencePieceProcessor(model_file=path)
        self.kind = kind or f"sentencepiece-{self._sp_model_type()}"
        self.path = path
        self.hash = sha256 or file_sha256(path)
        self.vocab_size = self._sp.get_piece_size()
        self.eos_id = _none_if_negative(self._sp.eos_id())
        self.pad_id = _none_if_negative(self._sp.pad_id())
        self.unk_id = _none_if_negative(self._sp.unk_id())

    def _sp_model_type(self) -> str:
        """unigram or bpe, for a bare .model file (a label only).

        Read from the scores rather than the model proto, so as not to depend on protobuf: a
        unigram's pieces carry log probabilities, a BPE's carry minus their merge rank.
        """
        normal = [i for i in range(self._sp.get_piece_size())
                  if not (self._sp.is_control(i) or self._sp.is_unknown(i) or self._sp.is_byte(i))]
        scores = [self._sp.get_score(i) for i in normal if self._sp.get_score(i) != 0.0]
        return "bpe" if scores and all(s == int(s) for s in scores) else "unigram"

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[list[int]]:
        return self._sp.encode(list(texts), num_threads=num_threads)

    _numpy_out: bool | None = None  # does this sentencepiece return ids as numpy (0.2.1+)? found on first use

    def encode_batch_arrays(self, texts: Sequence[str], num_threads: int = 1) -> list[np.ndarray]:
        """The ids of `encode_batch`, one int32 array per text, without a Python int per token:
        sentencepiece 0.2.1+ hands them over as buffers (`out_type="numpy"`), a fifth less CPU
        than building lists (what `tokenize` writes); older versions go through the lists."""
        if self._numpy_out is None:
            try:  # older versions refuse the out_type (ValueError or RuntimeError, by version)
                self._numpy_out = len(self._sp.encode([""], out_type="numpy", num_threads=1)) == 1
            except Exception:
                self._numpy_out = False
        if self._numpy_out:
            return self._sp.encode(list(texts), out_type="numpy", num_threads=num_threads)
        return [np.asarray(ids, dtype=np.int32) for ids in self._sp.encode(list(texts), num_threads=num_threads)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([int(i) for i in ids])

    def byte_token_mask(self) -> np.ndarray:
        """True for byte-fallback pieces (<0xE3> ...)."""
        return np.array([self._sp.is_byte(i) for i in range(self.vocab_size)], dtype=bool)

    def unknown_token_mask(self) -> np.ndarray:
        return np.array([self._sp.is_unknown(i) for i in range(self.vocab_size)], dtype=bool)


class HFTokenizer:
    """A HuggingFace `tokenizers` tokenizer.json (byte-level BPE, or anything else it can load)."""

    def __init__(self, path: str, kind: str = "", sha256: str | None = None):
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(path)
        # Text that merely looks like "<eos>" is text: only our code inserts special tokens.
        self._tok.encode_special_tokens = True
        self.kind = kind or "byte-bpe"
        self.path = path
        self.hash = sha256 or file_sha256(path)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.eos_id = self._first_known(_EOS_NAMES)
        self.pad_id = self._first_known(_PAD_NAMES)
        self.unk_id = self._first_known(_UNK_NAMES)

    def _first_known(self, names: Sequence[str]) -> int | None:
        for name in names:
            token_id = self._tok.token_to_id(name)
            if token_id is not None:
                return token_id
        return None

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[list[int]]:
        # Thread count is set process-wide by TOKENIZERS_PARALLELISM / RAYON_NUM_THREADS.
        return [e.ids for e in self._tok.encode_batch_fast(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def byte_token_mask(self) -> np.ndarray:
        """True for tokens that are raw bytes rather than whole characters.

        A byte-level BPE has no fallback as such; the equivalent is a token that is not valid
        UTF-8 on its own (a lone byte, or part of a multi-byte character), which decodes to U+FFFD.
        """
        mask = np.zeros(self.vocab_size, dtype=bool)
        for i in range(self.vocab_size):
            mask[i] = (self._tok.decode([i], skip_special_tokens=False) == "\ufffd"
                       and self._tok.id_to_token(i) != "\ufffd")
        return mask

    def unknown_token_mask(self) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        if self.unk_id is not None:
            mask[self.unk_id] = True
        return mask


Tokenizer = SentencePieceTokenizer | HFTokenizer


# ---------------------------------------------------------------------------- the kinds

@dataclass(frozen=True)
class Kind:
    """One tokenizer kind: the file `train` writes, the class that loads it, the `TokenizerTrainConfig`
    fields only this kind reads (its options), whether its vocabulary always holds the 256 bytes.
    Its trainer registers under the same name in `train.py` (`@trainer("name")`)."""

    name: str
    file: str
    loader: type
    what: str                          # how an error names the file
    options: tuple[str, ...] = ()
    byte_vocab: bool = False           # True: 256 byte tokens whatever the options


_SENTENCEPIECE_OPTIONS = ("byte_fallback", "character_coverage", "normalization", "max_sentence_bytes", "threads")
KIND_REGISTRY: dict[str, Kind] = {k.name: k for k in (
    Kind("sentencepiece-unigram", SENTENCEPIECE_FILE, SentencePieceTokenizer, "SentencePiece model",
         _SENTENCEPIECE_OPTIONS),
    Kind("sentencepiece-bpe", SENTENCEPIECE_FILE, SentencePieceTokenizer, "SentencePiece model",
         _SENTENCEPIECE_OPTIONS),
    Kind("byte-bpe", HF_FILE, HFTokenizer, "tokenizer.json (HuggingFace tokenizers)", ("unk", "min_frequency"),
         byte_vocab=True),
)}
KINDS = tuple(KIND_REGISTRY)


def kind_of_file(file_path: str) -> Kind:
    """The kind whose file type this is (by extension; a tokenizer.json is HF's, anything else
    SentencePiece's, as for T5's spiece.model)."""
    for kind in KIND_REGISTRY.values():
        if os.path.splitext(kind.file)[1] == os.path.splitext(file_path)[1]:
            return kind
    return KIND_REGISTRY["sentencepiece-unigram"]


def _none_if_negative(value: int) -> int | None:
    return None if value < 0 else value


def resolve_tokenizer_file(path: str) -> tuple[str, str]:
    """(tokenizer file, kind or "") for a tokenizer directory or file; UserError if none."""
    if os.path.isdir(path):
        meta_path = os.path.join(path, METADATA_NAME)
        if os.path.exists(meta_path):
            meta = _read_metadata(meta_path)
            return os.path.join(path, meta["file"]), meta["kind"]
        for name in (HF_FILE, SENTENCEPIECE_FILE):
            if os.path.exists(os.path.join(path, name)):
                return os.path.join(path, name), ""
        models = sorted(n for n in os.listdir(path) if n.endswith(".model"))
        if models:
            return os.path.join(path, models[0]), ""
        raise UserError(f"{path}: no tokenizer here (expected {HF_FILE}, {SENTENCEPIECE_FILE} or {METADATA_NAME})")
    if not os.path.exists(path):
        raise UserError(f"{path}: no such tokenizer file or directory")
    meta = _sibling_metadata(path)
    return path, meta["kind"] if meta else ""


def _read_metadata(meta_path: str) -> dict:
    """`cleancrawl-tokenizer.json`, with the fields loading relies on; UserError when unusable."""
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as err:
        reason = f"{err.msg} at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else type(err).__name__
        raise UserError(f"{meta_path}: unreadable tokenizer metadata ({reason}): corrupt or truncated") from None
    if not (isinstance(meta, dict) and meta.get("kind") in KINDS
            and meta.get("file") in {k.file for k in KIND_REGISTRY.values()}
            and isinstance(meta.get("sha256"), str)):
        raise UserError(f"{meta_path}: corrupt tokenizer metadata (needs kind, file and sha256)")
    return meta


def _sibling_metadata(file_path: str) -> dict | None:
    """The metadata `train` wrote beside this very tokenizer file, or None when there is none."""
    meta_path = os.path.join(os.path.dirname(os.path.abspath(file_path)), METADATA_NAME)
    if not os.path.exists(meta_path):
        return None
    meta = _read_metadata(meta_path)
    return meta if meta["file"] == os.path.basename(file_path) else None


def load_tokenizer(path: str) -> Tokenizer:
    """Load a tokenizer directory written by `train`, or a bare tokenizer.json / .model file.

    A file `train` wrote must still have the sha256 its metadata records (token shards name their
    tokenizer by that hash); a file that cannot be parsed is refused in one line, not a traceback.
    """
    file_path, kind = resolve_tokenizer_file(path)
    meta = _sibling_metadata(file_path)
    try:
        sha256 = file_sha256(file_path)
    except OSError as err:
        raise UserError(f"{file_path}: cannot read tokenizer file ({err.strerror or type(err).__name__})") from None
    if meta is not None and sha256 != meta["sha256"]:
        meta_path = os.path.join(os.path.dirname(os.path.abspath(file_path)), METADATA_NAME)
        raise UserError(f"{file_path}: sha256 {sha256[:12]}… is not the {meta['sha256'][:12]}… recorded in "
                        f"{meta_path}: the file was changed or damaged after training (restore it or train again)")
    loads = kind_of_file(file_path)
    return _parsed(loads.loader, file_path, kind, sha256, loads.what)


def _parsed(cls, file_path: str, kind: str, sha256: str, what: str) -> Tokenizer:
    if os.path.getsize(file_path) == 0:
        raise UserError(f"{file_path}: empty file (0 bytes), not a {what}")
    if file_path.endswith(".json"):
        try:
            with open(file_path, encoding="utf-8") as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError) as err:
            reason = (f"{err.msg} at line {err.lineno} column {err.colno}" if isinstance(err, json.JSONDecodeError)
                      else "not UTF-8 text")
            raise UserError(f"{file_path}: not a valid {what} ({reason}): truncated or corrupt") from None
    try:
        return cls(file_path, kind, sha256)
    except Exception:  # tokenizers raises a bare Exception, sentencepiece a RuntimeError or OSError
        # The libraries' messages may quote the file; name the file and what was expected instead.
        raise UserError(f"{file_path}: not a valid {what} (it cannot be parsed): truncated or corrupt") from None


def tokenizer_info(tok: Tokenizer) -> TokenizerInfo:
    return TokenizerInfo(
        kind=tok.kind, path=tok.path, sha256=tok.hash, vocab_size=tok.vocab_size,
        eos_id=tok.eos_id, pad_id=tok.pad_id, unk_id=tok.unk_id,
    )
