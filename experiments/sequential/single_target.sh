#!/usr/bin/env bash
# One preset radius per model (r = sigma; Horvath et al.'s setting): gsmooth certify --target sigma, sequential at
# n <= 10,000, beside the fixed-n rows of experiments/additive_tables/run.sh (run that first, same OUT/CKPT_DIR):
#   OUT=experiments/results/sequential/additive_tables CKPT_DIR=runs/sequential/additive_tables \
#     bash experiments/additive_tables/run.sh cohen        (and laplace)
#   bash experiments/sequential/single_target.sh          -> $OUT/<table>/certify_target_*.tsv, target_rows.md
set -euo pipefail
OUT=${OUT:-experiments/results/sequential/additive_tables}
CKPTS=${CKPT_DIR:-runs/sequential/additive_tables}
N=${N:-10000}; IMAGES=${IMAGES:-100}
for table in cohen laplace; do
  noise=gaussian; [ "$table" = laplace ] && noise=laplace
  : > "$OUT/$table/target_rows.md"
  for s in 0.12 0.25 0.5 1.0; do
    tag=$(echo "$s" | tr -d .)
    ckpt=$CKPTS/$table/fashion-mnist_small_cnn_${noise}_$tag.pt
    /usr/bin/time -a -o "$OUT/$table/times.tsv" -f "certify sequential target sigma=$s	%e" gsmooth certify --model "$ckpt" \
      --n0 100 --n "$N" --target "$s" --alpha 0.001 --batch 1000 --seed 0 --max "$IMAGES" --no-progress \
      --out "$OUT/$table/certify_target_$tag.tsv" > "$OUT/$table/certify_target_$tag.log" 2>&1
    # rows: certified accuracy at r = sigma, draws per image, fixed n vs sequential
    python "$(dirname "$0")/compare.py" --radii "$s" --pair "$noise $s" "$OUT/$table/certify_$tag.tsv" \
      "$OUT/$table/certify_target_$tag.tsv" | tail -2 >> "$OUT/$table/target_rows.md"
  done
done
