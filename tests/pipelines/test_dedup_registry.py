"""The dedup methods' registry: each method is one `Method` line (corpus.dedup) and one
`@dedup_method` composite (pipelines.dedup); DedupDocuments looks them up, no special cases."""
import dataclasses

import pytest

from cleancrawl.corpus.dedup import DEFAULT_METHODS, METHOD_REGISTRY, METHODS, DedupConfig, method
from cleancrawl.corpus.errors import UserError
from cleancrawl.pipelines import dedup as pipelines_dedup


def test_every_registered_method_has_its_composite_and_only_its_own_options():
    assert METHODS == ("c4-lines", "c4-spans", "minhash") and set(DEFAULT_METHODS) <= set(METHODS)
    assert set(pipelines_dedup.TRANSFORMS) == set(METHODS)
    fields = {f.name for f in dataclasses.fields(DedupConfig)}
    for m in METHOD_REGISTRY:
        assert set(m.options) <= fields, m
    assert [m.name for m in METHOD_REGISTRY if m.audit] == ["minhash"]  # writes OUT/duplicates/
    assert DedupConfig().options_of("c4-spans") == {"min_sentences": 3, "span_sentences": 3}


def test_a_composite_for_an_unregistered_method_fails_at_import_time():
    with pytest.raises(UserError, match="unknown dedup method"):
        pipelines_dedup.dedup_method("simhash", "SimHash")
    with pytest.raises(ValueError, match="registered twice"):
        pipelines_dedup.dedup_method("minhash", "MinHash")(object)
    assert method("minhash").name == "minhash"
