"""The package map holds: no import cycles, and corpus/ is the pure document library.

Every import statement of every module is read with `ast` (at any depth: an import inside a
function counts too, since it still ties the two modules together).
"""
import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cleancrawl")


def _modules() -> dict[str, str]:
    found = {}
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__" and d != "data"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                found[rel.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """Every module name this module imports (absolute, as written or resolved from a relative import)."""
    path = MODULES[module]
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def _internal(name: str) -> str | None:
    """The project module `name` refers to (a module, or the module a name is imported from)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


GRAPH = {m: {d for d in map(_internal, _imports(m)) if d and d != m} for m in MODULES}


def test_the_map_is_what_the_readme_describes():
    packages = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert {"corpus", "pipelines", "tokenizer", "pretrain", "stats", "selection", "cli", "storage",
            "layout"} <= packages


def test_no_module_level_import_cycle():
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert cycles == []


# Leaf modules every package may import: `options.option()`, the one way to declare an option.
LEAVES = ("cleancrawl.options",)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("cleancrawl.corpus")))
def test_corpus_is_the_pure_document_library(module):
    """corpus/ imports no Beam, no torch, and nothing of the packages built on it (a leaf aside)."""
    external = {n.split(".")[0] for n in _imports(module)}
    assert not external & {"apache_beam", "torch"}, module
    above = {d for d in GRAPH[module] if not d.startswith("cleancrawl.corpus")} - set(LEAVES)
    assert above == set(), f"{module} imports {sorted(above)}"


@pytest.mark.parametrize("module", LEAVES)
def test_leaves_import_only_the_standard_library_and_corpus_errors(module):
    """A leaf imports nothing of the project but corpus/'s error and safe-text helpers (no cycle back)."""
    assert GRAPH[module] <= {"cleancrawl.corpus.errors", "cleancrawl.corpus.safe_text"}, sorted(GRAPH[module])
    external = {n.split(".")[0] for n in _imports(module)} - {"cleancrawl"}
    assert external <= {"__future__", "argparse", "dataclasses", "difflib", "json", "os", "types", "typing",
                        "tomllib", "yaml"}, sorted(external)


def test_pipelines_know_nothing_of_html_or_punkt():
    """The README's Layout: pipelines/ composes corpus/ stages; HTML and sentence splitting stay in corpus/."""
    for module in (m for m in MODULES if m.startswith("cleancrawl.pipelines")):
        external = {n.split(".")[0] for n in _imports(module)}
        assert not external & {"trafilatura", "nltk", "lxml", "langdetect"}, module


def test_pretrain_reads_token_shards_and_nothing_else_of_the_project():
    for module in (m for m in MODULES if m.startswith("cleancrawl.pretrain")):
        allowed = ("cleancrawl.pretrain", "cleancrawl.tokenizer.token_shards", "cleancrawl.corpus.errors",
                   "cleancrawl.storage", "cleancrawl.output_folder", "cleancrawl.write_failures", "cleancrawl.cli",
                   "cleancrawl.eval_sets",  # the --eval text reader bits per byte shares with overlap
                   *LEAVES)
        # `from cleancrawl import storage` names the package itself too (its __init__ holds only __version__)
        assert all(d.startswith(allowed) or d == "cleancrawl" for d in GRAPH[module]), (module, sorted(GRAPH[module]))
