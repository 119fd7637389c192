"""Train a tokenizer on a built corpus: SentencePiece (unigram, BPE) or GPT-2-style byte-level BPE.

Documents stream from the Parquet shards; nothing but the sample is held in memory. The
sample is reproducible: a document is kept when a keyed hash of its text falls under
`sample_bytes / corpus_bytes` (corpus bytes estimated from Parquet metadata, so no extra
pass), and the sample stops at `sample_bytes` — the same corpus and seed always give the same
sample, whatever the machine.

Lossless by default, so that decode(encode(text)) == text:
  - SentencePiece: identity normalisation (no NFKC), whitespace kept as is, byte fallback on
    (characters outside the vocabulary become <0xNN> pieces instead of <unk>), and "\\n" a
    piece of its own (training sentences are lines, so newline would otherwise always fall
    back to a byte). Ids follow T5: <pad>=0, <eos>=1, <unk>=2; sentinels are control symbols.
  - byte-bpe: GPT-2's recipe: bytes mapped to printable unicode, GPT-2's pre-tokenisation
    regex, merges learned over bytes, so no input is ever unknown.

A kind is a `Kind` line in `model.KIND_REGISTRY` (its file, loader and options) and one
`@trainer("name")` function here; `--kind` choices and loading follow from them.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from cleancrawl import layout, storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.options import TEXT_COLUMN, byte_count_or_all, option
from cleancrawl.tokenizer.model import (
    KIND_REGISTRY,
    KINDS,
    METADATA_NAME,
    file_sha256,
    load_tokenizer,
    prepare_output_dir,
)

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


@dataclass
class TokenizerTrainConfig:
    # field metadata: the options of `cleancrawl tokenizer train` (cleancrawl/options.py)
    corpus: str = option(help="built corpus (its train split) or a directory of Parquet shards")
    output: str = option(help="tokenizer directory to write")
    kind: str = option("sentencepiece-unigram", choices=KINDS, help="tokenizer kind (default: %(default)s)")
    vocab_size: int = option(32000, help="vocabulary size, special tokens included (default: %(default)s)")
    sample_bytes: int | None = option(  # at most this many UTF-8 bytes of text; None = all
        1_000_000_000, type=byte_count_or_all,
        help="train on a reproducible sample of at most this much text (default 1G; 0 = all)")
    seed: int = option(0, help="sampling seed")
    byte_fallback: bool = option(True, flag="--no-byte-fallback", action="store_false", help=(  # SentencePiece only
        "SentencePiece: map unseen characters to <unk> instead of byte pieces"))
    pad: bool = option(True, flag="--no-pad", action="store_false", help="no <pad> token")
    unk: bool = option(False, help="byte-bpe: add an <unk> token (SentencePiece always has one)")  # never produced
    sentinels: int = option(0, metavar="N", help=(
        "add N sentinel tokens <extra_id_0>... for span corruption (T5 uses 100)"))
    character_coverage: float = option(0.9995, help=(
        "SentencePiece: characters below this coverage go to bytes/<unk> (default: %(default)s)"))
    normalization: str = option("identity", help=(
        "SentencePiece normalisation rule (identity keeps text lossless; nmt_nfkc is T5's)"))
    max_sentence_bytes: int = option(16384, cli=False, help="SentencePiece: longer lines are split")
    min_frequency: int = option(2, cli=False, help="byte-bpe: a pair must occur this often to be merged")
    # SentencePiece's result depends on its thread count (work is split per thread), so the
    # default is a fixed number, not this machine's cores: same corpus → same file anywhere.
    threads: int = option(16, help="trainer threads (default 16 on any machine: SentencePiece's result depends on it)")
    overwrite: bool = option(False, help="replace an existing output directory")
    verbose: bool = option(False, cli=False, help="trainer logs on stderr (the command's -v)")
    text_column: str = option("text", flag="--text-column", metavar="NAME", group=TEXT_COLUMN, help=(
        "document text (default: text)"))  # Parquet from other tools (a.b: field of a struct)


@dataclass
class SampleStats:
    documents_read: int = 0
    documents_sampled: int = 0
    bytes_sampled: int = 0
    sentences: int = 0                  # SentencePiece training lines
    corpus_bytes_estimate: int = 0
    keep_probability: float = 1.0


@dataclass
class TrainResult:
    output: str
    kind: str
    file: str
    sha256: str
    vocab_size: int
    special_tokens: dict
    sample: SampleStats
    seconds: float


# ---------------------------------------------------------------------------------------------
# Sampling


def estimate_text_bytes(paths: list[str], text_column: str = "text") -> int:
    """Uncompressed size of the `text` column over all shards, from Parquet footers only."""
    total = 0
    for path in paths:
        meta = storage.parquet_metadata(path)
        leaves = [meta.schema.column(i).path for i in range(meta.num_columns)]
        if text_column not in leaves:  # not a plain leaf column: no estimate, keep everything
            continue
        text_col = leaves.index(text_column)
        for rg in range(meta.num_row_groups):
            total += meta.row_group(rg).column(text_col).total_uncompressed_size
    return total


def _hash_fraction(text: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by (text, seed): the sampling coin for one document."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8,
                             key=seed.to_bytes(8, "little")).digest()
    return int.from_bytes(digest, "little") / 2**64


def sample_documents(paths: list[str], sample_bytes: int | None, seed: int, stats: SampleStats,
                     progress: bool = False, text_column: str = "text") -> Iterator[str]:
    """Stream the texts of a reproducible sample of at most `sample_bytes` UTF-8 bytes."""
    from tqdm import tqdm

    stats.corpus_bytes_estimate = estimate_text_bytes(paths, text_column)
    if sample_bytes and stats.corpus_bytes_estimate > sample_bytes:
        stats.keep_probability = sample_bytes / stats.corpus_bytes_estimate
    bar = tqdm(total=stats.corpus_bytes_estimate, unit="B", unit_scale=True, desc="reading corpus",
               disable=not progress, file=sys.stderr)
    with bar:
        for text in _texts(paths, text_column):
            stats.documents_read += 1
            n_bytes = len(text.encode("utf-8"))
            bar.update(n_bytes)
            if stats.keep_probability < 1.0 and _hash_fraction(text, seed) >= stats.keep_probability:
                continue
            if sample_bytes and stats.bytes_sampled + n_bytes > sample_bytes:
                if stats.bytes_sampled >= sample_bytes * 0.99:
                    break
                continue  # too big to fit what is left; a smaller one further on may
            stats.documents_sampled += 1
            stats.bytes_sampled += n_bytes
            yield text


def _texts(paths: list[str], text_column: str) -> Iterator[str]:
    if text_column == "text":
        yield from storage.iter_texts(paths)
        return
    from cleancrawl.storage import iter_values

    for values in iter_values(paths, text_column):
        yield from (t for t in values.to_pylist() if t is not None)


def training_sentences(texts: Iterator[str], max_bytes: int, stats: SampleStats) -> Iterator[str]:
    """Documents → SentencePiece training lines: non-empty lines, over-long ones split."""
    max_chars = max_bytes // 4  # a character is at most 4 UTF-8 bytes
    for text in texts:
        for line in text.split("\n"):
            if not line:
                continue
            for start in range(0, len(line), max_chars):
                stats.sentences += 1
                yield line[start: start + max_chars]


# ---------------------------------------------------------------------------------------------
# Trainers


def _sentinel_names(n: int) -> list[str]:
    return [f"<extra_id_{i}>" for i in range(n)]


# name -> (config, texts, stats, progress) -> the tokenizer file's bytes; filled by @trainer below.
TRAINERS: dict[str, Callable[[TokenizerTrainConfig, Iterator[str], SampleStats, bool], bytes]] = {}


def trainer(*kinds: str):
    """Register the trainer of the tokenizer kinds `kinds` (declared in `model.KIND_REGISTRY`,
    which names the file it writes, its loader and its options)."""
    def register(train):
        for kind in kinds:
            if kind not in KIND_REGISTRY or kind in TRAINERS:
                raise ValueError(f"tokenizer kind {kind!r}: not in model.KIND_REGISTRY, or registered twice")
            TRAINERS[kind] = train
        return train
    return register


@trainer("sentencepiece-unigram", "sentencepiece-bpe")
def _train_sentencepiece(config: TokenizerTrainConfig, texts: Iterator[str], stats: SampleStats,
                         progress: bool = False) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=training_sentences(texts, config.max_sentence_bytes, stats),
            model_writer=model,
            model_type=config.kind.removeprefix("sentencepiece-"),
            vocab_size=config.vocab_size,
            character_coverage=config.character_coverage,
            byte_fallback=config.byte_fallback,
            normalization_rule_name=config.normalization,
            remove_extra_whitespaces=config.normalization != "identity",
            allow_whitespace_only_pieces=True,
            split_digits=False,
            max_sentence_length=config.max_sentence_bytes,
            input_sentence_size=0,  # the sample is already bounded by sample_bytes
            pad_id=0 if config.pad else -1, eos_id=1 if config.pad else 0, unk_id=2 if config.pad else 1,
            bos_id=-1, pad_piece=PAD, eos_piece=EOS, unk_piece=UNK,
            control_symbols=_sentinel_names(config.sentinels),
            user_defined_symbols=["\n"],
            num_threads=config.threads,
            minloglevel=0 if config.verbose else 2,
        )
    except RuntimeError as err:
        raise UserError(_sentencepiece_error(str(err), config, stats)) from None
    return model.getvalue()


def _sentencepiece_error(message: str, config: TokenizerTrainConfig, stats: SampleStats) -> str:
    """SentencePiece's `INTERNAL: src/x.cc(467) [check] reason` as one line a user can act on."""
    if stats.sentences == 0:
        return _no_text(config, stats)
    too_high = re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)", message)
    if too_high:
        return (f"{config.corpus}: too little text for --vocab-size {config.vocab_size}: SentencePiece can make "
                f"at most {int(too_high[2]):,} pieces from the {stats.bytes_sampled:,} bytes sampled "
                f"(lower --vocab-size, or train on more text)")
    too_small = re.search(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)", message)
    if too_small:
        return (f"--vocab-size {config.vocab_size} is too small: the sample's characters at --character-coverage "
                f"{config.character_coverage} and the special pieces need {too_small[2]} (Vocabulary size is "
                f"smaller than required_chars); raise --vocab-size or lower --character-coverage")
    lines = message.strip().splitlines() or ["(no message)"]
    reason = re.sub(r"^INTERNAL: \S+\(\d+\) \[.*?\] ", "", lines[-1])
    return f"SentencePiece training failed: {reason}"


