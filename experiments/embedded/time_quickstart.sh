#!/usr/bin/env bash
# Times the two embedded runs of the README's Quickstart (and their peak memory) on this machine.
# The figure quoted by the README and `--help` is gsmooth.embedded.QUICKSTART_TIME; run this on an
# idle machine and update it when the numbers move.
#   bash experiments/embedded/time_quickstart.sh
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
nproc_text="$(nproc) CPU cores"
for transform in additive rotational_blur; do
  /usr/bin/time -f "%e s wall, %M KB peak RSS" -o time.txt \
    gsmooth certify --transform "$transform" --no-progress >/dev/null
  echo "gsmooth certify --transform $transform: $(cat time.txt) ($nproc_text)"
done
