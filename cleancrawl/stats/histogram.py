"""Fixed-bin histograms that merge exactly: lengths, scores and token counts of a corpus.

A shard's scan fills its own `Histogram`; merging adds the counts bin by bin, so the total is the
same whatever the shards and workers. Quantiles are approximate: linear inside the bin that holds
them (bins are 1 wide below 10 and about 20 % wide above). Count, sum, min and max are exact.
In the stats document each one is a HISTOGRAM (stats/SCHEMA.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _length_edges() -> list[float]:
    """0..9 one by one, then ten bins a decade (1-1.2-1.5-2-2.5-3-4-5-6-8) up to 10^9."""
    edges = [float(i) for i in range(10)]
    for decade in range(1, 9):
        edges += [m * 10.0**decade for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)]
    return edges + [1e9]


LENGTH_EDGES = _length_edges()


@dataclass
class Histogram:
    """Fixed-bin histogram that merges exactly: bin i is edges[i] <= v < edges[i+1]."""

    edges: list[float]
    counts: np.ndarray = None
    underflow: int = 0
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def __post_init__(self):
        if self.counts is None:
            self.counts = np.zeros(len(self.edges), dtype=np.int64)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if not values.size:
            return
        index = np.searchsorted(self.edges, values, side="right") - 1
        below = index < 0
        self.underflow += int(below.sum())
        self.counts += np.bincount(index[~below], minlength=len(self.edges))
        self.count += int(values.size)
        self.total += float(values.sum())
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))

    def merge(self, other: "Histogram") -> None:
        self.counts += other.counts
        self.underflow += other.underflow
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def quantile(self, q: float) -> float | None:
        """Approximate: linear inside the bin that holds the q-th value, clamped to min/max."""
        if not self.count:
            return None
        rank = q * self.count
        if rank <= self.underflow:
            return self.low
        cumulative = self.underflow
        for i, n in enumerate(self.counts):
            if n and cumulative + n >= rank:
                lo = self.edges[i]
                hi = self.edges[i + 1] if i + 1 < len(self.edges) else self.high
                value = lo + (hi - lo) * (rank - cumulative) / n
                return min(max(value, self.low), self.high)
            cumulative += n
        return self.high

    def to_json(self) -> dict:
        empty = not self.count
        return {
            "edges": [_number(e) for e in self.edges],
            "counts": [int(c) for c in self.counts],
            "underflow": self.underflow,
            "count": self.count,
            "sum": _number(self.total),
            "min": None if empty else _number(self.low),
            "max": None if empty else _number(self.high),
            "mean": None if empty else round(self.total / self.count, 6),
            **{f"p{int(q * 100)}": None if empty else round(float(self.quantile(q)), 6) for q in (0.5, 0.9, 0.99)},
        }


def _number(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 6)