def _no_text(config: TokenizerTrainConfig, stats: SampleStats) -> str:
    if stats.documents_read == 0:
        return f"{config.corpus}: no documents to train on (its train split is empty)"
    return (f"{config.corpus}: no text to train on ({stats.documents_read:,} documents read, "
            f"{stats.documents_sampled:,} sampled, {stats.bytes_sampled:,} bytes: empty, or each larger than "
            f"--sample-bytes)")


@trainer("byte-bpe")
def _train_byte_bpe(config: TokenizerTrainConfig, texts: Iterator[str], stats: SampleStats, progress: bool) -> bytes:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    special = ([PAD] if config.pad else []) + [EOS] + ([UNK] if config.unk else [])
    special += _sentinel_names(config.sentinels)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )
    tok.train_from_iterator(texts, trainer)
    if stats.documents_sampled == 0:
        raise UserError(_no_text(config, stats))
    if tok.get_vocab_size(with_added_tokens=True) < config.vocab_size:
        raise UserError(f"{config.corpus}: too little text for --vocab-size {config.vocab_size}: byte-level BPE "
                        f"found only {tok.get_vocab_size(with_added_tokens=True):,} tokens (pairs seen "
                        f"--min-frequency {config.min_frequency} times) in the {stats.bytes_sampled:,} bytes "
                        f"sampled (lower --vocab-size, or train on more text)")
    return tok.to_str(pretty=True).encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Entry point


