#!/usr/bin/env bash
# GSmooth tables (c) certified accuracy per transform and dataset, (d) accuracy under adaptive attack,
# vanilla model vs smoothed model. One dataset per call; then summary.py renders both tables in the
# paper's shape (rows: transforms; columns: datasets, with the published numbers beside ours) and plots.
#
# For each transform T (in the order given):
#   surrogate-backed T (rotation, scaling, rotational_blur, defocus_blur, zoom_blur, pixelate, motion_blur):
#     gsmooth surrogate train --transform T            -> $CKPTS/T_surrogate.pt   (skipped if present)
#     gsmooth surrogate lipschitz (M* on LIP_IMAGES test images; a diagnostic)  -> lipschitz.log
#     gsmooth train --transform T --surrogate …        -> $CKPTS/T.pt             (--resume)
#   exact T (brightness, contrast, gaussian_blur, translation):
#     gsmooth train --transform T                      -> $CKPTS/T.pt             (--resume)
#   then, on the first $IMAGES test images:
#     gsmooth predict  (smoothed prediction at theta = 0: the "clean" smoothed accuracy)     -> predict.tsv
#     gsmooth certify --range (interval certificate over the transform's default range)      -> certify.tsv
#     gsmooth attack   (grid + signed-gradient search over the same range, base and smoothed) -> attack.tsv
#     gsmooth attack   on the VANILLA model (trained without noise, once per dataset)         -> attack_vanilla.tsv
# Noise, sigma, range and slices are the per-transform defaults of gsmooth/transform_defaults.py.
#
# Usage: bash experiments/transforms/run.sh [T ...]                    (default: all eleven, Fashion-MNIST, CPU)
#        DATASET=mnist bash experiments/transforms/run.sh rotational_blur defocus_blur zoom_blur pixelate
#        SCALE=full DATASET=cifar10 DEVICE=cuda bash experiments/transforms/run.sh      (the paper's sizes)
#        python experiments/transforms/summary.py                       (tables (c) and (d) + plots)
#        LATENT_SIGMA=1 SUR_MODEL_EPOCHS=6 SUR_MODEL_MAX_TRAIN=60000 VANILLA=0 \
#          OUT=experiments/results/transforms/fashion-mnist-latent1 CKPT_DIR=runs/transforms/fashion-mnist-latent1 \
#          SUR_DIR=runs/transforms/fashion-mnist bash experiments/transforms/run.sh defocus_blur
#                                                     (a larger latent sigma_xi and longer training, same surrogate)
# Surrogate training length is --epochs x --max-train (machine-independent); SUR_TIME_LIMIT=SECONDS adds
# `surrogate train --time-limit` (then the surrogate depends on the machine's speed; none by default).
# Everything resumes: train --resume, certify/predict/attack resume their TSVs (the same command
# appends the missing rows), surrogates are skipped when their file exists. Raising IMAGES later
# extends the TSVs. Wall times of every step are appended to $OUT/times.tsv by /usr/bin/time.
set -euo pipefail

DATASET=${DATASET:-fashion-mnist}
SCALE=${SCALE:-small}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-experiments/results/transforms/$DATASET}
CKPTS=${CKPT_DIR:-runs/transforms/$DATASET}
SUR_DIR=${SUR_DIR:-$CKPTS}         # where surrogates are looked for / trained (share them between CKPT_DIRs)
LATENT_SIGMA=${LATENT_SIGMA:-}     # empty: each transform's default latent sigma (1); else this sigma_xi
ALPHA=${ALPHA:-0.001}              # family-wise alpha of each interval certificate (alpha/K per slice)
SEED=${SEED:-0}
SLICES=${SLICES:-}                 # empty: the transform's default (10; translation 5 per axis = 25 boxes)
case $DATASET in
  cifar10|cifar100) DEF_ARCH=resnet20 ;;
  *) DEF_ARCH=small_cnn ;;
esac
if [ "$SCALE" = full ]; then
  # the GSmooth paper's protocol: n0 100 / n 100,000 per slice (they use alpha 0.01 and no Bonferroni), 500 images
  ARCH=${ARCH:-$( [ "$DEF_ARCH" = resnet20 ] && echo resnet110 || echo small_cnn )}
  IMAGES=${IMAGES:-500}; EPOCHS=${EPOCHS:-90}; MAX_TRAIN=${MAX_TRAIN:-1000000000}
  SUR_MODEL_EPOCHS=${SUR_MODEL_EPOCHS:-90}; SUR_MODEL_MAX_TRAIN=${SUR_MODEL_MAX_TRAIN:-1000000000}
  SUR_EPOCHS=${SUR_EPOCHS:-120}; SUR_MAX_TRAIN=${SUR_MAX_TRAIN:-1000000000}; SUR_TIME_LIMIT=${SUR_TIME_LIMIT:-}
  N0_EXACT=${N0_EXACT:-100}; N_EXACT=${N_EXACT:-100000}; N0_SUR=${N0_SUR:-100}; N_SUR=${N_SUR:-100000}
  PRED_N_EXACT=${PRED_N_EXACT:-10000}; PRED_N_SUR=${PRED_N_SUR:-10000}
  ATK_EXACT=${ATK_EXACT:-"--grid 41 --steps 20 --restarts 5 --eot 16 --n 1000"}
  ATK_SUR=${ATK_SUR:-"--grid 41 --steps 20 --restarts 5 --eot 16 --n 1000"}
  TRAIN_ARGS=${TRAIN_ARGS:-"--batch 256 --lr 0.1"}
