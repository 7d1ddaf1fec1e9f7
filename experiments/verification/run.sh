#!/usr/bin/env bash
# Issue 14 point 3: deterministic verification (MILP, LP, CROWN, IBP) beside Gaussian smoothing on
# the same Fashion-MNIST models, on CPU; and how MILP time grows with hidden units.
# Usage: bash experiments/verification/run.sh [OUTDIR]   (default experiments/results/verification)
# Environment: N images (default 100) for IBP, CROWN and smoothing of the MLP, N_EXACT (30) / N_EXACT_L2 (15)
# for the l-inf / l2 LP and MILP, N_CNN (5) for the LP and MILP on the small CNN, N_CNN_BOUNDS (default 30) for IBP and CROWN on the small CNN, TIME_LIMIT per LP/MILP verification of one image at one radius (default 20 s),
# CKPT_DIR for the trained models (default runs/verification). Re-running resumes every file.
set -euo pipefail
out=${1:-experiments/results/verification}
ckpts=${CKPT_DIR:-runs/verification}
N=${N:-100}
N_EXACT=${N_EXACT:-30}        # l-inf LP/MILP images
N_EXACT_L2=${N_EXACT_L2:-15}  # l2 LP/MILP images (the l2 LP with its tangent cuts takes ~1 min per image)
N_CNN_BOUNDS=${N_CNN_BOUNDS:-30}  # IBP/CROWN on the small CNN (12,672 ReLUs: CROWN takes seconds per radius)
TIME_LIMIT=${TIME_LIMIT:-20}
mkdir -p "$out" "$ckpts"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

LINF_EPS=0.005,0.01,0.02,0.03,0.05,0.1
L2_EPS=0.1,0.25,0.5,0.75,1.0,1.5

# The models: a 784-100-10 MLP trained here (Gaussian augmentation sigma 0.25, the embedded
# model's recipe), and the small CNN shipped in the package (small_cnn, sigma 0.25).
gsmooth train --clip-grad 0 --dataset fashion-mnist --arch mlp100 --noise gaussian --sigma 0.25 --epochs 5 \
  --batch 128 --lr 0.05 --seed 0 --no-progress --resume --out "$ckpts/mlp100_sigma025.pt" 2>&1 | tee -a "$out/train_mlp100.log"
small_cnn=$(python -c "from gsmooth.embedded import embedded_default; print(embedded_default('additive').model_path)")

run_verify() {  # model-tag checkpoint method norm eps-list images
  local tag=$1 ckpt=$2 method=$3 norm=$4 eps=$5 n=$6
  /usr/bin/time -f "$tag $method $norm: %e s" gsmooth verify --model "$ckpt" --dataset fashion-mnist --method "$method" --norm "$norm" \
    --eps "$eps" --max "$n" --time-limit "$TIME_LIMIT" --no-progress --out "$out/${tag}_${method}_${norm}.tsv" \
    2>&1 | tee -a "$out/verify.log"
}

for norm in linf l2; do
  eps=$LINF_EPS; [ "$norm" = l2 ] && eps=$L2_EPS
  for method in ibp crown; do run_verify mlp100 "$ckpts/mlp100_sigma025.pt" $method $norm $eps "$N"; done
  n_exact=$N_EXACT; [ "$norm" = l2 ] && n_exact=$N_EXACT_L2
  for method in lp milp; do run_verify mlp100 "$ckpts/mlp100_sigma025.pt" $method $norm $eps "$n_exact"; done
  for method in ibp crown; do run_verify small_cnn "$small_cnn" $method $norm $eps "$N_CNN_BOUNDS"; done
done
# The LP and MILP on the small CNN (12,672 ReLUs): a few images only, to show where they stand.
N_CNN=${N_CNN:-5}
for method in lp milp; do
  /usr/bin/time -f "small_cnn $method linf: %e s" gsmooth verify --model "$small_cnn" --dataset fashion-mnist --method $method --norm linf \
    --eps 0.01,0.03 --max "$N_CNN" --time-limit "$TIME_LIMIT" --no-progress --out "$out/small_cnn_${method}_linf.tsv" \
    2>&1 | tee -a "$out/verify.log"
done

# Gaussian smoothing of the same models (Cohen et al.; n = 10,000, alpha = 0.001); its l2 radius R gives the
# l-inf radius R / sqrt(784) (||d||_2 <= sqrt(d) ||d||_inf).
for tag in mlp100 small_cnn; do
  ckpt="$ckpts/mlp100_sigma025.pt"; [ "$tag" = small_cnn ] && ckpt=$small_cnn
  /usr/bin/time -f "$tag smoothing: %e s" gsmooth certify --model "$ckpt" --dataset fashion-mnist --n0 100 --n 10000 \
    --alpha 0.001 --batch 1000 --seed 0 --max "$N" --no-progress --out "$out/${tag}_smoothing.tsv" 2>&1 | tee -a "$out/verify.log"
done

# gsmooth verify --method milp against hidden units: MLPs 784-h-10 (same recipe, 3 epochs), l-inf eps 0.02,
# 10 images (CROWN proves most margins first; the MILP runs on what it leaves).
for h in 10 20 50 100 200; do
  [ -f "$ckpts/mlp${h}_sigma025.pt" ] || gsmooth train --clip-grad 0 --dataset fashion-mnist --arch "mlp$h" --noise gaussian \
    --sigma 0.25 --epochs 3 --batch 128 --lr 0.05 --seed 0 --no-progress --out "$ckpts/mlp${h}_sigma025.pt" >> "$out/train_scaling.log" 2>&1
  /usr/bin/time -f "milp h=$h: %e s" gsmooth verify --model "$ckpts/mlp${h}_sigma025.pt" --dataset fashion-mnist --method milp --norm linf --eps 0.02 \
    --max 10 --time-limit "${SCALING_TIME_LIMIT:-30}" --no-progress --out "$out/scaling_milp_h$h.tsv" 2>&1 | tee -a "$out/verify.log"
done

# The whole MILP (every margin, IBP big-M constants, no CROWN pre-pass) against width: sign and exact minimum.
python experiments/verification/milp_scaling.py --eps 0.03 --images 8 --time-limit 20 --ckpts "$ckpts" \
  --out "$out/milp_scaling.md"

python experiments/verification/summary.py "$out"
