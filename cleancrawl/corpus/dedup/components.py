"""Connected components in a bounded number of rounds: large-star / small-star.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). Each round is
one group-by-node over the edge list, and each node only ever looks at its own neighbours,
so a distributed runner never holds more than one node's neighbourhood in one place:

  large-star(u): m = min(N(u) + u); link every neighbour v > u to m
  small-star(u): m = min({v in N(u): v < u} + u); link those smaller neighbours and u to m

Alternating the two converges (in O(log^2 n) rounds, a handful in practice; LSH graphs are
nearly stars already) to a forest of stars whose centre is the component's smallest node.
Nodes are document keys (`corpus.dedup.document_key`), so the centre is the document C4's
order would keep.

The pipeline unrolls a fixed number of round pairs (`DedupConfig.cc_rounds`). If a graph
has not converged by then, `assign_parents` still gives a safe answer: every node that has
a smaller neighbour is a duplicate of it and every node that has none survives, so some
components keep more than one document (less deduplication, never a wrong drop); the
number of such nodes is reported.

The functions below take a node and an iterable of its neighbours and iterate it twice
(minimum, then emit), which Beam's grouped values allow; repeated neighbours are emitted
once while a bounded set can remember them.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Iterable, Iterator

Node = Hashable
Edge = tuple[Node, Node]

_REMEMBERED = 1 << 20  # neighbours remembered for de-duplication, per node


def _distinct(values: Iterable[Node]) -> Iterator[Node]:
    seen: set = set()
    for value in values:
        if value in seen:
            continue
        if len(seen) < _REMEMBERED:
            seen.add(value)
        yield value


def large_star(node: Node, neighbours: Iterable[Node]) -> Iterator[Edge]:
    """Edges (v, m) for every neighbour v > node, m the smallest of node and its neighbours."""
    smallest = min(node, min(neighbours, default=node))
    for v in _distinct(neighbours):
        if v > node:
            yield v, smallest


def small_star(node: Node, smaller: Iterable[Node]) -> Iterator[Edge]:
    """`smaller`: the neighbours v < node. Edges (v, m) for them and node, m their minimum."""
    smallest = min(node, min(smaller, default=node))
    if smallest == node:
        return
    yield node, smallest
    for v in _distinct(smaller):
        if v != smallest:
            yield v, smallest


def assign_parents(node: Node, neighbours: Iterable[Node]) -> tuple[Node | None, bool]:
    """(smallest neighbour below node, or None for a survivor; converged here?): the read-out.

    In a converged star forest a node has either only larger neighbours (a centre) or
    only one neighbour, smaller (a leaf; the edge may be repeated); anything else means the
    rounds ran out before this part of the graph converged.
    """
    smallest = min(neighbours, default=node)
    if smallest >= node:
        return None, True
    return smallest, all(v == smallest for v in neighbours)


# ---------------------------------------------------------------------------- in one process

def _both_ways(edges: Iterable[Edge]) -> dict:
    grouped: dict = defaultdict(list)
    for a, b in edges:
        if a != b:
            grouped[a].append(b)
            grouped[b].append(a)
    return grouped


def large_star_round(edges: Iterable[Edge]) -> list[Edge]:
    return [e for u, nbrs in _both_ways(edges).items() for e in large_star(u, nbrs)]


def small_star_round(edges: Iterable[Edge]) -> list[Edge]:
    grouped: dict = defaultdict(list)
    for a, b in edges:
        if a != b:
            grouped[max(a, b)].append(min(a, b))
    return [e for u, smaller in grouped.items() for e in small_star(u, smaller)]


def connected_components(edges: Iterable[Edge], rounds: int = 6) -> tuple[dict, int]:
    """node -> parent for every non-surviving node, and the number of unconverged nodes.

    The same steps as the pipeline, in one process (tests, small graphs).
    """
    edges = list(edges)
    for _ in range(rounds):
        edges = small_star_round(large_star_round(edges))
    parents, unconverged = {}, 0
    for u, nbrs in _both_ways(edges).items():
        parent, converged = assign_parents(u, nbrs)
        unconverged += not converged
        if parent is not None:
            parents[u] = parent
    return parents, unconverged


def union_find_components(edges: Iterable[Edge]) -> dict:
    """node -> smallest node of its component (every node of an edge); the reference."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}
