"""A trained tokenizer folder loads in `transformers.AutoTokenizer` with its special tokens set and
gives exactly cleancrawl's ids, on every real page of the sample crawl, for every kind."""
from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from cleancrawl.tokenizer.model import load_tokenizer  # noqa: E402

from tokenizer_testdata import KINDS, train_small  # noqa: E402

transformers = pytest.importorskip("transformers")


def _auto(path: str):
    return transformers.AutoTokenizer.from_pretrained(path)


@pytest.mark.parametrize("kind", KINDS)
def test_auto_tokenizer_has_the_special_tokens(trained, kind):
    tok = _auto(trained[kind])
    ours = load_tokenizer(trained[kind])
    assert (tok.eos_token, tok.pad_token) == ("<eos>", "<pad>")
    assert (tok.eos_token_id, tok.pad_token_id) == (ours.eos_id, ours.pad_id)
    assert tok.bos_token is None
    if kind == "byte-bpe":  # <unk> only with --unk: byte-level BPE never needs one
        assert tok.unk_token is None and ours.unk_id is None
        assert type(tok).__name__ in ("PreTrainedTokenizerFast", "TokenizersBackend")
    else:
        assert (tok.unk_token, tok.unk_token_id) == ("<unk>", ours.unk_id)
    assert len(tok) == ours.vocab_size


@pytest.mark.parametrize("kind", KINDS)
def test_auto_tokenizer_encodes_every_page_as_cleancrawl_does(trained, pages, kind):
    tok = _auto(trained[kind])
    ours = load_tokenizer(trained[kind])
    texts = [text for _, text in pages]
    assert len(texts) == 323
    mismatched = [i for i, text in enumerate(texts) if tok(text)["input_ids"] != ours.encode(text)]
    assert mismatched == []
    # batch encoding, and text that spells a special token stays text, as in cleancrawl
    spelled = "the <eos> and <pad> tokens, and <unk>"
    assert tok([spelled, texts[0]])["input_ids"] == [ours.encode(spelled), ours.encode(texts[0])]
    assert ours.eos_id not in tok(spelled)["input_ids"]


def test_byte_bpe_with_unk_sets_unk_too(corpus_dir, tmp_path):
    path = train_small(corpus_dir, str(tmp_path / "tok"), "byte-bpe", unk=True)
    tok = _auto(path)
    assert (tok.eos_token, tok.pad_token, tok.unk_token) == ("<eos>", "<pad>", "<unk>")
    assert tok.unk_token_id == load_tokenizer(path).unk_id


@pytest.mark.parametrize("kind", KINDS)
def test_the_folder_holds_the_transformers_files(trained, kind):
    names = sorted(os.listdir(trained[kind]))
    assert {"tokenizer_config.json", "special_tokens_map.json"} <= set(names)
    assert ("spiece.model" in names) == (kind != "byte-bpe")
    with open(os.path.join(trained[kind], "special_tokens_map.json"), encoding="utf-8") as f:
        special = json.load(f)
    assert special["eos_token"] == "<eos>" and special["pad_token"] == "<pad>"
    if kind != "byte-bpe":  # a copy of the model cleancrawl uses, byte for byte
        with open(os.path.join(trained[kind], "spiece.model"), "rb") as a, \
                open(os.path.join(trained[kind], "tokenizer.model"), "rb") as b:
            assert a.read() == b.read()
    # cleancrawl still reads its own file (named in its metadata), not the copies
    meta = json.load(open(os.path.join(trained[kind], "cleancrawl-tokenizer.json"), encoding="utf-8"))
    assert load_tokenizer(trained[kind]).path.endswith(meta["file"])


def test_the_readme_one_liner_runs(trained):
    import re

    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md"), encoding="utf-8").read()
    code = re.search(r"<!-- interop: tokenizer -->\s*```python\n(.*?)```", readme, re.S).group(1)
    for kind in ("sentencepiece-unigram", "byte-bpe"):
        scope: dict = {}
        exec(compile(code.replace('"tok/"', repr(trained[kind])), "README.md", "exec"), scope)  # noqa: S102
        assert scope["ids"] == load_tokenizer(trained[kind]).encode("Hello, world.")