else
  ARCH=${ARCH:-small_cnn}
  IMAGES=${IMAGES:-100}; EPOCHS=${EPOCHS:-3}; MAX_TRAIN=${MAX_TRAIN:-60000}
  # surrogate-backed base models at sigma_xi = 1 need longer training (fashion-mnist-latent1: 6 epochs x 60k)
  SUR_MODEL_EPOCHS=${SUR_MODEL_EPOCHS:-6}; SUR_MODEL_MAX_TRAIN=${SUR_MODEL_MAX_TRAIN:-60000}
  SUR_EPOCHS=${SUR_EPOCHS:-3}; SUR_MAX_TRAIN=${SUR_MAX_TRAIN:-20000}; SUR_TIME_LIMIT=${SUR_TIME_LIMIT:-}
  N0_EXACT=${N0_EXACT:-50}; N_EXACT=${N_EXACT:-10000}; N0_SUR=${N0_SUR:-30}; N_SUR=${N_SUR:-2000}
  PRED_N_EXACT=${PRED_N_EXACT:-1000}; PRED_N_SUR=${PRED_N_SUR:-200}
  ATK_EXACT=${ATK_EXACT:-"--grid 21 --steps 10 --restarts 3 --eot 8 --n 500"}
  ATK_SUR=${ATK_SUR:-"--grid 11 --steps 5 --restarts 2 --eot 4 --n 100 --candidates 2"}
  TRAIN_ARGS=${TRAIN_ARGS:-"--batch 128 --lr 0.05"}
fi
SUR_MAX_EVAL=${SUR_MAX_EVAL:-500}
PATH_WEIGHT=${PATH_WEIGHT:-}       # empty: `surrogate train`'s default path-penalty weight (1); else this weight
SEQUENTIAL=${SEQUENTIAL:-1}        # 1: certify --sequential (n per slice is then a maximum; rows record the draws used)
FIXED=${FIXED:-0}                  # 1: also certify with a fixed n (the same n) -> certify_fixed.tsv, for the draws saved
FIXED_N=${FIXED_N:-}               # the fixed run's n (default: the sequential n)
LIP_IMAGES=${LIP_IMAGES:-10}
BATCH=${BATCH:-1000}
VANILLA=${VANILLA:-1}              # 0: skip the vanilla model and its attacks

ALL="brightness contrast gaussian_blur translation rotational_blur defocus_blur zoom_blur pixelate rotation scaling motion_blur"
if [ "$#" -gt 0 ]; then list="$*"; else list=${TRANSFORMS:-$ALL}; fi
mkdir -p "$OUT" "$CKPTS"
times="$OUT/times.tsv"
[ -f "$times" ] || printf 'transform\tstep\tseconds\n' > "$times"
printf 'dataset=%s scale=%s arch=%s device=%s images=%s seed=%s\n' "$DATASET" "$SCALE" "$ARCH" "$DEVICE" "$IMAGES" "$SEED" > "$OUT/settings.txt"
common=(--seed "$SEED" --device "$DEVICE" --no-progress)
data=(); [ -n "${DATA_DIR:-}" ] && data=(--data-dir "$DATA_DIR")   # CIFAR/MNIST in torchvision's layout
common+=("${data[@]}")

timed() {  # timed TRANSFORM STEP LOG cmd...   (appends "T step seconds" to times.tsv, output to LOG)
  local t=$1 step=$2 log=$3; shift 3
  echo "== $(date -u +%FT%TZ) $t $step: $*" | tee -a "$log"
  /usr/bin/time -a -o "$times" -f "$t	$step	%e" "$@" 2>&1 | tee -a "$log"
}

vanilla="$CKPTS/vanilla.pt"
if [ "$VANILLA" = 1 ]; then
  # shellcheck disable=SC2086
  timed vanilla train "$OUT/vanilla_train.log" gsmooth train --clip-grad 0 --dataset "$DATASET" --arch "$ARCH" --no-noise \
    --epochs "$EPOCHS" --max-train "$MAX_TRAIN" $TRAIN_ARGS "${common[@]}" --resume --out "$vanilla"
fi

