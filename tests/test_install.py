"""`pip install .` with the pip that `python3 -m venv` brings on Debian 12 / Python 3.11 (23.x).

Pips before 24 do not normalise extra names: trafilatura (through jusText) asks for
`lxml[html_clean]`, lxml spells the extra `html-clean`, and pip 23 warns "lxml does not provide the
extra 'html_clean'" and skips `lxml_html_clean` — then `import trafilatura` fails. cleancrawl
depends on `lxml_html_clean` directly. This test resolves the install with pip 23.2.1 in a
throwaway venv (`--dry-run --report`: no torch download), installs exactly what that resolution
gives for trafilatura, and imports and runs trafilatura there. It uses the configured package
index (here the local mirror), so it needs no other network.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD_PIP = "23.2.1"
OFFLINE = ("NewConnectionError", "Network is unreachable", "Temporary failure in name resolution", "ConnectTimeout")


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    if done.returncode and any(word in done.stderr for word in OFFLINE):
        pytest.skip("no package index reachable: " + done.stderr.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _needed(report: dict, root: str) -> tuple[dict[str, str], set[str]]:
    """{name: version} of the resolved packages `root` needs (its requirements, with the extras
    they ask for, recursively), and the names it needs that the resolution left out."""
    items = {canonicalize_name(i["metadata"]["name"]): i["metadata"] for i in report["install"]}
    wanted: dict[str, set[str]] = {root: set()}
    seen: dict[str, set[str]] = {}
    missing: set[str] = set()
    while wanted:
        name, extras = wanted.popitem()
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        if name not in items:
            missing.add(name)
            continue
        for line in items[name].get("requires_dist") or []:
            req = Requirement(line)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in {"", *seen[name]}):
                dep = canonicalize_name(req.name)
                wanted[dep] = wanted.get(dep, set()) | set(req.extras)
    return {n: items[n]["version"] for n in seen if n in items}, missing


@pytest.mark.slow
def test_an_install_with_pip_23_can_import_trafilatura(tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    version = _run([python, "-m", "pip", "--version"]).stdout.split()[1]
    if version != OLD_PIP:
        _run([python, "-m", "pip", "install", "-q", f"pip=={OLD_PIP}"])

    report_path = tmp_path / "report.json"
    resolved = _run([python, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                     "--report", report_path, ROOT])
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    assert report["pip_version"] == OLD_PIP
    assert "does not provide the extra 'html_clean'" in resolved.stderr  # the old pip's blind spot is there
    names = {canonicalize_name(i["metadata"]["name"]) for i in report["install"]}
    assert "lxml-html-clean" in names  # ... and covered by the direct requirement
    assert "datasketch" not in names  # bench/ only: the `bench` extra
    assert "scipy" in names  # `experiment fit` works after a plain install (it came with datasketch once)

    needed, missing = _needed(report, "trafilatura")
    assert not missing, missing
    _run([python, "-m", "pip", "install", "-q", "--no-deps", *(f"{n}=={v}" for n, v in sorted(needed.items()))])
    page = "<html><body><article><p>" + "Deduplicated web text for pretraining. " * 20 + "</p></article></body></html>"
    done = _run([python, "-c", "import sys, trafilatura; print(trafilatura.extract(sys.argv[1]))", page])
    assert done.stdout.startswith("Deduplicated web text for pretraining.")


@pytest.mark.slow
def test_the_wheel_carries_licence_urls_classifiers_and_the_direct_requirement(tmp_path):
    import email
    import zipfile

    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path, ROOT])
    (wheel,) = [p for p in os.listdir(tmp_path) if p.endswith(".whl")]
    with zipfile.ZipFile(tmp_path / wheel) as z:
        (info,) = {n.split("/")[0] for n in z.namelist() if n.split("/")[0].endswith(".dist-info")}
        meta = email.message_from_bytes(z.read(f"{info}/METADATA"))
        licence = z.read(f"{info}/licenses/LICENSE").decode()
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        assert licence == f.read()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("Project-URL") and meta.get_all("Classifier")
    requires = {canonicalize_name(Requirement(r).name): Requirement(r) for r in meta.get_all("Requires-Dist")}
    assert "lxml-html-clean" in requires and not requires["lxml-html-clean"].marker
    assert str(requires["datasketch"].marker) == 'extra == "bench"'
    assert "scipy" in requires and not requires["scipy"].marker  # every documented command after `pip install`
