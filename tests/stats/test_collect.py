"""stats.collect: one corpus's document composed from its sections (Reddit columns, dedup side
output, token shards), the token summary and its broken shards, and remote paths."""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter

from cleancrawl.stats.collect import corpus_stats

from stats_testdata import stats_config

# ---------------------------------------------------------------------------- optional sections

def test_reddit_duplicates_and_tokens_sections(webtext_corpus):
    out, expected = webtext_corpus
    corpus = corpus_stats([out], stats_config())["corpora"][0]
    docs = expected["documents"]

    reddit = corpus["contents"]["reddit"]
    scores = [d.reddit_score for d in docs]
    assert reddit["documents"] == len(docs)
    assert reddit["score"]["sum"] == sum(scores) and reddit["score"]["max"] == max(scores)
    assert reddit["score"]["counts"][:10] == [sum(s == v for s in scores) for v in range(10)]
    assert dict(reddit["subreddits"]["top"]) == dict(Counter(s for d in docs for s in d.subreddits))
    assert corpus["contents"]["languages"] == {}            # language ID never ran on these pages
    assert corpus["contents"]["language_score"] is None
    assert corpus["funnel"] is None                          # no stats.json: not a cleancrawl build

    dups = corpus["duplicates"]
    assert (dups["key_column"], dups["size_column"]) == ("kept_id", "cluster_size")
    assert {int(k): v for k, v in dups["sizes"].items()} == dict(expected["clusters"])
    assert dups["rows"] == sum((size - 1) * n for size, n in expected["clusters"].items())

    tokens = corpus["tokens"]
    for split, want in expected["tokens"].items():
        got = tokens["splits"][split]
        assert (got["documents"], got["tokens"]) == (want["documents"], want["tokens"])
        chars = corpus["contents"]["splits"][split]["characters"]
        assert got["characters_per_token"] == round(chars / want["tokens"], 3)
    assert tokens["missing_shards"] == [] and tokens["failed"] == [] and corpus["problems"] == []
    # Token lengths per document, read from the shards' document index: one token a word + EOS.
    for split, want in expected["tokens"].items():
        lengths = tokens["splits"][split]["lengths"]
        assert (lengths["count"], lengths["sum"]) == (want["documents"], want["tokens"])
    words = sorted(len(d.text.split()) + 1 for d in docs)
    assert (tokens["lengths"]["min"], tokens["lengths"]["max"]) == (words[0], words[-1])
    assert tokens["lengths"]["counts"][:10] == [words.count(n) for n in range(10)]


def test_missing_token_shard_is_reported(webtext_corpus, tmp_path):
    out, _ = webtext_corpus
    copy = tmp_path / "wt"
    shutil.copytree(out, copy)
    gone = copy / "tokens" / "train" / "part-00001-of-00002.tok"
    os.remove(gone)
    corpus = corpus_stats([str(copy)], stats_config())["corpora"][0]
    assert corpus["tokens"]["missing_shards"] == [str(gone)]
    assert any(str(gone) in p for p in corpus["problems"])

    # A truncated shard: named with its error; the manifest's totals still stand.
    cut = copy / "tokens" / "train" / "part-00000-of-00002.tok"
    cut.write_bytes(cut.read_bytes()[:-12])
    corpus = corpus_stats([str(copy)], stats_config())["corpora"][0]
    assert [f["path"] for f in corpus["tokens"]["failed"]] == [str(cut)]
    assert "truncated" in corpus["tokens"]["failed"][0]["error"]
    assert any(f"unreadable token shard: {cut}" in p for p in corpus["problems"])


# ---------------------------------------------------------------------------- remote paths

def test_remote_scheme_reads_through_beam_file_systems(webtext_corpus):
    """A scheme only Beam knows (like a plugin file system): listing, shards, manifest."""
    from apache_beam.io.localfilesystem import LocalFileSystem

    class PrefixedLocal(LocalFileSystem):
        @classmethod
        def scheme(cls):
            return "cctest"

        @staticmethod
        def _local(path):
            return path[len("cctest://"):] if path.startswith("cctest://") else path

        def match(self, patterns, limits=None):
            results = super().match([self._local(p) for p in patterns], limits)
            for result in results:
                for m in result.metadata_list:
                    m.path = "cctest://" + m.path
            return results

        def exists(self, path):
            return super().exists(self._local(path))

        def open(self, path, *args, **kwargs):
            return super().open(self._local(path), *args, **kwargs)

    out, _ = webtext_corpus
    local = corpus_stats([out], stats_config())["corpora"][0]
    remote = corpus_stats(["cctest://" + out], stats_config())["corpora"][0]
    assert remote["contents"]["shards"]["scanned"] == 3
    for key in ("contents", "duplicates"):
        assert json.dumps(remote[key]).replace("cctest://", "") == json.dumps(local[key])
    assert remote["tokens"]["tokens"] == local["tokens"]["tokens"]