for t in $list; do
  case $t in
    rotation|scaling|rotational_blur|defocus_blur|zoom_blur|pixelate|motion_blur) kind=surrogate ;;
    brightness|contrast|gaussian_blur|translation) kind=exact ;;
    *) echo "run.sh: unknown transform $t (expected one of: $ALL)" >&2; exit 2 ;;
  esac
  d="$OUT/$t"; mkdir -p "$d"
  model="$CKPTS/$t.pt"
  slices=(); [ -n "$SLICES" ] && slices=(--slices "$SLICES")
  surflag=()
  latent=(); [ -n "$LATENT_SIGMA" ] && latent=(--latent-sigma "$LATENT_SIGMA")
  if [ "$kind" = surrogate ]; then
    sur="$SUR_DIR/${t}_surrogate.pt"
    # complete = evaluated (the per-epoch checkpoint of an interrupted run has no held-out table yet)
    if ! python -c "import sys; from gsmooth.surrogate.train import saved_surrogate_progress as p; s = p('$sur'); sys.exit(0 if s and s['heldout'] else 1)"; then
      limit=(); [ -n "$SUR_TIME_LIMIT" ] && limit=(--time-limit "$SUR_TIME_LIMIT")
      weight=(); [ -n "$PATH_WEIGHT" ] && weight=(--path-weight "$PATH_WEIGHT")
      timed "$t" surrogate "$d/surrogate.log" gsmooth surrogate train --transform "$t" --dataset "$DATASET" \
        --epochs "$SUR_EPOCHS" --max-train "$SUR_MAX_TRAIN" "${limit[@]}" "${weight[@]}" --max-eval "$SUR_MAX_EVAL" \
        "${common[@]}" --resume --out "$sur"
    fi
    if [ ! -s "$d/lipschitz.log" ]; then  # M* on a few test images before certifying (diagnostic, cheap)
      ratio=$(python -c "from gsmooth.core.defaults import defaults_of as d; x = d('$t'); \
print(x.sigma_ratio if '$LATENT_SIGMA' == '' else float('${LATENT_SIGMA:-0}') / x.sigma)")
      timed "$t" lipschitz "$d/lipschitz.log" gsmooth surrogate lipschitz --surrogate "$sur" --max "$LIP_IMAGES" \
        --sigma-ratio "$ratio" --device "$DEVICE" "${data[@]}"
    fi
    # shellcheck disable=SC2086
    timed "$t" train "$d/train.log" gsmooth train --clip-grad 0 --dataset "$DATASET" --arch "$ARCH" --transform "$t" \
      --surrogate "$sur" "${latent[@]}" --epochs "$SUR_MODEL_EPOCHS" --max-train "$SUR_MODEL_MAX_TRAIN" $TRAIN_ARGS \
      "${common[@]}" --resume --out "$model"
    n0=$N0_SUR; n=$N_SUR; pn=$PRED_N_SUR; atk=$ATK_SUR; surflag=(--surrogate "$sur")
  else
    # shellcheck disable=SC2086
    timed "$t" train "$d/train.log" gsmooth train --clip-grad 0 --dataset "$DATASET" --arch "$ARCH" --transform "$t" \
      --epochs "$EPOCHS" --max-train "$MAX_TRAIN" $TRAIN_ARGS "${common[@]}" --resume --out "$model"
    n0=$N0_EXACT; n=$N_EXACT; pn=$PRED_N_EXACT; atk=$ATK_EXACT
  fi
  timed "$t" predict "$d/predict.log" gsmooth predict --model "$model" --n "$pn" --alpha "$ALPHA" --batch "$BATCH" \
    --max "$IMAGES" "${common[@]}" --out "$d/predict.tsv"
  seq=(); [ "$SEQUENTIAL" = 1 ] && seq=(--sequential)
  timed "$t" certify "$d/certify.log" gsmooth certify --model "$model" --range "${slices[@]}" --n0 "$n0" --n "$n" \
    "${seq[@]}" --alpha "$ALPHA" --batch "$BATCH" --max "$IMAGES" "${common[@]}" --out "$d/certify.tsv"
  if [ "$FIXED" = 1 ]; then
    timed "$t" certify_fixed "$d/certify_fixed.log" gsmooth certify --model "$model" --range "${slices[@]}" --n0 "$n0" \
      --n "${FIXED_N:-$n}" --alpha "$ALPHA" --batch "$BATCH" --max "$IMAGES" "${common[@]}" --out "$d/certify_fixed.tsv"
  fi
  # shellcheck disable=SC2086
  timed "$t" attack "$d/attack.log" gsmooth attack --model "$model" $atk --batch "$BATCH" --max "$IMAGES" \
    "${common[@]}" --out "$d/attack.tsv"
  if [ "$VANILLA" = 1 ]; then  # the same attack on the vanilla model (its base-model column is the one to read)
    # shellcheck disable=SC2086
    timed "$t" attack_vanilla "$d/attack_vanilla.log" gsmooth attack --model "$vanilla" --transform "$t" \
      "${surflag[@]}" $atk --batch "$BATCH" --max "$IMAGES" "${common[@]}" --out "$d/attack_vanilla.tsv"
  fi
done
python "$(dirname "$0")/table.py" "$OUT" | tee "$OUT/table.md"
