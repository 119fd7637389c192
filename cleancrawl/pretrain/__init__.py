"""Pretraining on token shards: a GPT-2-style model (`model`: next tokens, a prefix LM, or BERT's
masked LM) or, for T5's span corruption (`span_corruption`) and BERT-style denoising, a T5-style
encoder-decoder (`encoder_decoder`), chosen by the objective (`objectives`; BERT's masks, static or
dynamic, in `masking`); data from token shards (`data`), the loop under torchrun (`train`, with its steps
and schedule in `schedule`, its checkpoints in `checkpoint`, processes and devices in
`distributed`, its folder's rules in `folders`), bits per byte on eval texts (`bpb`), and the
experiments (`experiment`, `datasets`, `report`, `fit`). Options: `config` (torch-free)."""
