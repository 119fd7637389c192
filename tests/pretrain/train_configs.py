"""`torchrun ... tests/pretrain/train_configs.py CONFIGS.json`: train each PretrainConfig of a JSON
list in turn, in one process group, so that one start-up of the ranks serves several runs
(test_objectives.py's two-rank check of every new objective)."""
import json
import sys

import torch.distributed as dist

from cleancrawl.pretrain.config import PretrainConfig
from cleancrawl.pretrain.train import train

if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        for values in json.load(f):
            summary = train(PretrainConfig.from_options(values))
            assert summary.get("finished"), summary
    if dist.is_initialized():
        dist.destroy_process_group()
