"""Load the reference C4 code (TFDS `c4_utils.py`) for side-by-side checks, without TensorFlow.

The TFDS wheel is fetched from PyPI with `pip download` into bench/.cache the first time
(benchmarks only: the package never downloads anything), and `c4_utils.py` is imported
with two small stand-ins: `tf.compat.as_text` and `tfds.core.lazy_imports` (nltk,
langdetect, apache_beam). Its Punkt loader, which calls `nltk.download`, is pointed at the
Punkt parameters cleancrawl ships. Nothing of the reference is copied into the repo.
"""
from __future__ import annotations

import glob
import importlib.util
import os
import subprocess
import sys
import types
import zipfile

CACHE = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache")
TFDS_VERSION = "4.9.10"


def _wheel() -> str | None:
    found = glob.glob(os.path.join(CACHE, f"tensorflow_datasets-{TFDS_VERSION}-*.whl"))
    if found:
        return found[0]
    os.makedirs(CACHE, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", CACHE,
                             f"tensorflow-datasets=={TFDS_VERSION}"], capture_output=True, text=True)
    found = glob.glob(os.path.join(CACHE, f"tensorflow_datasets-{TFDS_VERSION}-*.whl"))
    if not found and result.returncode:
        print(f"pip download tensorflow-datasets failed: {result.stderr.strip()[-300:]}", file=sys.stderr)
    return found[0] if found else None


def load_reference_c4_utils():
    """The reference module, or None when the wheel cannot be fetched (no registry)."""
    wheel = _wheel()
    if wheel is None:
        return None
    source = os.path.join(CACHE, "c4_utils.py")
    if not os.path.exists(source):
        with zipfile.ZipFile(wheel) as zf:
            with open(source, "wb") as f:
                f.write(zf.read("tensorflow_datasets/text/c4_utils.py"))

    import apache_beam
    import langdetect
    import nltk

    def as_text(x):
        return x.decode("utf-8") if isinstance(x, bytes) else x

    tf = types.SimpleNamespace(compat=types.SimpleNamespace(as_text=as_text))
    lazy = types.SimpleNamespace(nltk=nltk, langdetect=langdetect, apache_beam=apache_beam)
    tfds = types.SimpleNamespace(core=types.SimpleNamespace(lazy_imports=lazy))
    stubs = {
        "tensorflow_datasets": types.ModuleType("tensorflow_datasets"),
        "tensorflow_datasets.core": types.ModuleType("tensorflow_datasets.core"),
        "tensorflow_datasets.core.utils": types.ModuleType("tensorflow_datasets.core.utils"),
        "tensorflow_datasets.core.utils.lazy_imports_utils": types.ModuleType("lazy_imports_utils"),
        "tensorflow_datasets.public_api": types.ModuleType("public_api"),
        "absl": types.ModuleType("absl"),
    }
    stubs["absl"].logging = types.SimpleNamespace(info=lambda *a, **k: None)
    stubs["tensorflow_datasets.core.utils.lazy_imports_utils"].tensorflow = tf
    stubs["tensorflow_datasets.public_api"].core = tfds.core
    stubs["tensorflow_datasets"].public_api = stubs["tensorflow_datasets.public_api"]
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        spec = importlib.util.spec_from_file_location("reference_c4_utils", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old

    from cleancrawl.corpus.sentences import punkt_tokenizer

    module._load_sentence_tokenizer = punkt_tokenizer  # instead of nltk.download("punkt")
    return module