def _write_atomic(path: str, data: bytes) -> None:
    with storage.atomic_writer(path) as f:
        f.write(data)


def _check_config(config: TokenizerTrainConfig) -> None:
    if config.kind not in KINDS:
        raise UserError(f"unknown tokenizer kind {config.kind!r} (choose from {', '.join(KINDS)})")
    if config.vocab_size < 300 and (KIND_REGISTRY[config.kind].byte_vocab or config.byte_fallback):
        raise UserError(f"--vocab-size {config.vocab_size} is too small: 256 byte tokens come first")
    if config.sample_bytes is not None and config.sample_bytes <= 0:
        raise UserError("--sample-bytes must be positive")


def train_tokenizer(config: TokenizerTrainConfig, progress: bool | None = None) -> TrainResult:
    """Train one tokenizer from a corpus and write it, with its metadata, to `config.output`."""
    _check_config(config)
    progress = sys.stderr.isatty() if progress is None else progress
    paths = layout.list_shards(config.corpus, split="train")
    if not paths:
        raise UserError(f"{config.corpus}: no Parquet shards to train on")
    from cleancrawl.corpus.columns import Columns

    for path in paths:  # a shard from another tool without the text column: one line, before any write
        Columns(text=config.text_column).check(storage.parquet_metadata(path).schema.to_arrow_schema(), path)
    if sum(storage.parquet_metadata(path).num_rows for path in paths) == 0:
        raise UserError(f"{config.corpus}: no documents to train on (its train split is empty)")
    created = not os.path.exists(config.output)
    prepare_output_dir(config.output, config.overwrite, inputs=[config.corpus])
    written: list[str] = []
    try:
        return _train_and_write(config, paths, progress, written)
    except BaseException:  # leave nothing behind: no tokenizer that `tokenize` would accept
        for path in written:
            if os.path.exists(path):
                os.remove(path)
        if created:
            try:
                os.rmdir(config.output)  # only if empty: nothing but what this run made
            except OSError:
                pass
        raise


