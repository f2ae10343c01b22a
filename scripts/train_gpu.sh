#!/usr/bin/env bash
# Trains config/train_gpu.yaml's runs side by side on one CUDA GPU within the campaign's budget
# (python -m dtd_ik.training.commands.train_campaign), from a plain copy of the tree on a machine
# whose python3 has torch, numpy, PyYAML, tqdm and TensorBoard (no venv, no install: dtd_ik is put
# on the path through a folder of links). Then packs $GPU_OUT (default runs/gpu), checkpoints and
# the paper run's Stage 1 model left out, into 15 MB parts under PACK_DIR:
#   [GPU_OUT=runs/gpu] scripts/train_gpu.sh PACK_DIR [--runs a,b] [campaign key=value ...]
#   cat PACK_DIR/runs_gpu.tgz.part-* | tar -xz     # back on this machine: $GPU_OUT
set -uo pipefail
cd "$(dirname "$0")/.."
pack=$1; shift
out=${GPU_OUT:-runs/gpu}
PY=${PYTHON:-python3}
site=$(mktemp -d)
mkdir -p "$site/dtd_ik"
ln -s "$PWD"/dtd_ik/* "$site/dtd_ik/"
ln -s "$PWD/training" "$site/dtd_ik/training"
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
status=0
export PYTHONSAFEPATH=1  # the copy's dtd_ik/ (no training/ inside) must not shadow the links
$PY -m dtd_ik.training.commands.train_campaign --config config/train_gpu.yaml --out "$out" "$@" || status=$?
mkdir -p "$pack"
tar -czf - --exclude=checkpoint.pt --exclude='*.tmp' --exclude="$out/paper/stage1/model.pt" \
    "$out" | split -b 15M - "$pack/runs_gpu.tgz.part-"
ls -l "$pack"
exit $status
