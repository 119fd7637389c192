"""stats.histogram: fixed bins that merge exactly, quantiles inside the right bin (real document lengths)."""
from __future__ import annotations

import numpy as np

from cleancrawl.stats.histogram import LENGTH_EDGES, Histogram


def test_histograms_merge_exactly_and_quantiles_land_in_the_right_bin(sample_documents):
    lengths = np.array([len(d.text) for d in sample_documents])
    whole, first, second = Histogram(LENGTH_EDGES), Histogram(LENGTH_EDGES), Histogram(LENGTH_EDGES)
    whole.add(lengths)
    first.add(lengths[:100])
    second.add(lengths[100:])
    first.merge(second)
    assert first.to_json() == whole.to_json()
    assert whole.count == len(lengths) and whole.low == lengths.min() and whole.high == lengths.max()
    median = float(np.median(lengths))
    bin_of = np.searchsorted(LENGTH_EDGES, median, side="right") - 1
    lo, hi = LENGTH_EDGES[bin_of], LENGTH_EDGES[bin_of + 1]
    assert lo * 0.8 <= whole.quantile(0.5) <= hi * 1.25   # within a bin of the exact median

