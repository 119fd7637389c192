"""Training and validation data from token shards: which documents, in which order, for which rank.

Everything here is a pure function of (token shards, seed, unique-token count): the training
stream for step s is computed, not iterated to, so a resumed run, a run on more ranks, and every
run of a repetition sweep read exactly the tokens they should.

- `load_corpus` opens `tokens/manifest.json` and memory-maps its shards (`tokenizer.token_shards`).
- `plan_data` picks the validation documents (the validation split, or, where that is too small,
  training documents held out by a content hash) and the training subset: a fixed, seeded order
  of the remaining documents, cut after exactly U tokens. Smaller subsets are prefixes of larger
  ones, so a sweep's runs differ only in how often the same data repeats.
- `TokenStream` lays a set of documents end to end, reshuffled every epoch, as an endless stream;
  sequence k is stream tokens [k·T, k·T + T], inputs and shifted targets in one read.
- `batch_indices` says which global sequences a rank reads for one micro-batch; `BatchLoader`
  makes them (the next one ahead, in a thread, on a GPU).
- `stage_tokens` copies a remote token directory (gs://, s3://) to local disk first, through
  `cleancrawl.storage`, since shards are memory-mapped.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from cleancrawl import storage
from cleancrawl.corpus.errors import UserError
from cleancrawl.pretrain.distributed import barrier
from cleancrawl.pretrain.folders import write_errors_are_one_line
from cleancrawl.tokenizer.token_shards import TokenShard, parse_manifest, read_manifest

# ---------------------------------------------------------------------------------------------
# The token directory


@dataclass
class TokenCorpus:
    tokens_dir: str
    vocab_size: int
    eos_id: int
    tokenizer_hash: str
    shards: list[np.ndarray]                 # memory-mapped token arrays, train shards then validation
    split_shards: dict[str, list[int]]       # split name -> indices into `shards`
    doc_offsets: list[np.ndarray]            # per shard, as in TokenShard.doc_offsets


def load_corpus(tokens_dir: str) -> TokenCorpus:
    """Open every shard the manifest lists, before any step: each must exist, be written by the
    manifest's tokenizer, hold the tokens and documents the manifest counts, and hold only ids
    inside the vocabulary (`TokenShard` checks that in one pass over the map)."""
    if not os.path.isdir(tokens_dir):
        raise UserError(f"{tokens_dir}: no such token directory (write one with `cleancrawl tokenize`)")
    manifest = read_manifest(tokens_dir)  # also refuses a shard listed twice
    manifest_path = os.path.join(tokens_dir, "manifest.json")
    tok = manifest["tokenizer"]
    shards, offsets, split_shards = [], [], {}
    for split, entries in sorted(manifest.get("splits", {}).items()):
        split_shards[split] = []
        for entry in entries:
            path = os.path.join(tokens_dir, entry["path"])
            if not os.path.exists(path):
                raise UserError(f"{path}: missing, though {manifest_path} lists it (copy it back or tokenize again)")
            shard = TokenShard(path, expected_tokenizer_hash=tok["hash"])
            if shard.header.vocab_size != tok["vocab_size"] or shard.header.eos_id != tok["eos_id"]:
                raise UserError(f"{shard.path}: vocabulary or eos differs from {manifest_path}")
            if (shard.header.num_tokens, shard.header.num_docs) != (entry["num_tokens"], entry["num_docs"]):
                raise UserError(f"{shard.path}: holds {shard.header.num_tokens} tokens in {shard.header.num_docs} "
                                f"documents, but {manifest_path} says {entry['num_tokens']} in "
                                f"{entry['num_docs']} (a shard from another run?)")
            split_shards[split].append(len(shards))
            shards.append(shard.tokens)
            offsets.append(np.asarray(shard.doc_offsets))
    if not split_shards.get("train"):
        raise UserError(f"{tokens_dir}: the manifest lists no training shards")
    return TokenCorpus(tokens_dir, int(tok["vocab_size"]), int(tok["eos_id"]), tok["hash"],
                       shards, split_shards, offsets)


def stage_tokens(tokens_dir: str, cache_dir: str) -> str:
    """A local copy of a remote token directory (gs://, s3://), since shards are memory-mapped.

    Copies every shard the manifest lists into `cache_dir`, skipping shards already there at the
    right size, then the manifest; a cache holding another manifest (the directory was tokenized
    again) is emptied first. Call it on one process per node. Local paths are returned unchanged.
    """
    if not storage.is_remote(tokens_dir):
        return tokens_dir
    manifest_path = storage.join(tokens_dir, "manifest.json")
    try:
        with storage.open_binary(manifest_path) as f:
            manifest = f.read()
    except Exception as err:  # Beam wraps a missing file, a refused read, ... in its own errors
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise UserError(f"{manifest_path}: cannot be read ({reason}); is it a token directory whose "
                        f"tokenizing finished?") from None
    parsed = parse_manifest(manifest, manifest_path)
    cached_manifest = os.path.join(cache_dir, "manifest.json")
    if os.path.exists(cached_manifest):
        with open(cached_manifest, "rb") as f:
            if f.read() != manifest:
                shutil.rmtree(cache_dir)
    names = [entry["path"] for split in parsed["splits"].values() for entry in split]
    tokenizer_copy = (parsed.get("tokenizer") or {}).get("copy")
    if isinstance(tokenizer_copy, str) and tokenizer_copy.startswith("tokenizer/") and ".." not in tokenizer_copy:
        names.append(tokenizer_copy)  # `tokenize` copies its tokenizer there (pretrain --eval encodes with it)
    for name in names:
        _copy_file(storage.join(tokens_dir, name), os.path.join(cache_dir, name), manifest_path)
    # The manifest last, from the bytes already read: its presence says the copy is whole.
    storage.write_atomically(cached_manifest, manifest)
    return cache_dir


def _copy_file(source: str, target: str, manifest_path: str) -> None:
    """A remote file to a local path, unless there already at its size; never a partial file.
    (What `storage` would offer as `copy_to_local(source, target)`.)"""
    found = storage.match_files(source)
    if not found:
        raise UserError(f"{source}: missing, though {manifest_path} lists it (tokenize again)")
    if os.path.exists(target) and os.path.getsize(target) == found[0][1]:
        return
    with storage.open_binary(source) as src, storage.atomic_writer(target) as dst:
        shutil.copyfileobj(src, dst, length=16 << 20)


def local_token_dir(tokens: str, cache: str, world) -> str:
    """`tokens`, or for a remote one its copy under `cache` (staged by one process per node)."""
    if not storage.is_remote(tokens):
        return tokens
    scheme, location = tokens.split("://", 1)
    staged = os.path.join(cache, f"{scheme}_{location.strip('/').replace('/', '_')}")
    if world.local_rank == 0:
        with write_errors_are_one_line(cache, "--tokens-cache", resumable=False):
            stage_tokens(tokens, staged)
    barrier(world)
    return staged


# ---------------------------------------------------------------------------------------------
# Sets of documents


@dataclass(frozen=True)
class DocSpans:
    """Documents (or the first part of one) as (shard, start, length) into the corpus's shards."""
    shard: np.ndarray    # int32
    start: np.ndarray    # int64, token offset in the shard
    length: np.ndarray   # int64

    @property
    def num_docs(self) -> int:
        return len(self.length)

    @property
    def num_tokens(self) -> int:
        return int(self.length.sum())

    def take(self, index: np.ndarray) -> "DocSpans":
        return DocSpans(self.shard[index], self.start[index], self.length[index])

    def fingerprint(self) -> str:
        """Identifies this exact subset; stored in checkpoints so a resume cannot switch data."""
        h = hashlib.blake2b(digest_size=8)
        for a in (self.shard, self.start, self.length):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def split_documents(corpus: TokenCorpus, split: str) -> DocSpans:
    """Every document of one split, in manifest order."""
    parts = []
    for i in corpus.split_shards.get(split, []):
        off = corpus.doc_offsets[i]
        parts.append((np.full(len(off) - 1, i, dtype=np.int32), off[:-1], np.diff(off)))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return DocSpans(empty.astype(np.int32), empty, empty)
    return DocSpans(*(np.concatenate(p) for p in zip(*parts)))


def document_hashes(corpus: TokenCorpus, docs: DocSpans) -> np.ndarray:
    """A 64-bit content hash per document: equal documents hash equal wherever they sit."""
    out = np.empty(docs.num_docs, dtype=np.uint64)
    for i, (s, start, n) in enumerate(zip(docs.shard, docs.start, docs.length)):
        digest = hashlib.blake2b(corpus.shards[s][start:start + n].tobytes(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little")
    return out


# ---------------------------------------------------------------------------------------------
# The plan: validation documents and the training subset


@dataclass(frozen=True)
class DataPlan:
    train: DocSpans              # the training subset: exactly `unique_tokens` tokens
    validation: DocSpans         # never in `train`
    validation_source: str       # one line for the log and the report
    available_train_tokens: int  # training tokens left after any hold-out

    @property
    def unique_tokens(self) -> int:
        return self.train.num_tokens


MAX_HOLD_OUT_FRACTION = 0.1  # never hold out more than this share of the training tokens


def plan_data(corpus: TokenCorpus, *, unique_tokens: int | None, validation_tokens: int, seed: int) -> DataPlan:
    """Choose the validation documents and the training subset of `unique_tokens` tokens.

    The validation split is used when it holds the `validation_tokens` an evaluation reads (or,
    for a corpus so small that this would be more than a tenth of it, that tenth). Otherwise
    training documents with the smallest content hashes are held out until they do; all copies
    of a document share a hash, so none can stay behind in training.
    """
    train_docs = split_documents(corpus, "train")
    validation = split_documents(corpus, "validation")
    needed = max(1, min(validation_tokens, int(MAX_HOLD_OUT_FRACTION * train_docs.num_tokens)))
    if validation.num_tokens >= needed:
        source = (f"validation split: {validation.num_docs} documents, "
                  f"{validation.num_tokens} tokens")
    else:
        split_tokens = validation.num_tokens
        train_docs, validation = hold_out_by_hash(corpus, train_docs, needed)
        source = (f"held out by hash from train (the validation split has {split_tokens} tokens, "
                  f"fewer than the {needed} needed): {validation.num_docs} documents, "
                  f"{validation.num_tokens} tokens")
    available = train_docs.num_tokens
    target = available if unique_tokens is None else int(unique_tokens)
    if not 0 < target <= available:
        raise UserError(f"--unique-tokens {target} is more than the {available} training tokens available")
    return DataPlan(subset_of_tokens(train_docs, target, seed), validation, source, available)


def hold_out_by_hash(corpus: TokenCorpus, docs: DocSpans, min_tokens: int) -> tuple[DocSpans, DocSpans]:
    """(kept, held out): documents in content-hash order, held out until `min_tokens` are."""
    hashes = document_hashes(corpus, docs)
    order = np.argsort(hashes, kind="stable")
    covered = np.cumsum(docs.length[order])
    last = int(np.searchsorted(covered, min_tokens))     # first position reaching min_tokens
    if last >= docs.num_docs - 1:
        raise UserError(f"too little data to hold out {min_tokens} validation tokens "
                        f"and still train (the corpus has {docs.num_tokens})")
    held = hashes <= hashes[order[last]]
    return docs.take(np.flatnonzero(~held)), docs.take(np.flatnonzero(held))


def subset_of_tokens(docs: DocSpans, num_tokens: int, seed: int) -> DocSpans:
    """The first `num_tokens` tokens of the documents in a seeded order, the last one cut short.

    The order depends only on the seed and the documents, so every run with the same corpus and
    seed takes the same subset, and a smaller subset is a prefix of a larger one.
    """
    order = np.random.default_rng(seed).permutation(docs.num_docs)
    covered = np.cumsum(docs.length[order])
    n_docs = int(np.searchsorted(covered, num_tokens)) + 1
    subset = docs.take(order[:n_docs])
    before_last = int(covered[n_docs - 2]) if n_docs > 1 else 0
    length = subset.length.copy()
    length[-1] = num_tokens - before_last
    return DocSpans(subset.shard, subset.start, length)


# ---------------------------------------------------------------------------------------------
# The stream


class TokenStream:
    """Documents end to end, reshuffled each epoch (when `shuffle`), repeated without end.

    Position p is token p % U of epoch p // U, U the documents' total. Sequence k of length T
    reads positions [k·T, k·T + T] (T + 1 tokens: the inputs, and the targets shifted by one),
    so consecutive sequences share one token and the stream is used without gaps.
    """

    def __init__(self, corpus: TokenCorpus, docs: DocSpans, *, seed: int, shuffle: bool):
        if docs.num_tokens == 0:
            raise UserError("no tokens to read")
        self.shards = corpus.shards
        self.docs = docs
        self.seed = seed
        self.shuffle = shuffle
        self.epoch_tokens = docs.num_tokens
        self._orders: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def epoch_order(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(document order, end position of each within the epoch) for one epoch."""
        if epoch not in self._orders:
            if self.shuffle:
                order = np.random.default_rng([self.seed, epoch]).permutation(self.docs.num_docs)
            else:
                order = np.arange(self.docs.num_docs)
            if len(self._orders) >= 4:  # a step only ever touches one or two epochs
                self._orders.pop(min(self._orders))
            self._orders[epoch] = (order, np.cumsum(self.docs.length[order]))
        return self._orders[epoch]

    def read(self, position: int, count: int) -> np.ndarray:
        return self.read_located(position, count)[0]

    def read_located(self, position: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(tokens, shard, offset in the shard, epoch) of `count` stream positions from `position`:
        where each token lies in the corpus (the same for the same text in any stream) and which
        pass over the documents read it (`pretrain.masking` keys masks on these)."""
        out = np.empty(count, dtype=np.int64)
        shard, offset, epochs = (np.empty(count, dtype=np.int64) for _ in range(3))
        filled = 0
        while filled < count:
            epoch, within = divmod(position + filled, self.epoch_tokens)
            order, ends = self.epoch_order(epoch)
            k = int(np.searchsorted(ends, within, side="right"))
            doc = order[k]
            doc_begin = int(ends[k] - self.docs.length[doc])
            n = min(count - filled, int(self.docs.length[doc]) - (within - doc_begin))
            start = int(self.docs.start[doc]) + within - doc_begin
            out[filled:filled + n] = self.shards[self.docs.shard[doc]][start:start + n]
            shard[filled:filled + n] = self.docs.shard[doc]
            offset[filled:filled + n] = np.arange(start, start + n)
            epochs[filled:filled + n] = epoch
            filled += n
        return out, shard, offset, epochs

    def sequences(self, indices: np.ndarray | list[int], seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets, (len(indices), seq_len) int64 each, for these global sequence indices."""
        rows = np.stack([self.read(int(k) * seq_len, seq_len + 1) for k in indices])
        rows = torch.from_numpy(rows)
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    def num_sequences(self, seq_len: int) -> int:
        """Whole sequences in one pass (one epoch) over the documents."""
        return (self.epoch_tokens - 1) // seq_len


def batch_indices(step: int, micro: int, rank: int, *, world_size: int, micro_batch: int,
                  batch_size: int) -> np.ndarray:
    """Global sequence indices rank `rank` reads for micro-batch `micro` of optimiser step `step`.

    A step's `batch_size` sequences are split into micro-batch-sized slices, dealt out to
    (micro, rank) in that order, so the set a step trains on does not depend on the world size.
    """
    first = step * batch_size + (micro * world_size + rank) * micro_batch
    return np.arange(first, first + micro_batch)


# ---------------------------------------------------------------------------------------------
# Batches


def training_batch(step: int, micro: int, *, make_batch, stream: TokenStream, rank: int, world_size: int,
                   micro_batch: int, batch_size: int, pin: bool) -> list[torch.Tensor]:
    """Micro-batch `micro` of step `step` for one rank: `make_batch(stream, indices)` (the
    objective's) of its `batch_indices`, in pinned memory when `pin` (the copy to the GPU then
    overlaps its work)."""
    indices = batch_indices(step, micro, rank, world_size=world_size, micro_batch=micro_batch, batch_size=batch_size)
    batch = make_batch(stream, indices)
    return [t.pin_memory() for t in batch] if pin else list(batch)


class BatchLoader:
    """Micro-batch (step, micro) of the training stream; with `prefetch`, the next one is made in a
    background thread while this one trains. Span corruption builds its batches in numpy (~2 ms
    for 16 t5-small sequences on one core, a fifth of a step on a fast GPU); made ahead, that
    time is hidden. Batches are a pure function of (step, micro), so prefetching changes nothing
    they hold, nor any random state (masks have their own generators)."""

    def __init__(self, load, grad_accum: int, total_steps: int, prefetch: bool):
        self._load, self._grad_accum, self._total_steps = load, grad_accum, total_steps
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches") if prefetch else None
        self._pending = None  # ((step, micro), future)

    def get(self, step: int, micro: int) -> list[torch.Tensor]:
        if self._pending is not None and self._pending[0] == (step, micro):
            batch = self._pending[1].result()
        else:
            batch = self._load(step, micro)
        if self._pool is not None:
            following = (step, micro + 1) if micro + 1 < self._grad_accum else (step + 1, 0)
            self._pending = ((following, self._pool.submit(self._load, *following))
                             if following[0] < self._total_steps else None)
        return batch

    def __enter__(self) -> "BatchLoader":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
