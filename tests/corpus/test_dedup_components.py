"""Connected components by large-star / small-star rounds, against union-find."""
import random

from cleancrawl.corpus.dedup.components import (
    assign_parents,
    connected_components,
    large_star,
    large_star_round,
    small_star,
    small_star_round,
    union_find_components,
)


def _check(edges, parents):
    truth = union_find_components(edges)
    survivors = {node for node in truth if node not in parents}
    assert survivors == set(truth.values())              # one survivor a component: its minimum
    assert all(parent == truth[node] for node, parent in parents.items())


def test_the_steps_on_a_small_graph():
    assert sorted(large_star(3, [1, 5, 7, 5])) == [(5, 1), (7, 1)]
    assert sorted(small_star(7, [3, 5, 3])) == [(5, 3), (7, 3)]
    assert list(small_star(2, [])) == []
    assert assign_parents(5, [1, 1]) == (1, True)
    assert assign_parents(1, [5, 7]) == (None, True)
    assert assign_parents(5, [1, 9]) == (1, False)        # a leaf that still has a child: not converged


def test_random_graphs_and_long_paths_match_union_find():
    rng = random.Random(7)
    for trial in range(150):
        n = rng.randint(2, 400)
        if trial % 3 == 0:  # a path with random labels: the slowest shape to converge
            order = rng.sample(range(n), n)
            edges = list(zip(order, order[1:]))
        else:
            edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(rng.randint(1, 2 * n))]
        parents, unconverged = connected_components(edges, rounds=10)
        assert unconverged == 0
        _check(edges, parents)


def test_byte_string_nodes_as_in_the_pipeline():
    rng = random.Random(3)
    keys = [rng.randbytes(24) for _ in range(200)]
    edges = [(rng.choice(keys), rng.choice(keys)) for _ in range(300)]
    parents, unconverged = connected_components(edges, rounds=6)
    assert unconverged == 0
    _check(edges, parents)


def test_too_few_rounds_under_deduplicate_but_never_drop_wrongly():
    order = random.Random(1).sample(range(2000), 2000)
    edges = list(zip(order, order[1:]))
    parents, unconverged = connected_components(edges, rounds=1)
    assert unconverged > 0
    truth = union_find_components(edges)
    survivors = {node for node in truth if node not in parents}
    assert 0 in survivors and len(survivors) > 1       # the true survivor is kept, and some others
    assert all(truth[node] == truth[parent] for node, parent in parents.items())


def test_rounds_keep_the_graph_connected():
    edges = [(1, 9), (9, 4), (4, 8), (8, 2), (5, 6)]
    once = small_star_round(large_star_round(edges))
    assert set(union_find_components(once).values()) == set(union_find_components(edges).values())
