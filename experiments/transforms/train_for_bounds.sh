#!/usr/bin/env bash
# Surrogates and base models for the M* before/after comparison (mstar_before_after.py), with the
# small-scale settings of run.sh (surrogate: 3 epochs / 20000 images, no time limit; model: 2 epochs / 20000
# images through the surrogate, the transform's default sigma_xi, 1; the surrogates behind
# experiments/results/transforms/mstar_bounds were trained with a 150 s limit and models at sigma_xi 0.25).
# Skips what exists. CPU; one transform after another.
# Usage: bash experiments/transforms/train_for_bounds.sh [T ...]   (default: the six surrogate transforms
#        besides rotational_blur, whose model and surrogate are embedded in the package)
set -euo pipefail
CKPTS=${CKPT_DIR:-runs/transforms/fashion-mnist}
list=${*:-"defocus_blur zoom_blur pixelate rotation scaling motion_blur"}
mkdir -p "$CKPTS"
for t in $list; do
  sur="$CKPTS/${t}_surrogate.pt"
  # complete = evaluated (the per-epoch checkpoint of an interrupted run has no held-out table yet)
  python -c "import sys; from gsmooth.surrogate.train import saved_surrogate_progress as p; s = p('$sur'); sys.exit(0 if s and s['heldout'] else 1)" \
    || gsmooth surrogate train --transform "$t" --dataset fashion-mnist --epochs 3 --max-train 20000 \
    --max-eval 500 --seed 0 --no-progress --resume --out "$sur"
  gsmooth train --clip-grad 0 --dataset fashion-mnist --arch small_cnn --transform "$t" --surrogate "$sur" --epochs 2 \
    --max-train 20000 --batch 128 --lr 0.05 --seed 0 --no-progress --resume --out "$CKPTS/$t.pt"
done
