#!/bin/sh
# Issue 14 part 4: the trained CIFAR-10 MobileNetV2 (models/mobilenet_v2_cifar10.safetensors).
# The command that made it: 100 epochs, SGD lr 0.1 momentum 0.9 Nesterov, batch 128, 2 epochs of
# linear warm-up then cosine to 0, weight decay 5e-4, the training crop (pad 4) and flip, seed 1.
# A resumable background run (GOMAXPROCS 1: about 9–10 min per epoch on one Zen 5 core):
#
#   scripts/issue14/train.sh BONSAI_BINARY DIR        # starts DIR/run, or resumes it
#
# Build the binary once into DIR (go build -o DIR/bonsai ./cmd/bonsai) and resume with the same
# one. The result is DIR/run/final.safetensors; per-epoch lines in DIR/run/metrics.jsonl.
set -u
BIN=$1; DIR=$2
SHARED=${SHARED:-/work/shared}
cd "$DIR" || exit 1
if [ -e run/checkpoint.safetensors ]; then
  exec nice -n 10 env GOMAXPROCS=1 "$BIN" train -resume -data "$SHARED/data/cifar10" -checkpoint-every 100 -out run
fi
exec nice -n 10 env GOMAXPROCS=1 "$BIN" train -arch mobilenet_v2_cifar -data "$SHARED/data/cifar10" -epochs 100 -batch 128 \
  -lr 0.1 -momentum 0.9 -nesterov -wd 5e-4 -schedule warmup:2+cosine -checkpoint-every 100 -seed 1 -out run
