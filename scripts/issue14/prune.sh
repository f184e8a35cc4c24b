#!/bin/bash
# Issue 14 part 4: the trained CIFAR-10 MobileNetV2 pruned by −40 % MACs with the default
# configuration (sensitivity: exact Fisher, channel scope, augmented calibration, global-flops)
# and with l1 (its best ranking, uniform), the same budget: 2 steps, 20 epochs in all,
# distillation, 4096 calibration images, seed 1. Each pruned model is evaluated on the whole test
# set and timed against the unpruned one (bench -baseline, batch 128 and 1).
#
#   scripts/issue14/prune.sh BONSAI_BINARY MODEL [OUT]   (OUT: $HOME/bonsai-runs/mbv2-prune)
#
# Rerun to continue: finished runs are skipped, an interrupted one resumed (same binary).
set -u
HUSH=$(cd "$(dirname "$0")/../bench" && pwd)/hush   # timings with every other run stopped
BIN=$(realpath "$1"); MODEL=$(realpath "$2")
OUT=${3:-$HOME/bonsai-runs/mbv2-prune}
SHARED=${SHARED:-/work/shared}
mkdir -p "$OUT" && cd "$OUT" || exit 1
for crit in sensitivity l1; do
  case $crit in
    sensitivity) cargs="-criterion sensitivity -fisher exact -scope channel -calib-augment -ranking global-flops" ;;
    l1) cargs="-criterion l1 -ranking uniform" ;;
  esac
  name=mbv2-$crit-0.4-s1
  args="-weights $MODEL -data $SHARED/data/cifar10 $cargs -flops 0.4 -steps 2 -calib 4096 -finetune-epochs 20 -distill -seed 1 -json"
  if [ ! -f $name/pruned.safetensors ]; then
    if [ -f $name/state.json ]; then nice -n 10 $BIN prune -resume -out $name -json >> $name.log 2>&1
    else nice -n 10 $BIN prune $args -out $name > $name.log 2>&1; fi || { echo "$name failed"; continue; }
  fi
  [ -s $name/eval.json ] || $BIN eval -weights $name/pruned.safetensors -data $SHARED/data/cifar10 -json > $name/eval.json
  for b in 128 1; do
    [ -s $name/bench-b$b.json ] || "$HUSH" $BIN bench -weights $name/pruned.safetensors -baseline $MODEL -batch $b -json > $name/bench-b$b.json
  done
done
