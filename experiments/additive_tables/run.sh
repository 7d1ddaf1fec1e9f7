#!/usr/bin/env bash
# Published additive-noise tables, one command each:
#   cohen    Cohen et al. 2019: certified accuracy vs l2 radius, Gaussian sigma in {0.12, 0.25, 0.5, 1.0}
#   laplace  Laplace noise (l1): certified accuracy vs l1 radius, scale lambda in {0.12, 0.25, 0.5, 1.0}
#
# Usage:
#   bash experiments/additive_tables/run.sh cohen                 # small scale: Fashion-MNIST, CPU (offline)
#   bash experiments/additive_tables/run.sh laplace
#   SCALE=full DATASET=cifar10 DEVICE=cuda bash experiments/additive_tables/run.sh cohen   # the paper's setting
# small: small_cnn, 3 epochs (SGD lr 0.05, cosine), 100 test images, n0 100, n 10,000, alpha 0.001
# full : resnet110 (Cohen's CIFAR model), 90 epochs, batch 400, SGD lr 0.1 step schedule (x0.1 every 30 epochs),
#        500 test images (every 20th), n0 100, n 100,000, alpha 0.001  (Cohen et al.'s protocol)
# Output: $OUT/<table>/  train_*.log, certify_*.tsv (+ .json), table.md (paper-shaped markdown), curve.png;
#         with SEQUENTIAL=1 (default) also certify_seq_*.tsv (sequential at the radii RADII, n a maximum) and
#         sequential.md (experiments/sequential/compare.py: certified accuracy and draws per image, fixed vs sequential).
# Everything resumes (train --resume, certify appends missing rows). Wall times in $OUT/<table>/times.tsv.
set -euo pipefail
table=${1:?usage: run.sh cohen|laplace}
case $table in
  cohen) noise=gaussian ;;
  laplace) noise=laplace ;;
  *) echo "run.sh: expected cohen or laplace, got $table" >&2; exit 2 ;;
esac
SCALE=${SCALE:-small}
DEVICE=${DEVICE:-cpu}
SIGMAS=${SIGMAS:-"0.12 0.25 0.5 1.0"}
if [ "$SCALE" = full ]; then
  DATASET=${DATASET:-cifar10}; ARCH=${ARCH:-resnet110}; EPOCHS=${EPOCHS:-90}; TRAIN_ARGS=${TRAIN_ARGS:-"--batch 400 --lr 0.1 --schedule step"}
  N=${N:-100000}; IMAGES=${IMAGES:-500}; SKIP=${SKIP:-20}; BATCH=${BATCH:-1000}
else
  DATASET=${DATASET:-fashion-mnist}; ARCH=${ARCH:-small_cnn}; EPOCHS=${EPOCHS:-3}; TRAIN_ARGS=${TRAIN_ARGS:-"--batch 128 --lr 0.05"}
  N=${N:-10000}; IMAGES=${IMAGES:-100}; SKIP=${SKIP:-1}; BATCH=${BATCH:-1000}
fi
OUT=${OUT:-experiments/results/additive_tables}/$table
CKPTS=${CKPT_DIR:-runs/additive_tables}/$table
mkdir -p "$OUT" "$CKPTS"
times="$OUT/times.tsv"
[ -f "$times" ] || printf 'step\tseconds\n' > "$times"
files=(); labels=(); pairs=()
SEQUENTIAL=${SEQUENTIAL:-1}          # 1: also certify sequentially at the table's radii (RADII) -> certify_seq_*.tsv, sequential.md
RADII=${RADII:-0.25,0.5,0.75,1,1.25,1.5}
for s in $SIGMAS; do
  tag=$(echo "$s" | tr -d .)
  ckpt="$CKPTS/${DATASET}_${ARCH}_${noise}_$tag.pt"
  echo "== train $noise sigma=$s" | tee -a "$OUT/train_$tag.log"
  # shellcheck disable=SC2086
  /usr/bin/time -a -o "$times" -f "train sigma=$s	%e" gsmooth train --clip-grad 0 --dataset "$DATASET" --arch "$ARCH" --noise "$noise" \
    --sigma "$s" --epochs "$EPOCHS" $TRAIN_ARGS --seed 0 --device "$DEVICE" --no-progress --resume --out "$ckpt" \
    2>&1 | tee -a "$OUT/train_$tag.log"
  /usr/bin/time -a -o "$times" -f "certify sigma=$s	%e" gsmooth certify --model "$ckpt" --n0 100 --n "$N" \
    --alpha 0.001 --batch "$BATCH" --seed 0 --skip "$SKIP" --max "$IMAGES" --device "$DEVICE" --no-progress \
    --out "$OUT/certify_$tag.tsv" 2>&1 | tee "$OUT/certify_$tag.log"
  files+=("$OUT/certify_$tag.tsv"); labels+=("$s")
  if [ "$SEQUENTIAL" = 1 ]; then  # the same images at the table's radii, sequentially (n is then a maximum)
    /usr/bin/time -a -o "$times" -f "certify sequential sigma=$s	%e" gsmooth certify --model "$ckpt" --n0 100 --n "$N" \
      --radii "$RADII" --alpha 0.001 --batch "$BATCH" --seed 0 --skip "$SKIP" --max "$IMAGES" --device "$DEVICE" \
      --no-progress --out "$OUT/certify_seq_$tag.tsv" 2>&1 | tee "$OUT/certify_seq_$tag.log"
    pairs+=(--pair "$noise $s" "$OUT/certify_$tag.tsv" "$OUT/certify_seq_$tag.tsv")
  fi
done
if [ "$SEQUENTIAL" = 1 ]; then
  python "$(dirname "$0")/../sequential/compare.py" --radii "$RADII" "${pairs[@]}" | tee "$OUT/sequential.md"
fi
python "$(dirname "$0")/table.py" "$table" --dataset "$DATASET" --arch "$ARCH" --n "$N" --plot "$OUT/curve.png" \
  --sigmas "${labels[@]}" --files "${files[@]}" | tee "$OUT/table.md"
