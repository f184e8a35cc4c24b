#!/bin/bash
# Issue 12 acceptance 4: a latency target against a MACs target at the same measured latency,
# both fine-tuned with the same budget.
#
#   scripts/issue12/latency_ft.sh BONSAI_BINARY OUT FLOPS
#
# 1. prune ResNet-56 by -target latency:0.3 (default configuration, ranking global-latency) and
#    by -flops FLOPS, pruning only, 1024 calibration images, seed 1 — run these two on a quiet
#    machine (scripts/bench/hush, with OUT outside /root/bonsai-runs: hush stops what runs
#    there), then check with `bench -baseline -batch 1` that FLOPS gives the same latency
#    (ResNet-56 on AMD EPYC family 26 model 2: FLOPS 0.5);
# 2. fine-tune each 30 epochs (SGD lr 0.01 cosine, wd 5e-4, distillation from the unpruned
#    model, seed 1) and evaluate it on test images 0:5000, 5000:10000 and all. Rerun to continue.
set -u
BIN=$(realpath "$1"); OUT=$2; FLOPS=$3
SHARED=${SHARED:-/work/shared}
R56=$SHARED/models/resnet56-cifar10.safetensors
D=$SHARED/data/cifar10
mkdir -p "$OUT" && cd "$OUT" || exit 1
common="-weights $R56 -data $D -calib 1024 -finetune-epochs 0 -seed 1 -test-range 0:5000 -json"
[ -f lat30/pruned.safetensors ] || $BIN prune $common -target latency:0.3 -out lat30 > lat30.log 2>&1 || exit 1
[ -f flops$FLOPS/pruned.safetensors ] || $BIN prune $common -flops $FLOPS -out flops$FLOPS > flops$FLOPS.log 2>&1 || exit 1
for m in lat30 flops$FLOPS; do
  out=ft-$m
  if [ ! -f $out/final.safetensors ]; then
    if [ -f $out/checkpoint.safetensors ]; then $BIN train -resume -data $D -checkpoint-every 100 -out $out
    else $BIN train -weights $m/pruned.safetensors -data $D -epochs 30 -lr 0.01 -momentum 0.9 -wd 5e-4 \
           -schedule cosine -teacher $R56 -seed 1 -checkpoint-every 100 -out $out; fi || { echo "$out failed"; exit 1; }
  fi
  for r in 0:5000 5000:10000 0:10000; do
    [ -s $out/eval-${r/:/-}.json ] || $BIN eval -weights $out/final.safetensors -data $D -test-range $r -json > $out/eval-${r/:/-}.json
  done
done
