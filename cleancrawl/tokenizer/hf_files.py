"""The files `transformers.AutoTokenizer.from_pretrained("tok/")` needs beside a trained tokenizer.

    tok/tokenizer_config.json     which class to build, the special tokens, no added bos/eos
    tok/special_tokens_map.json   eos/pad/unk by name (what older transformers read)
    tok/spiece.model              SentencePiece kinds only: a copy of tokenizer.model

byte-bpe: `tokenizer.json` loads as `PreTrainedTokenizerFast`. SentencePiece kinds load as
`BertGenerationTokenizer`, transformers' plain SentencePiece tokenizer: it encodes with the
SentencePiece library itself (`legacy: true` keeps the model as trained, without rewriting its
proto), adds no bos/eos/sep of its own, and reads its model from `spiece.model` — hence the
copy. The fast converters (`LlamaTokenizer`, `T5Tokenizer`) would rebuild a different
tokenizer from the .model and need protobuf; this one gives the ids cleancrawl gives.

`split_special_tokens: true`: text that merely spells `<eos>` is text, as in cleancrawl
(`HFTokenizer` sets `encode_special_tokens`; SentencePiece never matches control pieces in
text). `clean_up_tokenization_spaces: false` so that decoding does not rewrite " ," etc.
No file here is read by cleancrawl itself.
"""
from __future__ import annotations

import json
import os
import shutil

from cleancrawl import storage

CONFIG_NAME = "tokenizer_config.json"
SPECIAL_TOKENS_NAME = "special_tokens_map.json"
SPIECE_NAME = "spiece.model"
FILES = (CONFIG_NAME, SPECIAL_TOKENS_NAME, SPIECE_NAME)


def _token_names(tok):
    """id → token string, read from the tokenizer file itself."""
    if tok.path.endswith(".json"):
        from tokenizers import Tokenizer

        return Tokenizer.from_file(tok.path).id_to_token
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=tok.path).id_to_piece


def _special_tokens(tok) -> dict[str, str]:
    ids = {"eos_token": tok.eos_id, "pad_token": tok.pad_id, "unk_token": tok.unk_id}
    name_of = _token_names(tok)
    return {name: name_of(i) for name, i in ids.items() if i is not None}


def transformers_config(tok) -> dict:
    """tokenizer_config.json for a tokenizer loaded by `model.load_tokenizer` (kind, path, special ids)."""
    special = _special_tokens(tok)
    config = {
        "bos_token": None,
        "eos_token": special.get("eos_token"),
        "pad_token": special.get("pad_token"),
        "unk_token": special.get("unk_token"),
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,
        "model_max_length": 1_000_000_000_000,  # no limit of ours: the model decides
    }
    if tok.path.endswith(".json"):
        config["tokenizer_class"] = "PreTrainedTokenizerFast"
    else:
        config.update(tokenizer_class="BertGenerationTokenizer", legacy=True, sep_token=None, sp_model_kwargs={})
    return config


def _write_json(path: str, data: dict) -> None:
    storage.write_atomically(path,
                             (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def write_transformers_files(output: str, tok) -> list[str]:
    """Write the transformers files for `tok` (trained into `output`); returns their names."""
    written = []
    if not tok.path.endswith(".json"):
        with open(tok.path, "rb") as source, storage.atomic_writer(os.path.join(output, SPIECE_NAME)) as target:
            shutil.copyfileobj(source, target)
        written.append(SPIECE_NAME)
    _write_json(os.path.join(output, CONFIG_NAME), transformers_config(tok))
    _write_json(os.path.join(output, SPECIAL_TOKENS_NAME), _special_tokens(tok))
    return written + [CONFIG_NAME, SPECIAL_TOKENS_NAME]
