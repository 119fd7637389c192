"""MinHash on real pages: the vectorised hashing equals its definition, signatures estimate
Jaccard, LSH bands and buckets, choosing b x r, verification payloads."""
import random

import numpy as np
import pytest

from cleancrawl.corpus import _minhash_kernel as minhash_kernel
from cleancrawl.corpus.dedup import minhash
from cleancrawl.corpus.dedup.minhash import (
    LshParams,
    MinHasher,
    band_entry,
    batch_shingles,
    bucket_candidate_pairs,
    bucket_edges,
    candidate_probability,
    jaccard,
    normalize_text,
    optimal_bands,
    reference_word_hash,
    shingle_digest,
    shingle_hashes,
    signature_similarity,
    similarity,
    word_hashes,
)


def test_normalisation_folds_case_digits_and_punctuation():
    assert normalize_text("Über 2024-05-18, die STRASSE!  It's_ok…") == "über 0 0 0 die strasse it s ok"
    assert normalize_text("¡Hola! ¿Qué tal? 你好，世界") == "hola qué tal 你好 世界"
    same = shingle_hashes("The Quick, brown fox -- jumped over 12 lazy dogs!")
    assert np.array_equal(same, shingle_hashes("the quick brown fox jumped over 7 lazy dogs"))


def test_vectorised_word_hashes_equal_the_definition_on_real_pages(sample_documents):
    for doc in sample_documents[:40]:
        expected = [reference_word_hash(w) for w in normalize_text(doc.text).split(" ") if w]
        assert word_hashes(doc.text).tolist() == expected


def test_batches_give_each_text_its_own_shingles(sample_documents):
    texts = [d.text for d in sample_documents[:60]] + ["", "two words", "!!! ...", "1 2 3 4 5 6 7"]
    batched = batch_shingles(texts)
    for text, shingles in zip(texts, batched):
        alone = shingle_hashes(text)
        assert np.array_equal(shingles, alone)
        assert np.array_equal(alone, np.unique(alone))
    assert len(batched[-4]) == 0 and len(batched[-3]) == 1 and len(batched[-2]) == 0  # short: one shingle
    assert len(batched[-1]) == 1  # digit runs are all "0": one distinct 5-gram


def test_signatures_estimate_the_exact_jaccard_of_real_pages(sample_documents):
    rng = random.Random(0)
    hasher = MinHasher()
    errors = []
    for doc in sample_documents:
        words = doc.text.split()
        if len(words) < 300:
            continue
        keep = rng.uniform(0.5, 1.0)
        variant = " ".join(words[: int(len(words) * keep)])
        a, b = shingle_hashes(doc.text), shingle_hashes(variant)
        exact = jaccard(a, b)
        assert exact == pytest.approx(len(set(a.tolist()) & set(b.tolist())) / len(set(a.tolist()) | set(b.tolist())))
        errors.append(signature_similarity(hasher.signature(a), hasher.signature(b)) - exact)
    errors = np.array(errors)
    assert len(errors) > 50
    assert abs(errors.mean()) < 0.01            # unbiased
    assert errors.std() < 0.06                  # ~ sqrt(J(1 - J) / 112) <= 0.047
    batch = hasher.batch_signatures([shingle_hashes(d.text) for d in sample_documents[:50]])
    assert all(np.array_equal(batch[i], hasher.signature(shingle_hashes(d.text)))
               for i, d in enumerate(sample_documents[:50]))


def test_band_keys_are_stable_and_seeded(sample_documents):
    text = sample_documents[3].text
    first, second = MinHasher(), MinHasher()
    sig = first.signature(shingle_hashes(text))
    assert np.array_equal(sig, second.signature(shingle_hashes(text)))
    assert first.band_keys(sig) == second.band_keys(sig)
    keys = first.band_keys(sig)
    assert len(keys) == 14 and len(set(keys)) == 14 and all(len(k) == 10 for k in keys)
    other = MinHasher(LshParams(seed=2)).signature(shingle_hashes(text))
    assert not np.array_equal(sig, other)
    assert first.signature(np.zeros(0, dtype=np.uint64)) is None


def test_bucket_pairs_all_pairs_when_small_and_a_star_when_large():
    band = b"\x00\x03" + bytes(range(8))
    docs = [bytes([i]) * 24 for i in range(12)]
    small = [band_entry(band, d)[1] for d in docs[:4]]
    other = band_entry(b"\x00\x03" + bytes(range(1, 9)), docs[5])[1]
    assert sorted(bucket_candidate_pairs(small + [other])) == [
        (docs[i], docs[j]) for i in range(4) for j in range(i + 1, 4)]
    large = [band_entry(band, d)[1] for d in reversed(docs)]
    assert sorted(bucket_candidate_pairs(large, all_pairs_bucket=8)) == [(docs[0], d) for d in docs[1:]]
    partition, entry = band_entry(band, docs[0])
    assert partition == b"\x00\x03\x00\x00" and entry == bytes(range(8)) + docs[0]


