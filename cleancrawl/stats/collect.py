"""Corpus statistics: one JSON-able document for one or more corpora, composed from its sections.

    corpus_stats(paths, config)   the whole document: schema_version, config, one CORPUS per path
    summarize_corpus(path, ...)   one CORPUS: its contents, funnel, build, samples, duplicates, tokens, problems

Each section has its own module: CONTENTS `stats.contents` (the shard scan), FUNNEL
`stats.funnel` (from stats.json or Beam counters), DROPPED and kept examples `stats.samples`,
DUPLICATES `stats.duplicates`; TOKENS is read here, from the token manifest. The terminal
tables, the JSON file and the HTML report (`stats.report`) are all drawn from the document.
Its schema (`schema_version` 1), field by field, with what each count means: stats/SCHEMA.md.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Mapping

from cleancrawl import layout, storage
from cleancrawl.corpus.columns import Columns
from cleancrawl.corpus.errors import UserError
from cleancrawl.corpus.safe_text import safe
from cleancrawl.options import option
from cleancrawl.stats import samples
from cleancrawl.stats.contents import display_name, summarize_contents
from cleancrawl.stats.duplicates import duplicate_summary
from cleancrawl.stats.funnel import compare_funnels, funnel_from_beam_counters, funnel_from_stats, load_beam_metrics
from cleancrawl.stats.histogram import LENGTH_EDGES, Histogram

SCHEMA_VERSION = 1
DEFAULT_TOP_K = 50
TOKENS_DIR = "tokens"
TOKEN_MANIFEST = "manifest.json"
TOKEN_MANIFEST_FORMAT = "cleancrawl-tokens"


# ---------------------------------------------------------------------------- options

def _split_option(text: str) -> tuple[str, ...] | None:
    """--split all|train|validation → the splits to scan (None: every one)."""
    if text not in ("all", "train", "validation"):
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from all, train, validation)")
    return None if text == "all" else (text,)


def _none_for_dash(text: str) -> str | None:
    return None if text == "-" else text


@dataclass
class StatsConfig:
    # field metadata: the command-line options of `cleancrawl stats` (cleancrawl/options.py)
    splits: tuple[str, ...] | None = option(  # None: every split
        None, flag="--split", type=_split_option, metavar="{all,train,validation}",
        help="which split's shards to scan (default: all)")
    workers: int = option(0, help="processes scanning shards in parallel (default 0: one per core)")
    top_k: int = option(DEFAULT_TOP_K, flag="--top", help=(
        "entries kept in each ranked list: domains, TLDs, subreddits (default: %(default)s)"))
    allow_partial: bool = option(False, help="also read a build without _SUCCESS (crashed or still running)")
    progress: bool = option(True, flag="--no-progress", action="store_false",
                            help="no progress bar")  # tqdm, on a terminal
    tokens: tuple[str | None, ...] = option((), list="repeat", type=_none_for_dash, metavar="DIR", help=(
        "token directory (with manifest.json) of a corpus; repeat once per corpus, "
        "in order, '-' for none (default: CORPUS/tokens when it exists)"))
    beam_metrics: tuple[str | None, ...] = option((), list="repeat", type=_none_for_dash, metavar="FILE", help=(
        "the build's Beam counters as JSON (e.g. from a Dataflow job); repeat once per "
        "corpus, '-' for none. Checked against stats.json, or used for the funnel when it is missing"))
    names: tuple[str, ...] = option((), metavar="NAMES", help="comma-separated display names, one per corpus")
    columns: Columns = option(default_factory=Columns, exclude=("record_id",),
                              help="text/URL columns of other tools' Parquet")


# ---------------------------------------------------------------------------- the document

def summarize_corpus(path: str, config: StatsConfig, name: str | None = None,
                     tokens_dir: str | None = None, beam_metrics: str | None = None) -> dict:
    """CORPUS for one corpus directory (a build output, a split directory, or Parquet files)."""
    contents = summarize_contents(path, splits=config.splits, allow_partial=config.allow_partial,
                                  workers=config.workers, progress=config.progress, label=safe(name or path),
                                  columns=config.columns, top_k=config.top_k)
    problems = [f"missing shard: {m}" for m in contents["shards"]["missing"]]
    problems += [f"unreadable shard: {f['path']}: {f['error']}" for f in contents["shards"]["failed"]]

    funnel = metrics_check = build = None
    stats_path = storage.join(path, layout.STATS_FILE)
    if storage.exists(stats_path):
        build_stats = _read_json(stats_path)
        funnel = funnel_from_stats(build_stats)
        build = {"config": build_stats.get("config") or {}, "cleancrawl_version": build_stats.get("cleancrawl_version"),
                 "finished_at": build_stats.get("finished_at")}
    if beam_metrics:
        from_metrics = funnel_from_beam_counters(load_beam_metrics(beam_metrics))
        if funnel is None:
            funnel = from_metrics
        else:
            metrics_check = compare_funnels(funnel, from_metrics)
    if funnel and funnel["balanced"] is False:
        problems.append("funnel does not balance: kept + dropped != read at some stage")

    dropped = samples.dropped_summary(path)
    if dropped:
        problems += [f"unreadable dropped-documents file: {f['path']}: {f['error']}" for f in dropped["failed"]]
    duplicates = duplicate_summary(path)
    if duplicates:
        problems += [f"unreadable duplicates file: {f['path']}: {f['error']}" for f in duplicates["failed"]]
    if tokens_dir is None and storage.exists(storage.join(path, TOKENS_DIR, TOKEN_MANIFEST)):
        tokens_dir = storage.join(path, TOKENS_DIR)
    tokens = token_summary(tokens_dir, contents["splits"]) if tokens_dir else None
    if tokens:
        problems += [f"missing token shard: {m}" for m in tokens["missing_shards"]]
        problems += [f"unreadable token shard: {f['path']}: {f['error']}" for f in tokens["failed"]]

    return {
        "name": name or display_name(path),
        "path": path if storage.is_remote(path) else os.path.abspath(path),
        "build": build,
        "funnel": funnel,
        "beam_metrics_check": metrics_check,
        "contents": contents,
        "kept_examples": samples.kept_examples(path),
        "dropped": dropped,
        "duplicates": duplicates,
        "tokens": tokens,
        "problems": problems,
    }


def corpus_stats(paths: list[str], config: StatsConfig | None = None) -> dict:
    """The whole stats document (stats/SCHEMA.md) for one or more corpora."""
    config = config or StatsConfig()
    if not paths:
        raise UserError("give at least one corpus directory")
    if config.names and len(config.names) != len(paths):
        raise UserError(f"--names: {len(config.names)} name(s) for {len(paths)} corpora")
    for flag, values in (("--tokens", config.tokens), ("--beam-metrics", config.beam_metrics)):
        if len(values) > len(paths):
            raise UserError(f"{flag}: {len(values)} given for {len(paths)} corpora (one per corpus, in order)")
    corpora = []
    for i, path in enumerate(paths):
        corpora.append(summarize_corpus(
            path, config,
            name=config.names[i] if config.names else None,
            tokens_dir=config.tokens[i] if i < len(config.tokens) else None,
            beam_metrics=config.beam_metrics[i] if i < len(config.beam_metrics) else None,
        ))
    names = [c["name"] for c in corpora]
    for i, c in enumerate(corpora):   # same directory names (a/out, b/out): number them
        if names.count(c["name"]) > 1:
            c["name"] = f"{c['name']} ({i + 1})"
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_by": "cleancrawl stats",
        "config": {"splits": list(config.splits) if config.splits else None, "top_k": config.top_k},
        "corpora": corpora,
    }


# ---------------------------------------------------------------------------- tokens

def token_summary(tokens_dir: str, split_characters: Mapping[str, dict] | None = None) -> dict:
    """TOKENS from a token directory's manifest.json (written last by the tokenizer, so its
    presence means the token shards are complete). Counts include each document's EOS; the
    length histograms come from each shard's document index (8 bytes a document, tokens unread)."""
    path = storage.join(tokens_dir, TOKEN_MANIFEST)
    if not storage.exists(path):
        raise UserError(f"{tokens_dir}: no {TOKEN_MANIFEST} (not a token directory, or tokenizing did not finish)")
    manifest = _read_json(path)
    if manifest.get("format") != TOKEN_MANIFEST_FORMAT:
        raise UserError(f"{path}: not a cleancrawl token manifest (format {manifest.get('format')!r})")
    # numpy only; the format's one reader
    from cleancrawl.tokenizer.token_shards import check_manifest, read_document_lengths
    check_manifest(manifest, path, need_tokenizer=False)  # one line for a malformed manifest or a shard listed twice

    splits, missing, failed = {}, [], []
    all_lengths = Histogram(LENGTH_EDGES)
    for split, entries in sorted((manifest.get("splits") or {}).items()):
        documents = sum(int(e.get("num_docs", 0)) for e in entries)
        tokens = sum(int(e.get("num_tokens", 0)) for e in entries)
        content = (split_characters or {}).get(split)
        same_documents = content is not None and content.get("documents") == documents and tokens
        lengths = Histogram(LENGTH_EDGES)
        for entry in entries:
            if "path" not in entry:
                continue
            path = storage.join(tokens_dir, entry["path"])
            if not storage.exists(path):
                missing.append(path)
                continue
            try:
                with storage.open_seekable(path) as source:
                    lengths.add(read_document_lengths(source, path))
            except Exception as err:  # a corrupt shard is named; the manifest's totals still stand
                failed.append({"path": path, "error": f"{type(err).__name__}: {err}"[:500]})
        all_lengths.merge(lengths)
        splits[split] = {
            "shards": len(entries), "documents": documents, "tokens": tokens,
            "tokens_per_document": round(tokens / documents, 3) if documents else None,
            "characters_per_token": round(content["characters"] / tokens, 3) if same_documents else None,
            "lengths": lengths.to_json(),
        }
    documents = sum(s["documents"] for s in splits.values())
    tokens = sum(s["tokens"] for s in splits.values())
    return {
        "path": tokens_dir, "tokenizer": manifest.get("tokenizer", {}), "splits": splits,
        "documents": documents, "tokens": tokens,
        "tokens_per_document": round(tokens / documents, 3) if documents else None,
        "lengths": all_lengths.to_json(),
        "missing_shards": missing, "failed": failed,
    }


def _read_json(path: str) -> dict:
    try:
        if storage.is_remote(path):
            with storage.filesystems().open(path, compression_type="uncompressed") as f:
                return json.loads(f.read().decode("utf-8"))
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable JSON ({err})") from None
