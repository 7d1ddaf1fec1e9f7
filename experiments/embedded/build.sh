#!/usr/bin/env bash
# Build the models shipped inside the package (gsmooth/embedded/): what `gsmooth certify` and
# `gsmooth certify --transform rotational_blur` use when no --model is given.
#
# Usage: bash experiments/embedded/build.sh          (needs Fashion-MNIST: Debian dataset-fashion-mnist)
# Writes runs/embedded/*.pt (full training checkpoints), then packages them into gsmooth/embedded/
# (optimizer state stripped, the first 500 test images, manifest.json with sha256 + these commands).
# Deterministic: fixed seeds and fixed amounts of data (no time limits); ~10 min on a 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs/embedded}
mkdir -p "$RUNS"
log="$RUNS/build.log"
: > "$log"
step() { echo "== $*" | tee -a "$log"; /usr/bin/time -f "   %e s" "$@" 2>&1 | tee -a "$log"; }

# additive Gaussian noise, sigma = 0.25 (Cohen et al.'s middle value), small CNN, 3 epochs on all 60k images
if [ "${KEEP_ADDITIVE:-0}" = 1 ]; then  # rebuild only rotational blur: keep the packaged additive model as it is
  cp gsmooth/embedded/additive.pt "$RUNS/additive.pt"
else
step gsmooth train --clip-grad 0 --dataset fashion-mnist --arch small_cnn --noise gaussian --sigma 0.25 --epochs 3 --batch 128 \
  --lr 0.05 --seed 0 --no-progress --out "$RUNS/additive.pt"
fi
# rotational blur: a GSmooth surrogate (U-Net width 16, 3 epochs over 20k images, theta ~ U[0, 10] degrees,
# L1 + the default --path-weight) ...
step gsmooth surrogate train --transform rotational_blur --dataset fashion-mnist --epochs 3 --max-train 20000 \
  --max-eval 500 --seed 0 --no-progress --out "$RUNS/rotational_blur_surrogate.pt"
# ... and a base model trained on its outputs under the default smoothing (sigma_theta 2.5 deg, sigma_xi 1:
# 4 epochs over 30k images, the heavier latent noise needs more training than sigma_xi 0.25 did)
step gsmooth train --clip-grad 0 --dataset fashion-mnist --arch small_cnn --transform rotational_blur \
  --surrogate "$RUNS/rotational_blur_surrogate.pt" --epochs 4 --max-train 30000 --batch 128 --lr 0.05 --seed 0 \
  --no-progress --out "$RUNS/rotational_blur.pt"
step python experiments/embedded/package.py --runs "$RUNS" --out gsmooth/embedded --build-log "$log"
