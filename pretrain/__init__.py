"""Pretraining on token shards: a GPT-2-style model (`model`), data from token shards (`data`),
the loop under torchrun (`train`), and the repetition experiment (`experiment`, `report`)."""
