#!/usr/bin/env bash
# Regenerates docs/RESULTS.md and the shipped model from scratch with the project's own commands.
# Every step resumes or skips what a previous (interrupted) run finished, so rerunning it after
# a stop continues. On this 2-core CPU: about 2 h of training, 42 min for Table I (3 seeds x 6
# strategies, measured beside the training), then the evaluations and benchmarks.
#   scripts/reproduce_results.sh            # everything
#   SKIP_TRAINING=1 scripts/reproduce_results.sh   # reuse runs/ship (the report steps only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh --dev >/dev/null
PY=.venv/bin/python
mkdir -p runs/results

# 1. the shipped model: hybrid weighting, both stages (config/train_ship_stage{1,2}.yaml)
[[ -n ${SKIP_TRAINING:-} ]] || scripts/train_shipped_model.sh
# 2. Table II protocol on the network alone, timed with the solver's one torch thread
$PY -m dtd_ik.training.evaluate --model runs/ship/stage2/model.pt --goals 1000 --repeats 100 \
    --threads 1 --out runs/results/table2_network.json
# 3. into models/: model, card (+ the evaluation), the joined training log, its plots
$PY -m dtd_ik.training.ship --runs runs/ship/stage1 runs/ship/stage2 --name dtd_w_panda \
    --out models --evaluation runs/results/table2_network.json
# 4. Table I + Fig. 1: six strategies, same budget, seeds 0-2
OMP_NUM_THREADS=1 $PY -m dtd_ik.training.compare --config config/train_compare.yaml \
    --out runs/table1 --seeds 0,1,2
# 5. the solver with the shipped network beside TRAC-IK, on the same goals
$PY benchmarks/bench_solver.py --model models/dtd_w_panda.pt \
    --markdown runs/results/bench_solver.md | tee runs/results/bench_solver.txt
# 6. network latency by size (why the shipped architecture)
$PY benchmarks/bench_network.py | tee runs/results/bench_network.txt
# 7. the report
$PY -m dtd_ik.training.results --table1 runs/table1 --model models/dtd_w_panda.pt \
    --solver runs/results/bench_solver.md --solver-log runs/results/bench_solver.txt \
    --network-bench runs/results/bench_network.txt --out docs/RESULTS.md
