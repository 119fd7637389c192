#!/usr/bin/env bash
# The pretraining checks that need a GPU, as one command for a lent GPU machine, which holds
# python3 with torch, numpy and pyarrow but not the rest of cleancrawl's dependencies (no Beam):
#
#   device run:  bash bench/gpu_session.sh          (timeout ~540 s; results land in $OUT)
#   here, tiny:  GPU_SESSION_TINY=1 PYTHON=.venv/bin/python bash bench/gpu_session.sh   (a CPU dry run)
#
# 1. GPT-2 124M, sequence 1024, bf16, torch.compile: cleancrawl's loop against the plain
#    nanoGPT-style loop, tokens/s and MFU (target: MFU >= 40% on an H100/H200).
# 2. t5-small with span corruption, the same two loops.
# 3. The repetition sweep on real text (tests/data/text as byte tokens, ~1.5M tokens): one budget,
#    unique data from all of it down to 1/1024 of the budget, then the report (table + plots).
# 4. Static against dynamic masking (RoBERTa's comparison, under repetition): BERT's masked LM on
#    gpt2-small-cpu's shape, the same text, 4 unique-data sizes (4 to 256 repeats) x 2 maskings,
#    ~2 minutes; its log ends with the report's tables (results.md, results.csv).
# Every step is bounded by `timeout`, so a slow step leaves the rest their time. STEPS="3 4" runs
# only those steps (the whole script can be split over two device calls).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
TINY=${GPU_SESSION_TINY:-}
STEPS=${STEPS:-1 2 3 4}

if [ -n "$TINY" ]; then  # a CPU dry run of the same steps, small enough for a laptop
  BENCH_MODEL=gpt2-tiny; T5_MODEL=t5-tiny; BENCH_ARGS="--steps 5 --repeats 1"
  SWEEP_MODEL=gpt2-tiny; BUDGET=2e5; UNIQUE=all,5e4,1.2e4; SWEEP_ARGS="--eval-every 20 --batch-size 16"
  MASK_MODEL=gpt2-tiny; MASK_BUDGET=1e5; MASK_UNIQUE=2.5e4,6e3; MASK_ARGS="--eval-every 20 --batch-size 16"
else
  # One repeat: each loop compiles afresh (about a minute each for 124M).
  BENCH_MODEL=gpt2-124m; T5_MODEL=t5-small; BENCH_ARGS="--compile --batch-size 64 --micro-batch 16 --steps 30 --repeats 1"
  SWEEP_MODEL=${SWEEP_MODEL:-gpt2-small-cpu}; BUDGET=${BUDGET:-6e6}
  UNIQUE=${UNIQUE:-all,3.75e5,9.4e4,2.3e4,5.9e3}   # 4, 16, 64, 256, 1024 repeats
  SWEEP_ARGS="--eval-every 50 --batch-size 64"   # not compiled: five compilations would cost more than they save
  MASK_MODEL=${MASK_MODEL:-gpt2-small-cpu}; MASK_BUDGET=${MASK_BUDGET:-4e6}
  MASK_UNIQUE=${MASK_UNIQUE:-1e6,2.5e5,6.25e4,1.56e4}   # 4, 16, 64, 256 repeats
  MASK_ARGS="--eval-every 50 --batch-size 64"
fi
want() { case " $STEPS " in *" $1 "*) return 0;; esac; return 1; }

step() { echo; echo "== $* =="; }

step environment
$PY -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>/dev/null

if want 1; then
step "1. $BENCH_MODEL throughput and MFU"
timeout 240 $PY bench/bench_pretrain.py --model "$BENCH_MODEL" $BENCH_ARGS 2>&1 | tee "$OUT/bench-$BENCH_MODEL.log"
cp "bench/out/pretrain-$BENCH_MODEL.json" "$OUT/" 2>/dev/null
fi

if want 2; then
step "2. $T5_MODEL (span corruption) throughput and MFU"
timeout 150 $PY bench/bench_pretrain.py --model "$T5_MODEL" $BENCH_ARGS 2>&1 | tee "$OUT/bench-$T5_MODEL.log"
cp "bench/out/pretrain-$T5_MODEL.json" "$OUT/" 2>/dev/null
fi

TOKENS=$(mktemp -d)/tokens
$PY -c "import sys; sys.path.insert(0, 'bench'); from bench_pretrain import write_text_tokens; write_text_tokens('$TOKENS', 257)"

if want 3; then
step "3. repetition sweep: $SWEEP_MODEL, budget $BUDGET, unique $UNIQUE"
SWEEP=$(mktemp -d)/sweep
timeout 200 $PY -m cleancrawl.pretrain experiment repetition --tokens "$TOKENS" --model "$SWEEP_MODEL" \
  --budget-tokens "$BUDGET" --unique-tokens "$UNIQUE" --validation-tokens 65536 $SWEEP_ARGS --out "$SWEEP" \
  --log-every 50 2>&1 | tee "$OUT/sweep.log"
for f in results.md results.csv val_loss_vs_repeats.png; do cp "$SWEEP/$f" "$OUT/" 2>/dev/null; done
cat "$OUT/results.md" 2>/dev/null
fi

if want 4; then
step "4. static vs dynamic masking: mlm on $MASK_MODEL, budget $MASK_BUDGET, unique $MASK_UNIQUE"
MASKED=$(mktemp -d)/masking
timeout 150 $PY -m cleancrawl.pretrain experiment repetition --tokens "$TOKENS" --objective mlm \
  --model "$MASK_MODEL" --masking static,dynamic --budget-tokens "$MASK_BUDGET" --unique-tokens "$MASK_UNIQUE" \
  --validation-tokens 65536 $MASK_ARGS --out "$MASKED" --log-every 50 2>&1 | tee "$OUT/masking.log"
# One file back for this step: the log, with the report's tables at its end.
{ cat "$MASKED/results.md"; echo; cat "$MASKED/results.csv"; } 2>/dev/null | tee -a "$OUT/masking.log"
fi
ls "$OUT"
