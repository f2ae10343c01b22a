#!/usr/bin/env bash
# The paper's run within one device call (<= 10 min): Stage 1 (config/train_paper_stage1.yaml)
# for at most S1_S seconds, then Stage 2 (config/train_paper_stage2.yaml) twice from Stage 1's
# checkpoint, alpha refit and alpha keep, each for at most S2_S seconds and the same epoch cap
# (a stage past its time ends normally: validation, test, export). Brings back under PACK_DIR
# (<= 64 MB): every stage's log.jsonl and model card, the two Stage 2 networks as float16
# (half_weights; 21 MB each for 1024 x 5), the console log and, with BENCH_STEPS > 0, the
# training benchmark (BENCH_MODES, default eager beside cuda_graph), run first. Runs from a plain
# copy of the tree on a machine whose python3 has torch, numpy, PyYAML and tqdm (dtd_ik put on
# the path by links).
#   [S1_S=290] [S2_S=85] [BENCH_STEPS=100] [BENCH_MODES=eager,cuda_graph] \
#       scripts/train_paper.sh PACK_DIR [key=value ...]
# key=value overrides go to every stage (a CPU dry run: device=cpu optim.step=eager ...).
# Back here: python -c "from dtd_ik.training.half_weights import unpack; \
#   unpack('PACK_DIR/stage2_keep.half.pt', 'runs/paper/stage2_keep/model.pt')"
set -uo pipefail
cd "$(dirname "$0")/.."
pack=$(mkdir -p "$1" && cd "$1" && pwd); shift
out=${PAPER_OUT:-runs/paper}
s1=${S1_S:-290}
s2=${S2_S:-85}
bench=${BENCH_STEPS:-100}
bench_modes=${BENCH_MODES:-eager,cuda_graph}
PY=${PYTHON:-python3}
site=$(mktemp -d)
mkdir -p "$site/dtd_ik"
ln -s "$PWD"/dtd_ik/* "$site/dtd_ik/"
[ -e "$site/dtd_ik/training" ] || ln -s "$PWD/training" "$site/dtd_ik/training"
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTHONSAFEPATH=1
exec > >(tee "$pack/console.log") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
if (( bench > 0 )); then
  $PY benchmarks/bench_training.py --modes "$bench_modes" --steps "$bench" --warmup 10 \
      | tee "$pack/bench_training.txt"
fi
train() {  # a stage's own wall budget ends it; timeout is the safety net past it
  local budget=$1; shift
  timeout -s TERM -k 30 $((budget + 120)) $PY -m dtd_ik.training "$@" "stop.max_seconds=$budget"
}
status=0
date -u +"stage 1 from %T"
train "$s1" --config config/train_paper_stage1.yaml --out "$out/stage1" "$@" || status=$?
for alpha in refit keep; do
  date -u +"stage 2 ($alpha) from %T"
  train "$s2" --config config/train_paper_stage2.yaml --out "$out/stage2_$alpha" \
      "init_from=$out/stage1/checkpoint.pt" "weighting.alpha=$alpha" "$@" || status=$?
done
date -u +"packing from %T"
for stage in stage1 stage2_refit stage2_keep; do
  for f in log.jsonl model.json; do
    [ -f "$out/$stage/$f" ] && cp "$out/$stage/$f" "$pack/${stage}_$f"
  done
done
for alpha in refit keep; do
  $PY -c "import sys; from dtd_ik.training.half_weights import pack; pack(*sys.argv[1:])" \
      "$out/stage2_$alpha" "$pack/stage2_$alpha.half.pt" || status=$?
done
du -sh "$pack"; ls -l "$pack"
exit $status
