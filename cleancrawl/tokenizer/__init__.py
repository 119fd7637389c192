"""Tokenizers trained on cleancrawl corpora, their evaluation, and the token shards pretraining reads.

    train.py          SentencePiece unigram / BPE and GPT-2-style byte-level BPE, from Parquet shards
    model.py          load a trained tokenizer (or any tokenizer.json / .model): encode, decode, hash
    evaluate.py       bytes/token, tokens/word, unk and byte-fallback rates, side by side
    encode_shards.py  `cleancrawl tokenize`: Parquet shards → token shards, one process per shard
    token_shards.py   the token shard format (numpy only; what pretrain/ imports)
"""
