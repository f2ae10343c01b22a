#!/usr/bin/env bash
# Regenerates docs/RESULTS.md and the shipped model with the project's own commands. Every
# step resumes or skips what a previous (interrupted) run finished, so rerunning it after a stop
# continues. Training (step 1) needs one CUDA GPU: scripts/train_gpu.sh trains
# config/train_gpu.yaml's runs side by side in about 8 min on an H100 (run ship256 is shipped);
# without a GPU, set SKIP_TRAINING=1 to reuse runs/gpu. On this 2-core CPU the rest takes about
# 42 min for Table I (3 seeds x 6 strategies; skipped once runs/table1 is complete), then the
# evaluations and benchmarks (about 10 min).
#   scripts/reproduce_results.sh                   # everything (on a machine with a GPU)
#   SKIP_TRAINING=1 scripts/reproduce_results.sh   # reuse runs/gpu (the report steps only)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh --dev >/dev/null
PY=.venv/bin/python
SHIP=runs/gpu/ship256
mkdir -p runs/results

# 1. the GPU campaign (config/train_gpu.yaml): the shipped model and the networks it is compared with
#    (as run: the first three runs side by side, then ship256_gentle alone on a fresh machine)
if [[ -z ${SKIP_TRAINING:-} ]]; then
    scripts/train_gpu.sh runs/gpu_pack --runs paper,ship384,ship256 budget_s=440
    GPU_OUT=runs/gpu_gentle scripts/train_gpu.sh runs/gpu_gentle_pack --runs ship256_gentle \
        budget_s=200 grace_s=15
fi
# 2. Table II protocol on the network alone, timed with the solver's one torch thread: the
#    shipped run, then every other campaign run that exported a model
$PY -m dtd_ik.training.commands.evaluate --model $SHIP/stage2/model.pt --goals 1000 --repeats 100 \
    --threads 1 --out runs/results/table2_network.json
for model in runs/gpu*/*/stage2/model.pt; do
    run=$(basename "$(dirname "$(dirname "$model")")")
    [[ -f runs/results/table2_network_gpu_$run.json ]] || \
        $PY -m dtd_ik.training.commands.evaluate --model "$model" --goals 1000 --repeats 100 \
            --threads 1 --out "runs/results/table2_network_gpu_$run.json"
done
# 3. into models/: model, card (+ the evaluation and the campaign plan), the joined training
#    log, its plots. The note: the first GPU campaign ran before $DTD_IK_GIT_COMMIT took
#    precedence over the GPU machine's stale .git, so its cards name the wrong commit.
$PY -m dtd_ik.training.commands.ship_model --runs $SHIP/stage1 $SHIP/stage2 --name dtd_w_panda \
    --out models --evaluation runs/results/table2_network.json \
    --campaign-plan runs/gpu/plan.json \
    --note "Trained on one NVIDIA H100 by train_campaign (config/train_gpu.yaml, run ship256) from commit 68f01ec; git_commit reads b7f3bc9...-dirty because the GPU machine's copy of the tree carried a stale .git (since 9b82ab8 DTD_IK_GIT_COMMIT takes precedence)."
# 4. Table I + Fig. 1: six strategies, same budget, seeds 0-2
OMP_NUM_THREADS=1 $PY -m dtd_ik.training.commands.compare_strategies --config config/train_compare.yaml \
    --out runs/table1 --seeds 0,1,2
# 5. the solver with the shipped network beside TRAC-IK, on the same goals
$PY benchmarks/bench_solver.py --model models/dtd_w_panda.pt \
    --markdown runs/results/bench_solver.md | tee runs/results/bench_solver.txt
# 6. network latency by size (why the shipped architecture)
$PY benchmarks/bench_network.py | tee runs/results/bench_network.txt
# 7. the report
$PY -m dtd_ik.training.commands.results_report --table1 runs/table1 --model models/dtd_w_panda.pt \
    --campaign runs/gpu/plan.json --campaign runs/gpu_gentle/plan.json \
    --solver runs/results/bench_solver.md --solver-log runs/results/bench_solver.txt \
    --network-bench runs/results/bench_network.txt --out docs/RESULTS.md
