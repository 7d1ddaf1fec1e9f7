#!/usr/bin/env bash
# Issue 13, point 4: the same certify job with 1 process (1 thread) and with 2 processes (1 thread each,
# `gsmooth certify --nproc 2`, torch.distributed on gloo), wall time of each, and the rows checked identical
# (every column but `time`, and the configuration sidecars). Writes experiments/results/distributed/scaling.md.
#
#   bash experiments/distributed/scaling.sh            # from the repository root; MAX=40 N=2000 by default
#
# The job: the embedded Fashion-MNIST model (gsmooth.embedded, additive Gaussian sigma 0.25) on MAX of its
# shipped test images, n0 100, n N, batch 1000. Wall time includes each process's start (imports, model).
# Run it on an otherwise idle machine: on a shared one the 2-process figure measures the neighbours too.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
MAX=${MAX:-40}; N=${N:-2000}
export OMP_NUM_THREADS=1
work=$(mktemp -d)
job=(certify --n0 100 --n "$N" --batch 1000 --max "$MAX" --threads-per-proc 1 --no-progress)

t0=$(date +%s.%N)
"$PY" -m gsmooth "${job[@]}" --out "$work/one.tsv" > "$work/one.txt"
t1=$(date +%s.%N)
"$PY" -m gsmooth "${job[@]}" --nproc 2 --out "$work/two.tsv" > "$work/two.txt"
t2=$(date +%s.%N)

one=$(echo "$t1 - $t0" | bc -l); two=$(echo "$t2 - $t1" | bc -l)
no_time() { awk -F'\t' -v OFS='\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "time") c = i } { $c = ""; print }' "$1"; }
if cmp -s <(no_time "$work/one.tsv") <(no_time "$work/two.tsv") && cmp -s "$work/one.tsv.json" "$work/two.tsv.json"; then
  same="identical ($(($(wc -l < "$work/one.tsv") - 1)) rows, every column but time; sidecars byte-identical)"
else
  same="DIFFERENT"
fi
load=$(cut -d' ' -f1-3 /proc/loadavg)
# compute time without the processes' start: the rows' time column (seconds per image); with 2 ranks, rank r
# computed the r-th, (r+2)-th … image (groups of batch // n = 1 image, gsmooth.run.distributed.shard)
work_one=$(awk -F'\t' 'NR > 1 { s += $6 } END { printf "%.1f", s }' "$work/one.tsv")
work_two=$(awk -F'\t' 'NR > 1 { s[(NR - 2) % 2] += $6 } END { printf "%.1f", (s[0] > s[1] ? s[0] : s[1]) }' "$work/two.tsv")
out=experiments/results/distributed/scaling.md
{
  echo "# Distributed certify: 1 process vs 2 processes (1 thread each)"
  echo
  echo "Written by \`experiments/distributed/scaling.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)."
  echo "Machine: $(getconf _NPROCESSORS_ONLN) CPU cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), torch $("$PY" -c 'import torch; print(torch.__version__)'), gloo backend;"
  echo "load average before the runs: $load."
  if awk -v l="${load%% *}" -v c="$(getconf _NPROCESSORS_ONLN)" 'BEGIN { exit !(l > c / 2) }'; then
    echo
    echo "**The machine was busy** (load average above half its cores): other work shared the cores, so these"
    echo "times measure it too; re-run on an idle machine for the scaling figure. The rows check holds regardless."
  fi
  echo
  echo "Job: \`gsmooth ${job[*]}\` (the embedded Fashion-MNIST model, additive Gaussian sigma 0.25, $MAX images, n $N)."
  echo
  echo "| processes | threads each | wall time (s) | speed-up | compute time of the busiest process (s) |"
  echo "|---|---|---|---|---|"
  printf '| 1 | 1 | %.1f | 1.00 | %s |\n' "$one" "$work_one"
  printf '| 2 (`--nproc 2`) | 1 | %.1f | %.2f | %s |\n' "$two" "$(echo "$one / $two" | bc -l)" "$work_two"
  echo
  echo "Rows: $same."
  echo
  echo "Wall time includes starting the processes (Python, torch, gsmooth, the model: a few seconds each, paid"
  echo "once per run, in parallel by the 2 workers) and the launcher's rendezvous; the compute time (the sum of the"
  echo "rows' \`time\` column of the images a process computed) leaves both out."
} > "$out"
cat "$out"
test "$same" != DIFFERENT
