"""One I/O boundary (issue 22): only `cleancrawl/storage.py` (and the file system it registers for
http(s), `http_files.py`) touches files by Beam's FileSystems,
renames a file into place, or opens one for writing. Every other module writes through
`storage.atomic_writer` / `write_atomically` (one temporary name, synced, removed on error),
`storage.create` (a run's private spill files) or `storage.open_append` (a run's own log).

Read with `ast`, so a call inside a function counts as much as one at the top of a module."""
import ast
import os

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cleancrawl")
BOUNDARY = {"storage.py", "http_files.py"}  # http_files: the http(s) scheme Beam's FileSystems dispatch to


def _modules():
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "data")]
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.endswith(".py") and os.path.relpath(path, PACKAGE) not in BOUNDARY:
                yield os.path.relpath(path, PACKAGE)


def _crossings(relative: str) -> list[str]:
    with open(os.path.join(PACKAGE, relative), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("apache_beam.io.filesystems",
                                                                "apache_beam.io.filesystem"):
            found.append(f"line {node.lineno}: imports {node.module}")
        elif isinstance(node, ast.Name) and node.id == "FileSystems":
            found.append(f"line {node.lineno}: FileSystems")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) \
                    and func.value.id in ("os", "shutil") and func.attr in ("replace", "rename", "move"):
                found.append(f"line {node.lineno}: {func.value.id}.{func.attr}")
            if isinstance(func, ast.Name) and func.id == "open" and _writes(node) and not _devnull(node):
                found.append(f"line {node.lineno}: open(..., {_mode(node)!r})")
    return found


def _mode(call: ast.Call):
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    return mode.value if isinstance(mode, ast.Constant) else "r"


def _writes(call: ast.Call) -> bool:
    return any(c in _mode(call) for c in "wax+")


def _devnull(call: ast.Call) -> bool:
    first = call.args[0] if call.args else None
    return isinstance(first, ast.Attribute) and first.attr == "devnull"


@pytest.mark.parametrize("relative", sorted(_modules()))
def test_no_module_but_storage_touches_files_directly(relative):
    assert _crossings(relative) == [], f"{relative}: use cleancrawl.storage"


def test_the_check_sees_what_it_looks_for(tmp_path, monkeypatch):
    module = tmp_path / "bad.py"
    module.write_text("import os\nfrom apache_beam.io.filesystems import FileSystems\n"
                      "def f(p):\n    with open(p, 'wb') as f:\n        f.write(b'')\n    os.replace(p, p)\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", str(tmp_path))
    assert len(_crossings("bad.py")) == 3  # the import, the open for writing, the rename
