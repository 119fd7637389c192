"""stats.duplicates: clusters keyed by a cluster id, by a pointer to the kept document, or not at all."""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from cleancrawl.stats.collect import corpus_stats

from stats_testdata import stats_config


def test_duplicates_keyed_by_cluster_id_or_pointer_or_not_at_all(tmp_path, sample_documents):
    out = tmp_path / "corpus"
    os.makedirs(out / "duplicates")
    from cleancrawl.corpus.record import documents_to_table
    pq.write_table(documents_to_table(sample_documents[:20]), out / "docs.parquet")
    urls = [d.url for d in sample_documents[20:30]]
    # cluster_id given with its size (the kept documents are not rows).
    pq.write_table(pa.table({"url": urls, "cluster_id": [1, 1, 1, 2, 2, 3, 3, 3, 3, 3],
                             "cluster_size": [4, 4, 4, 3, 3, 6, 6, 6, 6, 6]}), out / "duplicates" / "a.parquet")
    corpus = corpus_stats([str(out)], stats_config())["corpora"][0]
    assert corpus["duplicates"]["sizes"] == {"3": 1, "4": 1, "6": 1}
    assert corpus["contents"]["documents"] == 20

    # Only a pointer to the kept document: a cluster is its rows + the kept one.
    pq.write_table(pa.table({"url": urls, "duplicate_of": [urls[0]] * 3 + [urls[5]] * 7}),
                   out / "duplicates" / "a.parquet")
    dups = corpus_stats([str(out)], stats_config())["corpora"][0]["duplicates"]
    assert ((dups["key_column"], dups["sizes"], dups["largest"])
            == ("duplicate_of", {"4": 1, "8": 1}, [[urls[5], 8], [urls[0], 4]]))

    pq.write_table(pa.table({"url": urls}), out / "duplicates" / "a.parquet")
    dups = corpus_stats([str(out)], stats_config())["corpora"][0]["duplicates"]
    assert (dups["rows"], dups["key_column"], dups["clusters"]) == (10, None, 0)

