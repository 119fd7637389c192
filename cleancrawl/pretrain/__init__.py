"""Pretraining on token shards: a GPT-2-style model (`model`) or, for T5's span corruption
(`span_corruption`), a T5-style encoder-decoder (`encoder_decoder`), chosen by the objective
(`objectives`); data from token shards (`data`), the loop under torchrun (`train`, with its steps
and schedule in `schedule`, its checkpoints in `checkpoint`, processes and devices in
`distributed`, its folder's rules in `folders`), bits per byte on eval texts (`bpb`), and the
experiments (`experiment`, `datasets`, `report`, `fit`). Options: `config` (torch-free)."""
