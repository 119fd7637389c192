"""What `pip install cleancrawl` puts on sys.path: one top-level package, `cleancrawl`.

PyPI has a package called `tokenizer`, and a user's own `pipelines/` folder would shadow a
top-level `pipelines`: everything installs under `cleancrawl.` (corpus/, pipelines/, tokenizer/
and pretrain/ are folders inside the package).
"""
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_the_wheel_installs_only_the_cleancrawl_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), ROOT], check=True, capture_output=True)
    (wheel,) = [p for p in os.listdir(tmp_path) if p.endswith(".whl")]
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"cleancrawl"}
    # package data travels with it: the sample crawl, badwords, Punkt, the launch scripts
    for data in ("cleancrawl/corpus/data/sample/pages.warc.wet.gz", "cleancrawl/corpus/data/badwords/en",
                 "cleancrawl/pretrain/launch/torchrun.sh", "cleancrawl/pretrain/eval_texts/wikitext-2-valid-slice.txt",
                 "cleancrawl/pretrain/eval_texts/botchan-slice.txt"):
        assert data in names, data
    assert any(n.startswith("cleancrawl/corpus/data/nltk_data/tokenizers/punkt_tab/english/") for n in names)
