#!/usr/bin/env bash
# Surrogates trained with and without the path-deviation penalty (train_surrogate path_weight): held-out
# PSNR, held-out G (estimate_G on test images over the range) and M* at the transform's sigma_theta and
# sigma_xi = 1. Results: experiments/results/transforms/path_penalty.md.
# Usage: bash experiments/transforms/path_penalty.sh            (Fashion-MNIST, CPU; ~2 min per surrogate, 1 thread)
#        WEIGHTS="0 1" TRANSFORMS=rotation bash experiments/transforms/path_penalty.sh
# Surrogates go to $RUNS (git-ignored); a complete one is not trained again (--resume does nothing).
set -euo pipefail
RUNS=${RUNS:-runs/path_penalty}
TRANSFORMS=${TRANSFORMS:-"rotational_blur rotation"}
WEIGHTS=${WEIGHTS:-"0 1 10"}
EPOCHS=${EPOCHS:-2}; MAX_TRAIN=${MAX_TRAIN:-10000}; WIDTH=${WIDTH:-16}
MAX_EVAL=${MAX_EVAL:-500}; G_IMAGES=${G_IMAGES:-20}; SIGMA_XI=${SIGMA_XI:-1}
mkdir -p "$RUNS"
for t in $TRANSFORMS; do
  for w in $WEIGHTS; do
    sur="$RUNS/${t}_w$w.pt"
    echo "== $t path_weight $w"
    gsmooth surrogate train --transform "$t" --dataset fashion-mnist --epochs "$EPOCHS" --max-train "$MAX_TRAIN" \
      --width "$WIDTH" --path-weight "$w" --max-eval "$MAX_EVAL" --seed 0 --no-progress --resume --out "$sur" \
      >> "$RUNS/${t}_w${w}_train.log" 2>&1
    grep "^epoch" "$RUNS/${t}_w${w}_train.log" || true
    if [ "${TRAIN_ONLY:-0}" != 1 ]; then
      gsmooth surrogate eval --surrogate "$sur" --max-eval "$MAX_EVAL" --g-images "$G_IMAGES" --sigma-xi "$SIGMA_XI" \
        2>&1 | tee "$RUNS/${t}_w${w}_eval.log"
    fi
  done
done
