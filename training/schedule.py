"""Learning-rate schedules over one training stage, as a pure function of the step reached.

The factor depends only on (step, steps in the stage), never on state of its own, so a resumed
run sets exactly the learning rates the uninterrupted run did.
"""

import math

#: optim.schedule values.
LR_SCHEDULES = ("constant", "cosine")


def lr_factor(schedule: str, step: int, total_steps: int, final_factor: float = 0.0) -> float:
    """Multiplier of every group's starting lr before optimiser step ``step`` (0-based) of
    ``total_steps``: 1 for "constant"; for "cosine", half a cosine from 1 at step 0 down to
    ``final_factor`` at the last step."""
    if schedule == "constant":
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown lr schedule {schedule!r} (known: {LR_SCHEDULES})")
    progress = min(step / max(total_steps - 1, 1), 1.0)
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


__all__ = ["LR_SCHEDULES", "lr_factor"]
