"""tokenizer/hf_files.py: the transformers files written beside a trained tokenizer."""
import json
import os

import pytest

from cleancrawl.tokenizer import hf_files
from cleancrawl.tokenizer.model import load_tokenizer

from tokenizer_testdata import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_the_files_name_the_special_tokens_of_the_tokenizer_file(trained, kind, tmp_path):
    tok = load_tokenizer(trained[kind])
    written = hf_files.write_transformers_files(str(tmp_path), tok)
    assert sorted(written) == sorted(os.listdir(tmp_path))
    config = json.loads((tmp_path / hf_files.CONFIG_NAME).read_text())
    special = json.loads((tmp_path / hf_files.SPECIAL_TOKENS_NAME).read_text())
    assert config["bos_token"] is None and config["eos_token"] == special["eos_token"] == "<eos>"
    assert config["split_special_tokens"] is True and config["clean_up_tokenization_spaces"] is False
    if tok.path.endswith(".json"):
        assert config["tokenizer_class"] == "PreTrainedTokenizerFast" and hf_files.SPIECE_NAME not in written
    else:  # transformers' plain SentencePiece tokenizer reads a copy named spiece.model
        assert config["tokenizer_class"] == "BertGenerationTokenizer"
        assert (tmp_path / hf_files.SPIECE_NAME).read_bytes() == open(tok.path, "rb").read()
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n]
