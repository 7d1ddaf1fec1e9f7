#!/usr/bin/env bash
# Same commands, same checkpoints, two source trees: every results row must be identical except the `time`
# column, every sidecar configuration identical except the model's path. Used for issue 12 (the package
# reorganisation): OLD = a worktree at 4127f7e (before), NEW = the checkout (after).
#
#   git worktree add --detach /tmp/old 4127f7e && mkdir -p /tmp/old/.pp && ln -s /tmp/old/plugins /tmp/old/.pp/gsmooth_plugins
#   mkdir -p .pp && ln -sfn "$PWD/plugins" .pp/gsmooth_plugins
#   OMP_NUM_THREADS=1 bash experiments/compare_trees.sh /tmp/old "$PWD" runs/transforms/fashion-mnist
#
# Each tree runs as `PYTHONPATH=TREE:TREE/.pp python -m gsmooth …` (its own gsmooth and gsmooth_plugins, from the
# source, whatever is installed). RUNS holds the surrogate transforms' checkpoints (`gsmooth train`, see
# experiments/transforms/run.sh); the embedded models come from each tree. One line per command.
set -u
OLD=${1:?usage: compare_trees.sh OLD_TREE NEW_TREE RUNS_DIR}; NEW=${2:?}; R=$(cd "${3:?}" && pwd)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=$(mktemp -d); mkdir -p $out/old $out/new
cmds=()
for t in rotation scaling pixelate zoom_blur defocus_blur motion_blur; do
  cmds+=("certify --model $R/$t.pt --transform $t --range --n0 30 --n 250 --max 2 --no-progress --out OUT/${t}_interval.tsv")
  cmds+=("certify --model $R/$t.pt --transform $t --n0 30 --n 250 --max 2 --no-progress --out OUT/${t}_point.tsv")
done
cmds+=("certify --model $R/rotation.pt --transform rotation --range -5:5 --slices 3 --n0 30 --n 250 --max 2 --no-progress --out OUT/rotation_narrow.tsv")
cmds+=("predict --model $R/pixelate.pt --transform pixelate --n 200 --max 3 --no-progress --out OUT/pixelate_predict.tsv")
cmds+=("attack --model $R/zoom_blur.pt --transform zoom_blur --max 2 --n 100 --no-progress --out OUT/zoom_attack.tsv")
for t in brightness contrast translation gaussian_blur; do
  cmds+=("certify --transform additive --model EMB/additive.pt --n0 30 --n 300 --max 2 --no-progress --out OUT/add_${t}.tsv ${t}")
done
cmds+=("certify --n0 50 --n 500 --max 3 --no-progress --out OUT/additive.tsv")
cmds+=("certify --transform rotational_blur --max 2 --no-progress --out OUT/quick_rb.tsv")
i=0
for c in "${cmds[@]}"; do
  i=$((i+1))
  for side in old new; do
    tree=$OLD; [ $side = new ] && tree=$NEW
    emb=$tree/gsmooth/embedded
    cc=${c//OUT/$out/$side}; cc=${cc//EMB/$emb}
    # the "add_<t>" commands: certify the embedded additive model under transform t with its defaults
    last=${cc##* }
    case "$last" in brightness|contrast|translation|gaussian_blur) cc="${cc% *}"; cc="${cc/--transform additive/--transform $last --range}";; esac
    (cd /tmp && PYTHONPATH=$tree:$tree/.pp python -m gsmooth $cc > $out/$side/$i.stdout 2> $out/$side/$i.stderr; echo $? > $out/$side/$i.rc)
  done
  f=$(echo "$c" | grep -o 'OUT/[a-z_]*\.tsv' | sed 's#OUT/##')
  python - "$out/old/$f" "$out/new/$f" "$c" "$(cat $out/old/$i.rc)" "$(cat $out/new/$i.rc)" <<'PY'
import json, sys
old, new, cmd, rc_old, rc_new = sys.argv[1:]
def rows(p):
    lines = open(p).read().splitlines()
    head = lines[0].split("\t")
    keep = [j for j, h in enumerate(head) if h not in ("time",)]
    return [[r.split("\t")[j] for j in keep] for r in lines]
def conf(p):
    d = json.load(open(p + ".json")); d.pop("info", None); d["config"].pop("model", None); return d
try:
    same = rows(old) == rows(new) and conf(old) == conf(new)
    n = len(open(old).read().splitlines()) - 1
    print(("IDENTICAL " if same else "DIFFERENT ") + f"{n} rows  rc {rc_old}/{rc_new}  gsmooth {cmd}")
    if not same:
        for a, b in zip(rows(old), rows(new)):
            if a != b: print("   old:", a[:12]); print("   new:", b[:12]); break
        if conf(old) != conf(new): print("   configs differ:", conf(old)["config"], conf(new)["config"])
except FileNotFoundError as e:
    print(f"MISSING   rc {rc_old}/{rc_new} {e.filename}  gsmooth {cmd}")
PY
done
