"""stats.plots: what the figures show (shares of at most 100 %, on the decades that hold documents)."""
from __future__ import annotations

import math

from cleancrawl.stats import plots


def test_length_histograms_show_shares_of_at_most_100_percent_on_the_decades_used(stats_doc):
    plt = plots.pyplot()
    for corpus in stats_doc["corpora"]:
        for measure in ("characters", "words", "lines"):
            hist = corpus["contents"]["lengths"][measure]
            xs, ys, below = plots._share_per_bin(hist)
            assert max(ys) <= 100 and abs(sum(ys) + 100 * below - 100) < 1e-6
    fig = plots.plot_lengths(stats_doc["corpora"], plt)
    lowest = min(c["contents"]["lengths"]["characters"]["min"] for c in stats_doc["corpora"])
    left, _ = fig.axes[0].get_xlim()
    assert left == 10 ** int(math.log10(lowest)) >= 100    # not from 10^0
    assert fig.axes[0].get_ylim()[1] <= 100
    plt.close(fig)

