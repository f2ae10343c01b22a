"""``ship_model``: put a finished training run into ``models/`` as the shipped model.

    ship_model --runs runs/ship/stage1 runs/ship/stage2 --name dtd_w_panda [--out models]
        [--evaluation report.json] [--campaign-plan runs/gpu/plan.json] [--note TEXT ...]

Copies the last run's ``model.pt`` (TorchScript, exported by ``train``) and model card, adds to the
card the evaluation report when one is given (``--evaluation``, from ``evaluate --out``), and
writes beside them the whole training log (every stage's ``log.jsonl`` in order, one JSON record
per epoch) and its plots (``<name>_losses.png``, ``<name>_weights.png``). Nothing is retrained:
the files are those the ``train`` command wrote. Every file is written atomically.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from dtd_ik.exceptions import DtdIkError
from dtd_ik.solver.network import load_ik_network

from .checkpoint import atomic_write
from .figures import plot_run
from .run_log import read_log
from .trainer import MODEL


def ship(runs: Sequence[Path], name: str, out: Path, evaluation: Optional[Path] = None,
         notes: Sequence[str] = (), campaign_plan: Optional[Path] = None) -> dict[str, Path]:
    """Copy the last of ``runs`` (stages in order) into ``out`` as ``name``; returns the files.
    ``notes`` are added to the card's ``notes`` (what the card's own fields cannot say), and a
    ``train_campaign`` plan.json, if given, as ``training_campaign``."""
    final = runs[-1] / MODEL
    load_ik_network(final)  # refuses (ModelLoadError naming the file) anything the server would
    card = json.loads(final.with_suffix(".json").read_text())
    records = [r for run in runs for r in read_log(run / "log.jsonl")]
    stages = [r["stage"] for r in records]
    if stages != sorted(stages):
        raise DtdIkError(f"--runs: stages {sorted(set(stages))} are not in order")
    if evaluation is not None:
        card["evaluation"] = json.loads(evaluation.read_text())
    if notes:
        card["notes"] = list(card.get("notes", [])) + list(notes)
    if campaign_plan is not None:
        card["training_campaign"] = json.loads(campaign_plan.read_text())
    card["training_log"] = f"{name}.log.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    files = {"model": out / f"{name}.pt", "card": out / f"{name}.json",
             "log": out / f"{name}.log.jsonl", "losses": out / f"{name}_losses.png",
             "weights": out / f"{name}_weights.png"}
    atomic_write(files["model"], lambda tmp: tmp.write_bytes(final.read_bytes()))
    atomic_write(files["card"], lambda tmp: tmp.write_text(json.dumps(card, indent=2) + "\n"))
    atomic_write(files["log"], lambda tmp: tmp.write_text(
        "".join(json.dumps(r) + "\n" for r in records)))
    plot_run(records, files["losses"], files["weights"])
    return files


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="ship_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, nargs="+", required=True,
                   help="the run folders of every stage, in order; the last holds model.pt")
    p.add_argument("--name", required=True, help="file name stem in --out")
    p.add_argument("--out", type=Path, default=Path("models"))
    p.add_argument("--evaluation", type=Path, help="evaluate --out report to add to the card")
    p.add_argument("--note", action="append", default=[],
                   help="a sentence for the card's notes (repeatable)")
    p.add_argument("--campaign-plan", type=Path,
                   help="the train_campaign plan.json that trained the runs, added to the card")
    args = p.parse_args(argv)
    try:
        files = ship(args.runs, args.name, args.out, args.evaluation, args.note,
                     args.campaign_plan)
    except (DtdIkError, OSError, ValueError) as exc:
        print(f"ship_model: {exc}", file=sys.stderr)
        return 2
    for kind, path in files.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
