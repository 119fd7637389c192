"""`tokenize`'s SentencePiece fast path (issue #14): ids as numpy buffers, texts as UTF-8 bytes,
each batch written whole. Whatever the path, the shards hold exactly a plain `sp.encode(text)`
loop's ids plus eos, and the batch writer gives the bytes of the one-document-at-a-time writer."""
from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleancrawl.layout import SUCCESS_MARKER, list_shards, shard_name
from cleancrawl.storage import iter_texts
from cleancrawl.tokenizer.encode_shards import (
    TokenizeConfig,
    plan_jobs,
    tokenize_corpus,
)
from cleancrawl.tokenizer.model import load_tokenizer
from cleancrawl.tokenizer.token_shards import (
    TokenShard,
    read_manifest,
    write_token_shard,
    write_token_shard_batches,
)

HASH = "ab" * 32


@pytest.mark.parametrize("kind", ["sentencepiece-unigram", "sentencepiece-bpe"])
def test_shards_hold_a_plain_encode_loops_ids(kind, trained, corpus_dir, tmp_path):
    out = str(tmp_path / "tokens")
    result = tokenize_corpus(TokenizeConfig(trained[kind], corpus_dir, out, workers=1), progress=False)
    assert result.encoder == "sentencepiece"
    sp = load_tokenizer(trained[kind])._sp
    documents = 0
    for job in plan_jobs(corpus_dir, out):
        shard = TokenShard(job.target)
        texts = list(iter_texts([job.source]))
        assert len(shard) == len(texts)
        expected = [ids for text in texts for ids in (sp.encode(text), [sp.eos_id()])]
        assert np.array_equal(shard.tokens, np.array([i for ids in expected for i in ids]))
        documents += len(texts)
    assert documents == result.documents > 300  # the web pages (CJK, emoji, many scripts), novel, wiki


def test_encode_batch_arrays_is_encode_batch_for_str_and_bytes_with_or_without_numpy(trained, pages):
    tok = load_tokenizer(trained["sentencepiece-unigram"])
    texts = [text for _, text in pages] + ["", " ", "<eos>", "e\u0301\u200b\t\r\n", "\U0001F600" * 3]
    expected = tok.encode_batch(texts)
    assert [a.tolist() for a in tok.encode_batch_arrays(texts)] == expected
    assert [a.tolist() for a in tok.encode_batch_arrays([t.encode("utf-8") for t in texts])] == expected
    tok._numpy_out = False  # a sentencepiece before 0.2.1: the lists, as arrays
    arrays = tok.encode_batch_arrays(texts)
    assert all(a.dtype == np.int32 for a in arrays) and [a.tolist() for a in arrays] == expected


def test_a_large_string_text_column_is_encoded_alike(trained, corpus_dir, tmp_path):
    """Other tools' Parquet may store text as large_string: its bytes go to SentencePiece as well."""
    source = list_shards(corpus_dir, split="validation")[0]
    table = pq.read_table(source)
    wide = table.set_column(table.schema.get_field_index("text"), "text", table["text"].cast(pa.large_string()))
    other = tmp_path / "other"
    (other / "validation").mkdir(parents=True)
    pq.write_table(wide, str(other / "validation" / shard_name(0, 1)))
    (other / SUCCESS_MARKER).touch()
    a = tokenize_corpus(TokenizeConfig(trained["sentencepiece-unigram"], str(other), str(tmp_path / "a"), workers=1),
                        progress=False)
    b = tokenize_corpus(TokenizeConfig(trained["sentencepiece-unigram"], os.path.dirname(source), str(tmp_path / "b"),
                                       workers=1), progress=False)
    assert a.tokens == b.tokens and a.documents == b.documents
    rel = read_manifest(a.output)["splits"]["validation"][0]["path"]
    with open(os.path.join(a.output, rel), "rb") as fa, open(os.path.join(b.output, rel), "rb") as fb:
        assert fa.read() == fb.read()