def test_copies_of_one_shingle_set_join_their_smallest_and_only_representatives_pair_up():
    band = b"\x00\x00" + bytes(range(8))
    page, other = shingle_hashes("one page of real words copied onto many hosts, word for word"), shingle_hashes(
        "another page that is only a near copy of the first one, not the same")
    same, near = shingle_digest(page), shingle_digest(other)
    assert same == shingle_digest(page.copy()) and len(same) == 8 and same != near
    copies = [bytes([i]) * 28 for i in range(2, 40)]  # a cluster of 38 copies: nodes 2..39
    nears = [bytes([i]) * 28 for i in (1, 50)]        # two copies of a near copy: 1 is the smallest of all
    entries = [band_entry(band, n, same)[1] for n in reversed(copies)] + [band_entry(band, n, near)[1] for n in nears]
    edges = list(bucket_edges(entries, all_pairs_bucket=8, digest_bytes=8, identical=True))
    identical = sorted((a, b) for a, b, same_set in edges if same_set)
    pairs = sorted((a, b) for a, b, same_set in edges if not same_set)
    assert identical == sorted([(copies[0], n) for n in copies[1:]] + [(nears[0], nears[1])])  # n - 1 a cluster
    assert pairs == [(nears[0], copies[0])]  # one pair to verify, between the two representatives
    # Another band of the same documents: the same pair, no edges between copies again.
    again = list(bucket_edges(entries, 8, 8, identical=False))
    assert again == [(nears[0], copies[0], False)]
    # Without digests: all pairs up to all_pairs_bucket members, else a star (as bucket_candidate_pairs).
    plain = [band_entry(band, n)[1] for n in copies]
    assert list(bucket_edges(plain, 8)) == [(copies[0], n, False) for n in copies[1:]]


def test_bands_and_rows_chosen_for_a_threshold():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = optimal_bands(threshold, 112)
        assert bands * rows <= 112
        # the S-curve's steepest point, (1/b)^(1/r), sits a little below the threshold
        assert threshold - 0.15 < (1 / bands) ** (1 / rows) < threshold + 0.02
    assert optimal_bands(0.9)[1] > optimal_bands(0.7)[1]
    # FineWeb's 14 x 8: a pair at J = 0.8 is a candidate 92% of the time, at 0.5 4%
    assert candidate_probability(0.8, 14, 8) == pytest.approx(0.924, abs=0.001)
    assert candidate_probability(0.5, 14, 8) < 0.06


def test_verification_payloads(sample_documents):
    a, b = shingle_hashes(sample_documents[0].text), shingle_hashes(sample_documents[0].text[:3000])
    assert similarity(a.tobytes(), b.tobytes(), "exact") == jaccard(a, b)
    hasher = MinHasher()
    sa, sb = hasher.signature(a), hasher.signature(b)
    assert similarity(sa.tobytes(), sb.tobytes(), "signature") == signature_similarity(sa, sb)


def _numpy_batch(texts, ngram):
    """The numpy path of `batch_shingles` (the compiled kernel's reference), on one batch."""
    codes, separators = minhash._joined_codes(texts)
    return minhash._numpy_shingles(codes, separators, len(texts), ngram)


@pytest.mark.skipif(not minhash_kernel.AVAILABLE, reason="numba is not installed")
def test_compiled_shingling_is_the_numpy_path_bit_for_bit(sample_documents):
    assert minhash._compiled_shingles_work()  # compiles, and agrees on its start-up texts
    rng = random.Random(5)
    odd = ["", " ", "1", "a", "12 34 56", "x" * 70000, "ΑΒΓ 123abc 4x5 ٣٤٥ __ --- 東京タワー 😀𐐀 \ud800 end",
           "".join(chr(rng.choice([48, 49, 65, 97, 32, 10, 95, 0x0660, 0x4E00, 0x1F600, 0xD800, 0x10FFFF]))
                   for _ in range(5000))]
    texts = [d.text for d in sample_documents] + odd
    for ngram in (1, 2, 5, 9):
        for start in range(0, len(texts), 37):
            batch = texts[start:start + 37]
            compiled = batch_shingles(batch, ngram)
            assert all(np.array_equal(a, b) for a, b in zip(compiled, _numpy_batch(batch, ngram), strict=True))
