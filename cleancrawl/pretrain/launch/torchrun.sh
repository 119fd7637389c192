#!/usr/bin/env bash
# One node, one process per GPU (DDP over NCCL; add --fsdp for models that do not fit DDP).
# Without GPUs, NPROC processes on the CPU over gloo. Always --resume: re-running the same
# command after a crash or pre-emption continues the run from its last checkpoint.
#
#   cleancrawl/pretrain/launch/torchrun.sh --tokens tokens/ --model gpt2-124m --budget-tokens 2e9 \
#       --batch-size 512 --micro-batch 16 --compile --out runs/124m
#   NPROC=2 cleancrawl/pretrain/launch/torchrun.sh --tokens tokens/ --model gpt2-tiny --device cpu ...
set -euo pipefail
if [ -z "${NPROC:-}" ]; then
    NPROC=$(nvidia-smi -L 2>/dev/null | wc -l || true)
    [ "${NPROC:-0}" -gt 0 ] || NPROC=1
fi
# Data loading is one thread of numpy per rank; leave the rest of the cores to the others.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / NPROC > 0 ? $(nproc) / NPROC : 1 ))}
exec torchrun --standalone --nproc-per-node "$NPROC" -m cleancrawl.pretrain pretrain --resume "$@"
