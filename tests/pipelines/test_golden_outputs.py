"""Refactors keep outputs byte for byte: the sample crawl's build against hashes recorded before.

`tests/data/golden/sample-builds.json` holds, for two builds of the bundled sample (the default
`c4-lines,minhash` and all three dedup methods), the sha256 of every file the build writes and
its stats.json without what legitimately varies (the finish time, the version, the resolved
config). The input is given as a relative path (documents record their source file), so the
hashes do not depend on where the checkout lies. Recorded before the package redesign (issue 13) from
the code of that time; regenerate only for a deliberate change of output, and say so:

    CLEANCRAWL_WRITE_GOLDEN=1 python -m pytest tests/pipelines/test_golden_outputs.py
"""
import hashlib
import json
import os
import shutil

import pytest

from cleancrawl.cli import main as cli_main

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "data", "golden", "sample-builds.json")
SAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "cleancrawl", "corpus", "data", "sample")
BUILDS = {
    "default": [],
    "all-dedup-methods": ["--dedup", "c4-lines,c4-spans,minhash"],
}
VARYING = ("finished_at", "cleancrawl_version", "config")


def _digest(out: str) -> dict:
    files = {}
    for root, _, names in os.walk(out):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out).replace(os.sep, "/")
            if rel != "stats.json":
                files[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    stats = json.load(open(os.path.join(out, "stats.json"), encoding="utf-8"))
    stats = {k: v for k, v in stats.items() if k not in VARYING}
    return {"files": dict(sorted(files.items())), "stats": stats}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDS))
def test_sample_build_is_byte_identical_to_the_recorded_one(name, tmp_path, monkeypatch):
    os.makedirs(tmp_path / "crawl")
    shutil.copy(os.path.join(SAMPLE_DIR, "pages.warc.wet.gz"), tmp_path / "crawl")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["-q", "build", "--input", "crawl/pages.warc.wet.gz", "--output", "out", *BUILDS[name]]) == 0
    got = _digest("out")
    if os.environ.get("CLEANCRAWL_WRITE_GOLDEN"):
        recorded = json.load(open(GOLDEN)) if os.path.exists(GOLDEN) else {}
        recorded[name] = got
        with open(GOLDEN, "w", encoding="utf-8") as f:
            json.dump(recorded, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
    expected = json.load(open(GOLDEN))[name]
    assert got["files"] == expected["files"]
    assert got["stats"] == expected["stats"]