def _train_and_write(config: TokenizerTrainConfig, paths: list[str], progress: bool, written: list[str]) -> TrainResult:
    """Train in memory, then write the tokenizer file and its metadata (`written` says what was)."""
    stats = SampleStats()
    texts = sample_documents(paths, config.sample_bytes, config.seed, stats, progress, config.text_column)
    started = time.perf_counter()
    file_name = KIND_REGISTRY[config.kind].file
    data = TRAINERS[config.kind](config, texts, stats, progress)
    seconds = time.perf_counter() - started
    if stats.documents_sampled == 0:
        raise UserError(_no_text(config, stats))

    file_path = os.path.join(config.output, file_name)
    written.append(file_path)
    _write_atomic(file_path, data)
    tok = load_tokenizer(file_path)
    result = TrainResult(
        output=config.output, kind=config.kind, file=file_name, sha256=file_sha256(tok.path),
        vocab_size=tok.vocab_size,
        special_tokens={"pad": tok.pad_id, "eos": tok.eos_id, "unk": tok.unk_id,
                        "sentinels": _sentinel_names(config.sentinels)},
        sample=stats, seconds=round(seconds, 3),
    )
    from cleancrawl.tokenizer.hf_files import FILES, write_transformers_files  # for transformers.AutoTokenizer
    written += [os.path.join(config.output, name) for name in FILES]
    write_transformers_files(config.output, tok)
    written.append(os.path.join(config.output, METADATA_NAME))
    _write_metadata(config, result)
    return result


def _write_metadata(config: TokenizerTrainConfig, result: TrainResult) -> None:
    training = asdict(config)
    training.pop("overwrite")
    training.pop("verbose")
    meta = {
        "kind": result.kind, "file": result.file, "sha256": result.sha256, "vocab_size": result.vocab_size,
        "special_tokens": result.special_tokens,
        "training": {"config": training, "sample": asdict(result.sample), "seconds": result.seconds},
    }
    _write_atomic(os.path.join(config.output, METADATA_NAME),
                  (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8"))
