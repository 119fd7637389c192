"""Byte-level BPE encoded by tiktoken where that gives exactly the ids `tokenizers` gives.

`tokenizers` encodes a GPT-2-style byte-level BPE at ~2.3 MB of text per CPU-second on one thread;
tiktoken, built from the same vocabulary and merges with GPT-2's pre-tokenisation regex, gives the
same ids about 3× faster. The two agree only when the tokenizer is nothing but that:

- tokenizer.json's pre-tokenizer is GPT-2's `ByteLevel` (its regex, no prefix space), with no
  normalizer, and no post-processor other than `ByteLevel` (which moves offsets, not ids);
- the model is a plain BPE (no dropout, no unk token, no byte fallback, no subword prefix or
  suffix) with a token for each of the 256 bytes, and each merge's result is a token whose id
  grows with the merge's rank (tiktoken merges by the result's id, `tokenizers` by merge rank);
- no added token could match in text (cleancrawl encodes special tokens' text as text; an added
  token that is not special would be matched).

`tiktoken_encoder` checks those by reading tokenizer.json, then encodes a fixed set of hard
strings (every vocabulary entry on its own and run together, emoji, CJK, combining marks, every
Unicode space, \\r\\n, digits, contractions, `<eos>` in text) both ways and requires the same ids.
Anything else, or any difference, leaves the encoding to `tokenizers` and says why.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable, Sequence

# `tokenizers`' ByteLevel(use_regex=True) pattern, verbatim (GPT-2's).
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

TIKTOKEN = "tiktoken"
TOKENIZERS = "tokenizers"

_SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u180e" + "".join(map(chr, range(0x2000, 0x200c))) \
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
HARD_STRINGS = (
    "", " ", "  ", "\n", "\n\n\n", "\r\n", "a\r\nb\r\n\r\n", "\t\tindented\n    four spaces\n",
    "word" + " " * 40 + "word", " " * 300, "\n" * 50 + "x", "end with spaces   ", "   lead",
    "It's they're we've I'm you'll he'd IT'S 'S 'sound ''s",
    "0 1 12 123 1234 12345 3.14159 1,000,000 2026-12-04 ٣٤٥ ४२ ¾ ² Ⅻ",
    "Emoji 😀😃🧑‍🤝‍🧑 👍🏽 🇯🇵 ❤️ 🏳️‍🌈", "日本語のテキスト、句読点。中文文本，标点。 한국어 텍스트",
    "e\u0301 n\u0303 a\u0308\u0304 \u0915\u094d\u0937 Zalgo: Z\u0351\u0364a\u036b\u0350l\u0300go",
    "replacement \ufffd\ufffd char \ufffd", "zero\u200bwidth\u200cjoin\u200dx\u2060y",
    "literal <eos> and <|endoftext|> and </s> and <pad> and <unk> and <extra_id_0> in text<eos>",
    "<eos><eos><|endoftext|>", "Ελληνικά Русский עברית العربية ไทย ქართული Ἀθῆναι",
    "tabs\tand\x0bvertical\x0cfeeds", "mixed123abc___---***!!!???...",
    "https://example.com/path?q=1&r=%20#frag user@example.org",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 \U0001f9ea \U0010fffd \U000e0001",
    "".join(f"{c}x{c}{c}y {c}" for c in _SPACES),
)


@dataclass(frozen=True)
class EncoderChoice:
    encoder: str                 # TIKTOKEN or TOKENIZERS
    reason: str                  # why not tiktoken ("" when tiktoken)
    encode_batch: Callable[[Sequence[str]], list[list[int]]] | None = None  # tiktoken's, when chosen


def _bytes_of_unicode() -> dict[str, int]:
    """GPT-2's byte ↔ printable-character map, character → byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def tiktoken_ranks(spec: dict) -> tuple[dict[bytes, int] | None, str]:
    """(tiktoken's mergeable ranks, "") for a tokenizer.json tiktoken can encode exactly, else
    (None, the reason it cannot)."""
    if spec.get("normalizer") is not None:
        return None, f"a normalizer ({_type(spec['normalizer'])})"
    pre = spec.get("pre_tokenizer") or {}
    if not (pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space")):
        return None, f"pre-tokenizer {_describe(pre)} is not GPT-2's ByteLevel with its regex and no prefix space"
    post = spec.get("post_processor")
    if post is not None and post.get("type") != "ByteLevel":
        return None, f"post-processor {_type(post)}"
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return None, f"model {model.get('type')!r} is not BPE"
    for option in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(option):
            return None, f"BPE option {option}={model[option]!r}"
    if model.get("byte_fallback"):
        return None, "BPE option byte_fallback"
    for added in spec.get("added_tokens") or []:
        if not added.get("special"):
            return None, f"added token {added.get('content')!r} is not special (it would be matched in text)"
    to_byte = _bytes_of_unicode()
    vocab: dict[str, int] = model.get("vocab") or {}

    def as_bytes(token: str) -> bytes | None:
        try:
            return bytes(to_byte[c] for c in token)
        except KeyError:
            return None

    ranks: dict[bytes, int] = {}
    for b in range(256):  # single bytes: the alphabet every byte-level text starts from
        char = next(c for c, v in to_byte.items() if v == b)
        if char not in vocab:
            return None, f"byte {b:#04x} has no token"
        ranks[bytes([b])] = vocab[char]
    last = -1
    for rank, merge in enumerate(model.get("merges") or []):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        result = left + right
        if result not in vocab:
            return None, f"merge {rank} ({left!r} {right!r}) makes no token"
        token_bytes = as_bytes(result)
        if token_bytes is None:
            return None, f"merge {rank} makes {result!r}, not a byte-level token"
        if token_bytes in ranks:
            return None, f"merge {rank} makes {result!r}, which an earlier merge or byte already makes"
        if vocab[result] <= last:
            return None, f"token ids do not follow merge order (merge {rank}, {result!r})"
        last = vocab[result]
        ranks[token_bytes] = vocab[result]
    if model.get("ignore_merges"):  # a whole word in the vocabulary is taken as is, merges or not
        added = {a.get("content") for a in spec.get("added_tokens") or []}
        for token in vocab:
            if token not in added and as_bytes(token) not in ranks:
                return None, f"ignore_merges with token {token!r}, which no merge makes"
    return ranks, ""


def _type(node) -> str:
    return repr(node.get("type")) if isinstance(node, dict) else repr(node)


def _describe(pre: dict) -> str:
    if not pre:
        return "none"
    options = {k: v for k, v in pre.items() if k in ("add_prefix_space", "use_regex")}
    return f"{pre.get('type')!r} {options}" if options else repr(pre.get("type"))


def self_check_strings(ranks: dict[bytes, int]) -> list[str]:
    """The fixed hard strings, every multi-byte token's text alone, and all of them run together."""
    by_id = sorted((r, b) for b, r in ranks.items() if len(b) > 1)
    texts = []
    for _, token in by_id:
        try:
            texts.append(token.decode("utf-8"))
        except UnicodeDecodeError:  # part of a character: not text on its own
            continue
    run_together = ["".join(texts[i:i + 64]) for i in range(0, len(texts), 64)]
    backwards = ["".join(reversed(texts[i:i + 64])) for i in range(0, len(texts), 64)]
    return list(HARD_STRINGS) + texts + run_together + backwards


def tiktoken_encoder(tokenizer_json: str, hf_tokenizer, check: bool = True) -> EncoderChoice:
    """tiktoken for this tokenizer.json when it encodes exactly as `hf_tokenizer` (a `tokenizers.
    Tokenizer` with `encode_special_tokens` set) does, else the reason to keep `tokenizers`.

    `check=False` skips the hard strings (a worker whose driver already ran them on this file)."""
    try:
        import tiktoken
    except ImportError:
        return EncoderChoice(TOKENIZERS, "tiktoken is not installed")
    with open(tokenizer_json, encoding="utf-8") as f:
        ranks, reason = tiktoken_ranks(json.load(f))
    if ranks is None:
        return EncoderChoice(TOKENIZERS, reason)
    encoding = tiktoken.Encoding("cleancrawl-byte-bpe", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                                 special_tokens={})
    encode = encoding.encode_ordinary

    def exact(text: str) -> list[int]:
        return hf_tokenizer.encode(text, add_special_tokens=False).ids

    if check:
        texts = self_check_strings(ranks)
        expected = hf_tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        for text, want in zip(texts, expected):
            if encode(text) != want.ids:
                return EncoderChoice(TOKENIZERS, f"tiktoken's ids differ from tokenizers' on {text[:40]!r}")

    def encode_batch(texts: Sequence[str]) -> list[list[int]]:
        # One thread (encode_ordinary_batch would start a pool). tiktoken's regex engine overflows
        # its stack on whitespace runs of ~1M characters: very long documents go to `tokenizers`.
        return [encode(text) if len(text) <= LONG_DOCUMENT else exact(text) for text in texts]

    return EncoderChoice(TIKTOKEN, "", encode_batch)


LONG_DOCUMENT = 200_000  # characters; tiktoken handles 600k-character whitespace runs, fails at 1M


class FastEncoding:
    """A loaded tokenizer whose `encode_batch` goes through the chosen encoder; everything else
    (vocab_size, eos_id, hash, decode, ...) is the tokenizer's own."""

    def __init__(self, tokenizer, choice: EncoderChoice):
        self.tokenizer = tokenizer  # the loaded tokenizer itself
        self.encoder = choice.encoder
        self.encoder_reason = choice.reason
        self._encode_batch = choice.encode_batch

    def __getattr__(self, name):  # only for names not set here
        if name == "tokenizer":
            raise AttributeError(name)
        return getattr(self.tokenizer, name)

    def encode_batch(self, texts: Sequence[str], num_threads: int = 1) -> list[list[int]]:
        if self._encode_batch is None:
            return self.tokenizer.encode_batch(texts, num_threads=num_threads)
        return self._encode_batch(texts)

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]


