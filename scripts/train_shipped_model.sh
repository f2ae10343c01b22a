#!/usr/bin/env bash
# Trains the model shipped in models/ with the project's own `train` command: Stage 1, then
# Stage 2, each resumed from its checkpoint if a previous run was interrupted. Run it in the
# background; it checkpoints every epoch:
#   nohup scripts/train_shipped_model.sh > runs/ship.log 2>&1 &
# Then scripts/ship_model.sh evaluates the result and copies it into models/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

run_stage() {  # run_stage CONFIG RUN_DIR FINISHED_MARKER
    local config=$1 dir=$2 done_marker=$3
    if [[ -f $dir/$done_marker ]]; then
        echo "== $dir: finished before"
    elif [[ -f $dir/checkpoint.pt ]]; then
        echo "== $dir: resuming"
        $PY -m dtd_ik.training --resume "$dir/checkpoint.pt"
    else
        $PY -m dtd_ik.training --config "$config" --out "$dir"
    fi
}

run_stage config/train_ship_stage1.yaml runs/ship/stage1 stage1.done
touch runs/ship/stage1/stage1.done
run_stage config/train_ship_stage2.yaml runs/ship/stage2 model.pt
