#!/usr/bin/env bash
# Table (e): empirical accuracy per corruption — AugMix baseline vs TSS-style smoothing vs GSmooth.
#
# Offline (default): our own corrupted Fashion-MNIST test set (gsmooth corrupt: the CIFAR-10-C corruption names,
# 5 severities, Hendrycks layout), the Fashion-MNIST models of experiments/transforms/run.sh, and an AugMix
# model trained here.
#   bash experiments/corruptions/run.sh
# CIFAR-10-C (Hendrycks & Dietterich; download from Zenodo record 2535967, untar, point C_DIR at it), after
# `SCALE=full DATASET=cifar10 bash experiments/transforms/run.sh` (on a GPU):
#   DATASET=cifar10 C_DIR=/data/CIFAR-10-C DATA_DIR=/data SCALE=full DEVICE=cuda bash experiments/corruptions/run.sh
# SEVERITIES=1,3,5 restricts the severities (default all five).
# Output: $OUT/results.tsv (one row per method x corruption x severity; resumable), table.md, accuracy.png,
# times.tsv, and the training log of the AugMix / vanilla models.
set -euo pipefail
DATASET=${DATASET:-fashion-mnist}
SCALE=${SCALE:-small}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-experiments/results/corruptions/$DATASET}
MODELS=${MODELS_DIR:-runs/transforms/$DATASET}
CKPTS=${CKPT_DIR:-runs/corruptions/$DATASET}
C_DIR=${C_DIR:-runs/corruptions/${DATASET}-c}
CORRUPTIONS=${CORRUPTIONS:-gaussian_blur,brightness,defocus_blur,zoom_blur,motion_blur,pixelate}
data=(); [ -n "${DATA_DIR:-}" ] && data=(--data-dir "$DATA_DIR")
if [ "$SCALE" = full ]; then
  ARCH=${ARCH:-resnet110}; EPOCHS=${EPOCHS:-90}; TRAIN_ARGS=${TRAIN_ARGS:-"--batch 256 --lr 0.1"}
  IMAGES=${IMAGES:-10000}; N=${N:-1000}
else
  ARCH=${ARCH:-small_cnn}; EPOCHS=${EPOCHS:-3}; TRAIN_ARGS=${TRAIN_ARGS:-"--batch 128 --lr 0.05"}
  IMAGES=${IMAGES:-100}; N=${N:-100}
fi
mkdir -p "$OUT" "$CKPTS"
times="$OUT/times.tsv"
[ -f "$times" ] || printf 'step\tseconds\n' > "$times"

if [ ! -f "$C_DIR/labels.npy" ]; then
  case $DATASET in
    cifar10|cifar100) echo "run.sh: expected the ${DATASET^^}-C files in C_DIR=$C_DIR (Zenodo 2535967), got none" >&2; exit 2 ;;
  esac
  /usr/bin/time -a -o "$times" -f "corrupt	%e" gsmooth corrupt --dataset "$DATASET" "${data[@]}" \
    --corruptions "$CORRUPTIONS" --seed 0 --no-progress --out "$C_DIR" 2>&1 | tee "$OUT/corrupt.log"
fi
# shellcheck disable=SC2086
/usr/bin/time -a -o "$times" -f "train augmix	%e" gsmooth train --clip-grad 0 --dataset "$DATASET" --arch "$ARCH" --no-noise \
  --augment augmix --epochs "$EPOCHS" $TRAIN_ARGS --seed 0 --device "$DEVICE" "${data[@]}" --no-progress --resume \
  --out "$CKPTS/augmix.pt" 2>&1 | tee -a "$OUT/train_augmix.log"
vanilla=(); [ -f "$MODELS/vanilla.pt" ] && vanilla=(--vanilla "$MODELS/vanilla.pt")
/usr/bin/time -a -o "$times" -f "evaluate	%e" python "$(dirname "$0")/evaluate.py" --data-dir "$C_DIR" \
  --models-dir "$MODELS" --augmix "$CKPTS/augmix.pt" "${vanilla[@]}" --corruptions "$CORRUPTIONS" \
  --severities "${SEVERITIES:-1,2,3,4,5}" --images "$IMAGES" --n "$N" --device "$DEVICE" --out "$OUT" 2>&1 \
  | tee "$OUT/evaluate.log"