def fastest_encoding(tokenizer, encoder: str | None = None) -> FastEncoding:
    """`tokenizer` (from `model.load_tokenizer`) with the fastest exact encoder for it: tiktoken for
    a byte-level BPE that passes `tiktoken_encoder`'s checks, else the tokenizer's own library.

    `encoder` is a decision already made on this same file (by the `tokenize` driver, so that every
    worker process encodes the same way without repeating the self-check)."""
    hf = getattr(tokenizer, "_tok", None)  # model.HFTokenizer's `tokenizers.Tokenizer`
    if hf is None or not tokenizer.path.endswith(".json"):
        return FastEncoding(tokenizer, EncoderChoice(_library(tokenizer), ""))
    if encoder == TOKENIZERS:
        return FastEncoding(tokenizer, EncoderChoice(TOKENIZERS, "decided by the caller"))
    choice = tiktoken_encoder(tokenizer.path, hf, check=encoder != TIKTOKEN)
    if encoder == TIKTOKEN and choice.encoder != TIKTOKEN:
        raise RuntimeError(f"{tokenizer.path}: tiktoken was chosen for this file but cannot load it ({choice.reason})")
    return FastEncoding(tokenizer, choice)


def _library(tokenizer) -> str:
    return "sentencepiece" if hasattr(tokenizer, "_sp") else TOKENIZERS
