#!/bin/bash
# Fine-tuned table of issue 12 (acceptance 3): ResNet-56 pruned in 3 steps to −50 % / −60 % MACs,
# 30 epochs in total, distillation, the same schedule for every row; seeds vary calibration and
# fine-tuning. Each pruned model is evaluated on test images 0:5000, 5000:10000 and all.
#
# Usage: scripts/issue12/finetune.sh BONSAI_BINARY [OUT]   (OUT: $HOME/bonsai-runs/fisher/ft)
# Rerun to continue: finished runs are skipped, an interrupted one resumed (with the same binary).
# RUNS lists NAME:CRITERION-ARGS-KEY:FLOPS:SEED entries; the default is the issue's table, in an
# order that makes partial results useful.
set -u
BIN=$1
OUT=${2:-$HOME/bonsai-runs/fisher/ft}
SHARED=${SHARED:-/work/shared}
SENS="-criterion sensitivity -fisher exact -scope channel -calib-augment -ranking global-flops"
L1="-criterion l1 -ranking uniform"
mkdir -p "$OUT" && cd "$OUT" || exit 1
for run in ${RUNS:-sens:0.5:1 l1:0.5:1 sens:0.5:2 l1:0.5:2 sens:0.5:3 l1:0.5:3 sens:0.6:1 l1:0.6:1 sens:0.6:2}; do
  IFS=: read -r crit flops seed <<< "$run"
  case $crit in sens) cargs=$SENS ;; l1) cargs=$L1 ;; *) echo "unknown $crit"; exit 2 ;; esac
  name=r56-$crit-$flops-s$seed
  args="-weights $SHARED/models/resnet56-cifar10.safetensors -data $SHARED/data/cifar10 $cargs -flops $flops -steps 3 -calib 4096 -finetune-epochs 30 -distill -seed $seed -test-range 0:5000 -json"
  if [ ! -f $name/pruned.safetensors ]; then
    echo "$(date -u +%FT%TZ) start $name: $args"
    if [ -f $name/state.json ]; then $BIN prune -resume -out $name -json >> $name.log 2>&1
    else $BIN prune $args -out $name > $name.log 2>&1; fi || { echo "$name failed"; continue; }
    echo "$(date -u +%FT%TZ) done $name"
  fi
  if [ ! -s $name/eval-0-10000.json ]; then
    for r in 0:5000 5000:10000 0:10000; do
      $BIN eval -weights $name/pruned.safetensors -data $SHARED/data/cifar10 -test-range $r -json > $name/eval-${r/:/-}.json
    done
  fi
done
