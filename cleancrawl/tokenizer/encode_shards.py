"""`cleancrawl tokenize`: a built corpus → token shards, one process per Parquet shard.

    corpus/train/part-00000-of-00004.parquet  →  tokens/train/part-00000-of-00004.tok
    corpus/validation/part-...parquet         →  tokens/validation/part-....tok
    tokens/manifest.json                      written last: shards, token counts, tokenizer

Train and validation stay in their own directories. Each worker is a separate process that
loads the tokenizer once and encodes single-threaded, so throughput scales with `workers`
(one core each). Output bytes depend only on the input shards and the tokenizer file.
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from cleancrawl import layout, output_folder, storage, write_failures
from cleancrawl.corpus.errors import UserError
from cleancrawl.options import TEXT_COLUMN, option
from cleancrawl.tokenizer.fast_bpe import fastest_encoding
from cleancrawl.tokenizer.model import load_tokenizer, prepare_output_dir, resolve_tokenizer_file, tokenizer_info
from cleancrawl.tokenizer.token_shards import (
    MANIFEST_NAME,
    SHARD_SUFFIX,
    TokenShardHeader,
    write_manifest,
    write_token_shard_batches,
)


@dataclass
class TokenizeConfig:
    # field metadata: the options of `cleancrawl tokenize` (cleancrawl/options.py)
    tokenizer: str = option(  # or bare tokenizer.json / .model
        help="tokenizer directory (from `tokenizer train`) or file")
    corpus: str = option(help="built corpus (both splits) or one split directory")
    output: str = option(help="token directory to write")
    workers: int = option(default_factory=lambda: os.cpu_count() or 1, help="processes, one shard each at a time")
    batch_size: int = option(256, help="documents per encode call")
    overwrite: bool = option(False, help="replace an existing output directory")
    text_column: str = option("text", flag="--text-column", metavar="NAME", group=TEXT_COLUMN, help=(
        "document text (default: text)"))  # Parquet from other tools (a.b: field of a struct)


@dataclass(frozen=True)
class ShardJob:
    split: str
    source: str                  # Parquet shard
    target: str                  # .tok file, absolute
    relative: str                # .tok path relative to the output directory, for the manifest
    text_column: str = "text"


@dataclass
class TokenizeResult:
    output: str
    manifest: dict
    documents: int
    tokens: int
    text_bytes: int
    seconds: float
    encoder: str = ""            # what encoded the text: tiktoken, tokenizers or sentencepiece
    encoder_reason: str = ""     # why not tiktoken, for a byte-level BPE that went to tokenizers


def token_shard_name(parquet_path: str) -> str:
    base = os.path.basename(parquet_path)
    return base.removesuffix(".parquet") + SHARD_SUFFIX


def plan_jobs(corpus: str, output: str) -> list[ShardJob]:
    """One job per Parquet shard, in split then shard order.

    A built corpus gives both splits; a bare split directory (`out/validation`) gives one,
    named after the directory when it is a split name, else "train". Local or remote (gs://,
    s3://): the listing goes through `cleancrawl.layout`, which refuses an unfinished build.
    """
    if not storage.is_remote(corpus):
        corpus = os.path.normpath(corpus)  # `out/validation/.` is the validation split too
    top = corpus.rstrip("/") or "/"
    top_name = _basename(top)
    jobs = []
    for path in layout.list_shards(corpus, split=None):
        parent = _dirname(path)
        split = _basename(parent) if parent != top else (top_name if top_name in layout.SPLITS else "train")
        relative = f"{split}/{token_shard_name(path)}"
        jobs.append(ShardJob(split, path, os.path.join(output, relative), relative))
    return jobs


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if storage.is_remote(path) else os.path.dirname(path)


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1] if storage.is_remote(path) else os.path.basename(path)


# ---------------------------------------------------------------------------------------------
# Worker side: one shard at a time, one core each

_worker_tokenizer = None
_worker_progress: "mp.Queue | None" = None


_SINGLE_THREAD_ENV = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}


def _init_worker(tokenizer_path: str, progress_queue, filesystem_args: list[str] | None = None,
                 encoder: str | None = None, loaded=None) -> None:
    global _worker_tokenizer, _worker_progress
    # One core per process: no rayon threads on top of the process pool.
    os.environ.update(_SINGLE_THREAD_ENV)
    if filesystem_args:  # a spawned process starts without the parent's remote settings
        storage.set_filesystem_options(filesystem_args)
    # The driver's choice of encoder (fast_bpe: tiktoken when exact), so every worker encodes alike.
    # `loaded`: the driver's own, when it encodes in its own process (no second load).
    _worker_tokenizer = loaded if loaded is not None else fastest_encoding(load_tokenizer(tokenizer_path), encoder)
    _worker_progress = progress_queue


@contextmanager
def _single_threaded_here():
    """The worker's environment, in this process, restored afterwards (HF reads it per call)."""
    saved = {k: os.environ.get(k) for k in _SINGLE_THREAD_ENV}
    os.environ.update(_SINGLE_THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def batch_encoder(encoding):
    """The call `tokenize` encodes a batch of texts with (`encode(texts, num_threads=1)`): for
    SentencePiece its ids as int32 arrays (no Python int per token), for the BPE encoders lists."""
    if encoding.encoder == "sentencepiece":
        return getattr(encoding, "tokenizer", encoding).encode_batch_arrays
    return encoding.encode_batch


def _as_binary(values: pa.Array) -> pa.Array:
    return values.view(pa.large_binary() if pa.types.is_large_string(values.type) else pa.binary())


def python_texts(values: pa.Array, encoder: str) -> list:
    """A batch of the text column as the encoder takes it. SentencePiece reads UTF-8: it gets each
    text's bytes as stored (the same ids as the str), which saves decoding them into a Python str
    that it would encode back to UTF-8 (a tenth of its time on the sample pages)."""
    return _as_binary(values).to_pylist() if encoder == "sentencepiece" else values.to_pylist()


def _check_utf8(values: pa.Array, job: ShardJob, first: int) -> None:
    """One line for a text that is not UTF-8 (another tool's Parquet: Arrow does not check on
    reading), rather than SentencePiece encoding its bytes and the BPE encoders failing to decode
    them. About 0.3 CPU ms per MB."""
    try:
        values.validate(full=True)
    except pa.ArrowInvalid:
        raw = _as_binary(values).to_pylist()
        bad = next((i for i, b in enumerate(raw) if not _is_utf8(b)), None)
        where = f"document {first + bad}" if bad is not None else f"documents {first}..{first + len(values) - 1}"
        raise UserError(f"{job.source}: {where}: column {job.text_column!r} is not valid UTF-8 text; "
                        f"fix the file (the token directory is left unfinished, without a manifest)") from None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _encoded_batches(job: ShardJob, batch_size: int, counts: dict):
    """Each batch of the shard's documents, encoded."""
    from cleancrawl.storage import iter_values

    encode = batch_encoder(_worker_tokenizer)
    done = 0
    for values in iter_values([job.source], job.text_column, batch_size):
        values = pc.fill_null(values, "")  # a null text (other tools' Parquet) is an empty document
        _check_utf8(values, job, done)
        texts = python_texts(values, _worker_tokenizer.encoder)
        counts["text_bytes"] += pc.sum(pc.binary_length(values)).as_py() or 0
        yield encode(texts, num_threads=1)
        done += len(texts)
        if _worker_progress is not None:
            _worker_progress.put(len(texts))


def _encode_shard(job: ShardJob, batch_size: int) -> tuple[ShardJob, TokenShardHeader, int]:
    tok = _worker_tokenizer
    counts = {"text_bytes": 0}
    header = write_token_shard_batches(
        job.target, _encoded_batches(job, batch_size, counts),
        vocab_size=tok.vocab_size, eos_id=tok.eos_id, tokenizer_hash=tok.hash,
    )
    return job, header, counts["text_bytes"]


def _encode_shard_star(args):
    return _encode_shard(*args)


# ---------------------------------------------------------------------------------------------
# Driver


def _count_documents(jobs: list[ShardJob]) -> int:
    return sum(storage.parquet_metadata(j.source).num_rows for j in jobs)


def _run_jobs(config: TokenizeConfig, tokenizer_path: str, jobs: list[ShardJob], progress: bool,
              encoder: str | None = None, loaded=None) -> list:
    """`loaded`: the driver's own `FastEncoding` of this file, reused when one worker runs here."""
    from tqdm import tqdm

    bar = tqdm(total=_count_documents(jobs), unit="doc", desc="tokenizing", disable=not progress, file=sys.stderr)
    workers = max(1, min(config.workers, len(jobs)))
    with bar:
        if workers == 1:  # in this process: simpler to debug, no start-up cost
            with _single_threaded_here():
                _init_worker(tokenizer_path, None, None, encoder, loaded)
                results = []
                for job in jobs:
                    results.append(_encode_shard(job, config.batch_size))
                    bar.update(results[-1][1].num_docs)
            return results
        # spawn, not fork: the tokenizer libraries' thread pools do not survive a fork.
        ctx = mp.get_context("spawn")
        progress_queue = ctx.Manager().Queue() if progress else None
        with ctx.Pool(workers, initializer=_init_worker,
                      initargs=(tokenizer_path, progress_queue, storage.filesystem_args(), encoder)) as pool:
            pending = pool.map_async(_encode_shard_star, [(j, config.batch_size) for j in jobs], chunksize=1)
            while not pending.ready():
                _drain(progress_queue, bar, timeout=0.2)
                pending.wait(0.05)
            _drain(progress_queue, bar, timeout=0)
            return pending.get()


def _drain(progress_queue, bar, timeout: float) -> None:
    if progress_queue is None:
        return
    try:
        bar.update(progress_queue.get(timeout=timeout) if timeout else progress_queue.get_nowait())
        while True:
            bar.update(progress_queue.get_nowait())
    except queue.Empty:
        pass


def tokenize_corpus(config: TokenizeConfig, progress: bool | None = None) -> TokenizeResult:
    """Encode every shard of a corpus into token shards and write the manifest last.

    A remote output (gs://, s3://) is written to a local staging directory first, since token
    shards are written (and later read) as local files, then uploaded shard by shard with
    `manifest.json` last: a token directory without a manifest is an unfinished one.
    """
    progress = sys.stderr.isatty() if progress is None else progress
    tokenizer_path, _ = resolve_tokenizer_file(config.tokenizer)
    fast = fastest_encoding(load_tokenizer(tokenizer_path))  # tiktoken for a byte-level BPE when exact
    info = tokenizer_info(fast.tokenizer)
    if info.eos_id is None:
        raise UserError(f"{config.tokenizer}: tokenizer has no end-of-document token (<eos>, <|endoftext|>, </s>)")
    remote_output = storage.is_remote(config.output)
    local_output = tempfile.mkdtemp(prefix="cleancrawl-tokens-") if remote_output else config.output
    held = None  # the output folder's lock
    try:
        jobs = plan_jobs(config.corpus, local_output)
        if not jobs:
            raise UserError(f"{config.corpus}: no Parquet shards to tokenize")
        from cleancrawl.corpus.columns import Columns

        for job in jobs:  # another tool's shard without the text column: one line, before any write
            Columns(text=config.text_column).check(storage.parquet_metadata(job.source).schema.to_arrow_schema(),
                                                   job.source)
        jobs = [dataclasses.replace(job, text_column=config.text_column) for job in jobs]
        inputs = [config.corpus, tokenizer_path]
        if remote_output:  # one writer at a time: the lock is released below
            held = prepare_remote_output(config.output, config.overwrite, inputs, lock=True)
        else:
            held = prepare_output_dir(config.output, config.overwrite, inputs, kind=TOKENS_LAYOUT, lock=True)

        started = time.perf_counter()
        before = {job.source: storage.file_signature(job.source) for job in jobs}
        try:
            with write_failures.write_errors_are_user_errors(config.output):
                results = _run_jobs(config, tokenizer_path, jobs, progress, fast.encoder, fast)
        except FileNotFoundError as err:
            if err.filename not in before:
                raise
            raise _corpus_changed(config.corpus, err.filename) from None
        changed = [source for source, signature in before.items() if storage.file_signature(source) != signature]
        if changed:  # e.g. `build --overwrite` rewrote the corpus meanwhile: the tokens would mix two corpora
            raise _corpus_changed(config.corpus, changed[0])

        splits: dict[str, list[dict]] = {}
        for job, header, _ in results:
            splits.setdefault(job.split, []).append(
                {"path": job.relative, "num_tokens": header.num_tokens, "num_docs": header.num_docs})
        # The token directory carries its tokenizer (pretrain --eval encodes eval text with it, also on a
        # machine that has only the token directory); the shards' bytes do not depend on it.
        copied = f"{TOKENIZER_COPY_DIR}/tokenizer.{'model' if tokenizer_path.endswith('.model') else 'json'}"
        os.makedirs(os.path.join(local_output, TOKENIZER_COPY_DIR), exist_ok=True)
        shutil.copyfile(tokenizer_path, os.path.join(local_output, copied))
        manifest = {
            "tokenizer": {"path": os.path.abspath(config.tokenizer), "kind": info.kind, "hash": info.sha256,
                          "vocab_size": info.vocab_size, "eos_id": info.eos_id, "encoder": fast.encoder,
                          "copy": copied},
            "splits": splits,
            "corpus": config.corpus if storage.is_remote(config.corpus) else os.path.abspath(config.corpus),
        }
        seconds = time.perf_counter() - started  # encoding only: MB/s is the tokenizer's speed
        with write_failures.write_errors_are_user_errors(config.output):
            write_manifest(local_output, manifest)
            if remote_output:
                upload_token_dir(local_output, config.output, [job.relative for job in jobs] + [copied])
    finally:
        if remote_output:
            shutil.rmtree(local_output, ignore_errors=True)
        if held:
            held.release()
    return TokenizeResult(
        output=config.output, manifest=manifest,
        documents=sum(h.num_docs for _, h, _ in results), tokens=sum(h.num_tokens for _, h, _ in results),
        text_bytes=sum(b for _, _, b in results), seconds=seconds,
        encoder=fast.encoder, encoder_reason=fast.encoder_reason,
    )


def _corpus_changed(corpus: str, shard) -> UserError:
    return UserError(f"{corpus}: the corpus changed while it was read ({shard} was replaced or deleted, "
                     "e.g. by a build --overwrite); no manifest was written: rerun tokenize when the corpus is "
                     "finished")


# ---------------------------------------------------------------------------------------------
# Remote token directories


_TOKEN_FILE = r"^\.?[^/]+\.tok(\.tmp-\d+)?$"
TOKENIZER_COPY_DIR = "tokenizer"  # a copy of the tokenizer file (manifest: tokenizer.copy)
TOKENS_LAYOUT = layout.OutputLayout(
    "tokenize", r"^manifest\.json(\.tmp-\d+)?$", {"train": _TOKEN_FILE, "validation": _TOKEN_FILE,
                                                  TOKENIZER_COPY_DIR: r"^tokenizer\.(json|model)$"},
    marker=MANIFEST_NAME, noun="token directory")


def prepare_remote_output(output: str, overwrite: bool, inputs=(), lock: bool = False):
    """Refuse a remote prefix that overlaps an input or holds files `tokenize` did not write (named,
    never deleted), or earlier token output unless `overwrite`; then delete only that output.
    With `lock`, returns the held `output_folder.OutputLock` (object stores: see its limits)."""
    return output_folder.prepare_output_folder(output, TOKENS_LAYOUT, overwrite, inputs, lock=lock)


def upload_token_dir(local_dir: str, output: str, relatives: list[str]) -> None:
    """Copy the shards, then the manifest: readers look for the manifest first."""
    for relative in [*relatives, MANIFEST_NAME]:
        with open(os.path.join(local_dir, relative), "rb") as source, \
                storage.atomic_writer(output.rstrip("/") + "/" + relative) as target:
            shutil.copyfileobj(source, target, 8 << 20)
