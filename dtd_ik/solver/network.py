"""Load an exported IK network (TorchScript) and check that it fits the robot description.

The file format is documented in docs/model_format.md; this module is the only reader of it.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from dtd_ik.exceptions import InvalidInputError, ModelLoadError
from dtd_ik.robot.model import RobotModel, load_robot_model

#: The model file format version this runtime reads.
FORMAT_VERSION = 1
#: How far the network's joint limits may differ from the robot description [rad].
LIMIT_TOLERANCE = 1e-4
#: Input width: position (3) [m] + quaternion x-y-z-w (4).
POSE_WIDTH = 7


@dataclass(frozen=True)
class IKNetwork:
    """A loaded network: ``net(x)`` maps (N, 7) poses [p, q_xyzw] to (N, 7) joints [rad]."""

    module: torch.jit.ScriptModule
    path: Path
    joint_names: tuple[str, ...]
    base_frame: str
    tip_frame: str
    device: torch.device

    def __call__(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[-1] != POSE_WIDTH:
            raise InvalidInputError(
                f"network input must have shape (N, {POSE_WIDTH}), got {tuple(x.shape)}"
            )
        with torch.inference_mode():
            return self.module(x.to(device=self.device, dtype=torch.float32))


def _attribute(module, name: str, path: Path):
    try:
        return getattr(module, name)
    except (AttributeError, RuntimeError) as exc:
        raise ModelLoadError(f"{path}: not a dtd_ik IK network (no attribute {name!r})") from exc


def torch_archive_kind(path: Path) -> str:
    """What ``path`` holds, from its zip directory alone: 'torchscript' (constants.pkl),
    'pickle' (a torch.save archive: data.pkl, no constants), 'zip' (other) or '' (not a whole
    zip). Model and checkpoint loading both use it to say which file was given in place of
    which."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return ""
    if any(n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    return "pickle" if any(n.endswith("/data.pkl") for n in names) else "zip"


def load_ik_network(
    path: str | Path, robot_model: RobotModel | None = None, device: str | torch.device = "cpu"
) -> IKNetwork:
    """Load ``path`` onto ``device`` and check it against ``robot_model`` (default: the Panda).

    Raises :class:`ModelLoadError` with one line naming the file and the reason.
    """
    path = Path(path)
    robot = robot_model if robot_model is not None else load_robot_model()
    if not path.is_file():
        raise ModelLoadError(f"{path}: model file not found")
    try:
        with warnings.catch_warnings():
            # torch 2.13 marks TorchScript deprecated; it is still the format MoveIt users deploy
            # (docs/model_format.md) and the warning would repeat in every server log
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
            module = torch.jit.load(str(path), map_location=torch.device(device))
    except Exception as exc:  # torch raises RuntimeError/ValueError/zipfile errors alike
        if torch_archive_kind(path) == "pickle":
            raise ModelLoadError(
                f"{path}: not a readable TorchScript file (a torch.save archive, "
                f"such as a training checkpoint; train exports model.pt)"
            ) from exc
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.split(" This is an internal miniz error")[0]  # then: "...corrupted"
        raise ModelLoadError(f"{path}: not a readable TorchScript file ({reason})") from exc
    module.eval()
    version = _attribute(module, "format_version", path)
    if version != FORMAT_VERSION:
        raise ModelLoadError(
            f"{path}: model format version {version}, this dtd_ik reads {FORMAT_VERSION}"
        )
    names = tuple(_attribute(module, "joint_names", path))
    if names != robot.joint_names:
        raise ModelLoadError(
            f"{path}: made for joints {list(names)}, the robot has {list(robot.joint_names)}"
        )
    base = str(_attribute(module, "base_frame", path))
    if base != robot.base_frame:
        raise ModelLoadError(
            f"{path}: made for base frame {base!r}, the robot's is {robot.base_frame!r}"
        )
    tip = str(_attribute(module, "tip_frame", path))
    if tip not in robot.frame_names:
        raise ModelLoadError(f"{path}: tip frame {tip!r} is not a frame of {robot.name}")
    for attr, ref in (("q_min", robot.lower), ("q_max", robot.upper)):
        value = np.asarray(_attribute(module, attr, path).detach().cpu(), dtype=np.float64)
        if value.shape != ref.shape or np.abs(value - ref).max() > LIMIT_TOLERANCE:
            raise ModelLoadError(f"{path}: joint limits {attr} differ from the robot description")
    if torch.device(device).type == "cpu":
        # freeze (weights become constants) and fuse for inference: a single query on one CPU
        # thread is dominated by per-op overhead, which this cuts (benchmarks/bench_network.py)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.jit")
            module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
    return IKNetwork(
        module=module,
        path=path,
        joint_names=names,
        base_frame=base,
        tip_frame=tip,
        device=torch.device(device),
    )


__all__ = ["FORMAT_VERSION", "IKNetwork", "load_ik_network", "torch_archive_kind"]
