#!/bin/bash
# ρ table of issue 12 (acceptance 1): the single-channel experiment on test images 0:5000, every
# Fisher kind × calibration size × augmentation, both scopes, l1 and taylor beside.
#
# Usage: scripts/issue12/rho.sh BONSAI_BINARY MODEL CHANNELS [OUT]   (OUT: $HOME/bonsai-runs/fisher/rho/MODEL)
#   scripts/issue12/rho.sh bonsai resnet20 0     # all 336 internal channels
#   scripts/issue12/rho.sh bonsai resnet56 256   # 256 of 1008, drawn with seed 1
# Rerun to continue (-resume). The table is OUT/rho.md, the per-channel figures OUT/scores.csv.
set -u
BIN=$1; model=$2; k=$3
OUT=${4:-$HOME/bonsai-runs/fisher/rho/$model}
SHARED=${SHARED:-/work/shared}
args="-weights $SHARED/models/$model-cifar10.safetensors -data $SHARED/data/cifar10 -test-range 0:5000 -channels $k -channel-seed 1 -calib 2048,4096,8192,50000 -fisher empirical,sampled,exact -augment off,on -scope all,filter,channel -seed 1"
mkdir -p "$(dirname "$OUT")"
if [ -f "$OUT/rho-opts.json" ]; then exec $BIN prune-rho -resume -out "$OUT"
else exec $BIN prune-rho $args -out "$OUT"; fi
