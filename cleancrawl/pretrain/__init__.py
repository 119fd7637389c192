"""Pretraining on token shards: a GPT-2-style model (`model`) or, for T5's span corruption
(`span_corruption`), a T5-style encoder-decoder (`encoder_decoder`), chosen by the objective
(`objectives`); data from token shards (`data`), the loop under torchrun (`train`), and the
repetition experiment (`experiment`, `report`)."""
