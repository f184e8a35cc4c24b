#!/bin/bash
# One-shot table of issue 12 (acceptance 2): −30 % MACs, 2048 calibration images, no fine-tuning,
# uniform and global-flops rankings, ResNet-20 and ResNet-56, each criterion and Fisher kind, seed 1;
# each pruned model evaluated on test images 0:5000 (selection), 5000:10000 (report) and all.
#
# Usage: scripts/issue12/oneshot.sh BONSAI_BINARY [OUT]   (OUT: $HOME/bonsai-runs/fisher/oneshot)
# Every setting is given explicitly (the defaults of prune changed after this table chose them).
# Rerun to continue: finished runs are skipped, interrupted ones resumed. CRITERIA replaces and EXTRA
# adds to the list of CRITERION[:FISHER[:SCOPE[:aug]]], e.g. EXTRA="sensitivity:exact:channel:aug". Evaluations wait for scripts/quietrun's lock, so they never overlap a benchmark.
# With RUNS_MD=FILE (and COMMIT=the binary's commit) each finished run appends a line to FILE.
# Then: scripts/issue12/oneshot_table.py OUT
set -u
BIN=$1
OUT=${2:-$HOME/bonsai-runs/fisher/oneshot}
SHARED=${SHARED:-/work/shared}
mkdir -p "$OUT" && cd "$OUT" || exit 1
for model in resnet20 resnet56; do
 for ranking in uniform global-flops; do
  for crit in ${CRITERIA:-sensitivity:empirical sensitivity:sampled sensitivity:exact l1 taylor} ${EXTRA:-}; do
   # CRITERION[:FISHER[:SCOPE[:aug]]], e.g. sensitivity:exact:channel:aug
   IFS=: read -r c f scope aug <<< "$crit"
   name=$model-$ranking-$c${f:+-$f}${scope:+-$scope}${aug:+-$aug}
   args="-weights $SHARED/models/$model-cifar10.safetensors -data $SHARED/data/cifar10 -criterion $c ${f:+-fisher $f} -scope ${scope:-all} -calib-augment=$([ -n "$aug" ] && echo true || echo false) -flops 0.3 -ranking $ranking -calib 2048 -finetune-epochs 0 -seed 1 -json"
   if [ ! -f $name/pruned.safetensors ]; then
     if [ -f $name/state.json ]; then $BIN prune -resume -out $name -json >> $name.log 2>&1
     else $BIN prune $args -out $name > $name.log 2>&1; fi || { echo "$name failed"; continue; }
   fi
   if [ ! -s $name/eval-0-10000.json ]; then
     for r in 0:5000 5000:10000 0:10000; do
       flock /tmp/bonsai-quietrun.lock $BIN eval -weights $name/pruned.safetensors -data $SHARED/data/cifar10 -test-range $r -json > $name/eval-${r/:/-}.json
     done
     if [ -n "${RUNS_MD:-}" ]; then  # a line in the runs log
       acc=$(for r in 0-5000 5000-10000 0-10000; do python3 -c "import json;print('%.2f'%(100*json.load(open('$name/eval-$r.json'))['accuracy']))"; done | paste -sd/)
       echo "| $(date -u +%F) | \`$(basename $BIN) prune $args -out $name\` ($OUT) | ${COMMIT:-?} | issue 12 one-shot table | accuracy right after pruning, test 0:5000 / 5000:10000 / all: $acc % |" >> "$RUNS_MD"
     fi
   fi
  done
 done
done