@pytest.mark.parametrize("vocab_size", [300, 70000])
def test_batch_writer_gives_the_document_writers_bytes(tmp_path, vocab_size):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, vocab_size, size=n).tolist() for n in (0, 1, 5, 0, 300, 2, 0)]
    one = str(tmp_path / "one.tok")
    write_token_shard(one, docs, vocab_size=vocab_size, eos_id=7, tokenizer_hash=HASH)
    as_lists = [docs[:3], [], docs[3:]]  # an empty batch too
    as_arrays = [[np.array(d, dtype=np.int32) for d in docs[:1]], [np.array(d, dtype=np.int32) for d in docs[1:]]]
    for name, batches in (("lists", as_lists), ("arrays", as_arrays), ("mixed", [docs[:2], as_arrays[1][1:]])):
        path = str(tmp_path / f"{name}.tok")
        header = write_token_shard_batches(path, iter(batches), vocab_size=vocab_size, eos_id=7, tokenizer_hash=HASH)
        with open(one, "rb") as f, open(path, "rb") as g:
            assert f.read() == g.read(), name
        assert header.num_docs == len(docs) and header.num_tokens == sum(map(len, docs)) + len(docs)
    empty = str(tmp_path / "empty.tok")
    write_token_shard_batches(empty, [], vocab_size=vocab_size, eos_id=7, tokenizer_hash=HASH)
    assert len(TokenShard(empty)) == 0


@pytest.mark.parametrize("bad", [300, -1, 2**40])
def test_batch_writer_names_the_document_with_an_out_of_range_id_and_leaves_nothing(tmp_path, bad):
    batches = [[[1, 2], [3]], [[4], [5, 6, bad, 7], [8]]]
    with pytest.raises(ValueError, match="document 3: token id out of range"):
        write_token_shard_batches(str(tmp_path / "x.tok"), batches, vocab_size=300, eos_id=0, tokenizer_hash=HASH)
    with pytest.raises(ValueError, match="document 2: token ids must be a flat sequence"):
        write_token_shard_batches(str(tmp_path / "x.tok"), [[[1], [2]], [[[3, 4]]]], vocab_size=300, eos_id=0,
                                  tokenizer_hash=HASH)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["sentencepiece-unigram", "byte-bpe"])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_text_that_is_not_utf8_is_one_line_whatever_the_encoder(kind, workers, trained, pages, tmp_path):
    """Another tool's Parquet may hold invalid UTF-8 in a string column (Arrow does not check on
    reading): SentencePiece would encode its bytes, the BPE encoders fail to decode it; both refuse."""
    from cleancrawl.corpus.errors import UserError
    from cleancrawl.corpus.record import documents_to_table

    from tokenizer_testdata import _doc

    texts = [text.encode("utf-8") for _, text in pages[:3]]
    texts[1] = texts[1][:50] + b"\xe3\x81" + texts[1][50:]  # a truncated 3-byte character
    table = documents_to_table([_doc(url, "x") for url, _ in pages[:3]])
    table = table.set_column(table.schema.get_field_index("text"), "text",
                             pa.array(texts, pa.binary()).view(pa.string()))
    corpus = tmp_path / "other"
    (corpus / "train").mkdir(parents=True)
    pq.write_table(documents_to_table([_doc(url, text) for url, text in pages[3:6]]),
                   str(corpus / "train" / shard_name(0, 2)))
    pq.write_table(table, str(corpus / "train" / shard_name(1, 2)))  # with 2 workers, raised in a worker process
    (corpus / SUCCESS_MARKER).touch()
    with pytest.raises(UserError, match=r"part-00001-of-00002\.parquet: document 1: column 'text' is not valid UTF-8"):
        tokenize_corpus(TokenizeConfig(trained[kind], str(corpus), str(tmp_path / "tokens"), workers=workers),
                        progress=False)
    assert not os.path.exists(tmp_path / "tokens" / "manifest.json")
