"""Put a finished training run into ``models/`` as the shipped model (the ``ship_model`` command).

Copies the last run's ``model.pt`` (TorchScript, exported by ``train``) and model card, adds to the
card the evaluation report when one is given (``--evaluation``, from ``evaluate --out``), and
writes beside them the whole training log (every stage's ``log.jsonl`` in order, one JSON record
per epoch) and its plots (``<name>_losses.png``, ``<name>_weights.png``). Nothing is retrained:
the files are those the ``train`` command wrote. Every file is written atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from dtd_ik.exceptions import DtdIkError
from dtd_ik.solver.network import load_ik_network

from .checkpoint import atomic_write
from .figures import plot_run
from .run_log import read_log
from .trainer import MODEL


def ship(
    runs: Sequence[Path],
    name: str,
    out: Path,
    evaluation: Path | None = None,
    notes: Sequence[str] = (),
    campaign_plan: Path | None = None,
) -> dict[str, Path]:
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
    files = {
        "model": out / f"{name}.pt",
        "card": out / f"{name}.json",
        "log": out / f"{name}.log.jsonl",
        "losses": out / f"{name}_losses.png",
        "weights": out / f"{name}_weights.png",
    }
    atomic_write(files["model"], lambda tmp: tmp.write_bytes(final.read_bytes()))
    atomic_write(files["card"], lambda tmp: tmp.write_text(json.dumps(card, indent=2) + "\n"))
    atomic_write(
        files["log"], lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    )
    plot_run(records, files["losses"], files["weights"])
    return files


__all__ = ["ship"]
