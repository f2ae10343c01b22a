"""Batched, differentiable forward kinematics and the analytic geometric Jacobian in torch.

Joint i moves its child frame by ``T_i(q_i) = origin_i * Rot(axis_i, q_i)``. With Rodrigues'
formula ``Rot = I + sin(q) K + (1 - cos q) K^2`` every local transform is the affine combination
``M0 + sin(q) M1 + (1 - cos q) M2`` of three constant 4x4 matrices, so FK of all joints costs a few
elementwise ops and n - 1 small matrix products, whatever the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from torch import Tensor

from dtd_ik.exceptions import InvalidInputError
from dtd_ik.kinematics.rotations import matrix_to_quaternion
from dtd_ik.robot.model import RobotModel, load_robot_model
from dtd_ik.robot.spatial import rodrigues_constants


@dataclass(frozen=True)
class Pose:
    """Batched poses in the base frame: ``position`` (..., 3) [m], ``rotation`` (..., 3, 3)."""

    position: Tensor
    rotation: Tensor

    @cached_property
    def quaternion(self) -> Tensor:
        """(..., 4) x-y-z-w, w >= 0."""
        return matrix_to_quaternion(self.rotation)


@dataclass(frozen=True)
class _Constants:
    M0: Tensor  # (n, 4, 4) joint origins
    M1: Tensor  # (n, 4, 4) origin @ K, zero-padded
    M2: Tensor  # (n, 4, 4) origin @ K^2, zero-padded
    axes: Tensor  # (n, 3)
    eye: Tensor  # (4, 4)
    offsets: dict[str, tuple[int, Tensor]]  # frame -> (chain index, (4, 4) offset)
    lower: Tensor  # (n,)
    upper: Tensor  # (n,)


class Kinematics:
    """FK and Jacobians of a :class:`RobotModel` chain for joint tensors of any batch shape.

    Constants are built once per (dtype, device) and follow the input's dtype and device, so the
    same object serves float32 training on CUDA and float64 refinement on the CPU.
    """

    def __init__(self, model: RobotModel | None = None):
        self.model = model if model is not None else load_robot_model()
        m = self.model
        M0, M1, M2 = rodrigues_constants(m.joint_origins, m.joint_axes)
        self._numpy = dict(
            M0=M0, M1=M1, M2=M2, axes=m.joint_axes, eye=np.eye(4), lower=m.lower, upper=m.upper
        )
        self._cache: dict[tuple[torch.dtype, torch.device], _Constants] = {}
        self._frame_cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    @property
    def dof(self) -> int:
        return self.model.dof

    def limits(self, dtype: torch.dtype = torch.float64, device="cpu") -> tuple[Tensor, Tensor]:
        """(lower, upper), each (n,) [rad]."""
        c = self._constants(dtype, torch.device(device))
        return c.lower, c.upper

    def local_transform_terms(self) -> dict[str, np.ndarray]:
        """FK's constants as float64 arrays (copies): ``M0``, ``M1``, ``M2``, each (n, 4, 4), with
        joint i's local transform ``T_i(q_i) = M0[i] + sin(q_i) M1[i] + (1 - cos q_i) M2[i]``,
        and ``axes`` (n, 3), each joint's unit axis in its own frame
        (:func:`dtd_ik.robot.spatial.rodrigues_constants`, which the compiled kernels use too)."""
        return {k: self._numpy[k].copy() for k in ("M0", "M1", "M2", "axes")}

    def _constants(self, dtype: torch.dtype, device: torch.device) -> _Constants:
        key = (dtype, device)
        if key not in self._cache:
            t = {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in self._numpy.items()}
            offsets = {}
            for name in self.model.frame_names:
                index, offset = self.model.frame(name)
                offsets[name] = (index, torch.as_tensor(offset, dtype=dtype, device=device))
            self._cache[key] = _Constants(offsets=offsets, **t)
        return self._cache[key]

    def check_joints(self, q, finite: bool = True) -> Tensor:
        """Validate (..., n) joint angles [rad]; returns a floating tensor or raises ValueError.
        ``finite=False`` leaves out the NaN/inf check (a device synchronisation on a GPU)."""
        if not isinstance(q, Tensor):
            try:
                q = torch.as_tensor(np.asarray(q, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"joint angles must be numeric, got {type(q).__name__}"
                ) from exc
        if not q.is_floating_point():
            q = q.to(torch.float64)
        if q.ndim == 0 or q.shape[-1] != self.dof:
            raise InvalidInputError(
                f"joint angles must have shape (..., {self.dof}), got {tuple(q.shape)}"
            )
        if finite and not bool(torch.isfinite(q).all()):
            raise InvalidInputError("joint angles contain NaN or inf")
        return q

    def chain_transforms(self, q: Tensor, validate: bool = True) -> Tensor:
        """(..., n) joint angles [rad] -> (..., n + 1, 4, 4) base->link transforms of the chain.

        Index 0 is the base frame (identity), index i the child link of joint i. Callers that
        need several frames of one configuration (a pose and the capsules) build the chain once
        and pass it on (:meth:`frame_pose`, :meth:`CapsuleModel.distance`). ``validate=False``:
        no NaN/inf check (see :meth:`forward`).
        """
        q = self.check_joints(q, validate)
        return self._chain(q.reshape(-1, self.dof)).reshape(q.shape[:-1] + (self.dof + 1, 4, 4))

    def frame_pose(self, chain: Tensor, frame: str | None = None) -> Pose:
        """:class:`Pose` of ``frame`` (default: the group tip) from (..., n + 1, 4, 4)
        :meth:`chain_transforms`; the same as :meth:`forward` of the chain's joints."""
        flat = chain.reshape((-1,) + chain.shape[-3:])
        T = self._tip(flat, frame or self.model.tip_frame, flat)
        T = T.reshape(chain.shape[:-3] + (4, 4))
        return Pose(T[..., :3, 3], T[..., :3, :3])

    def _chain(self, q: Tensor) -> Tensor:
        """(B, n) -> (B, n + 1, 4, 4), no validation."""
        c = self._constants(q.dtype, q.device)
        sin, one_minus_cos = torch.sin(q)[..., None, None], (1 - torch.cos(q))[..., None, None]
        local = (c.M0 + sin * c.M1 + one_minus_cos * c.M2).unbind(1)  # n x (B, 4, 4)
        frames = [c.eye.expand_as(local[0]), local[0]]
        for A in local[1:]:
            frames.append(frames[-1] @ A)
        return torch.stack(frames, dim=1)

    def frame_transforms(self, q: Tensor, frames: list[str] | tuple[str, ...]) -> Tensor:
        """(..., n) -> (..., F, 4, 4) base->frame transforms of the named frames."""
        q = self.check_joints(q)
        chain = self._chain(q.reshape(-1, self.dof))
        out = self._frames(chain, frames, q.dtype, q.device)
        return out.reshape(q.shape[:-1] + out.shape[1:])

    def _frames(self, chain: Tensor, frames, dtype, device) -> Tensor:
        key = (tuple(frames), dtype, device)
        if key not in self._frame_cache:
            c = self._constants(dtype, device)
            for name in frames:
                if name not in c.offsets:
                    self.model.frame(name)  # raises UnknownFrameError naming the known frames
            index = torch.tensor([c.offsets[name][0] for name in frames], device=device)
            offset = torch.stack([c.offsets[name][1] for name in frames])  # (F, 4, 4)
            self._frame_cache[key] = (index, offset)
        index, offset = self._frame_cache[key]
        return chain[:, index] @ offset

    def forward(self, q: Tensor, tip: str | None = None, validate: bool = True) -> Pose:
        """(..., n) joint angles [rad] -> :class:`Pose` of frame ``tip`` (default: the group tip).

        ``validate=False`` skips the NaN/inf check for trusted tensors (the training loop's own):
        on a GPU that check waits for the device every call.
        """
        q = self.check_joints(q, validate)
        T = self._tip(self._chain(q.reshape(-1, self.dof)), tip or self.model.tip_frame, q)
        T = T.reshape(q.shape[:-1] + (4, 4))
        return Pose(T[..., :3, 3], T[..., :3, :3])

    def _tip(self, chain: Tensor, tip: str, q: Tensor) -> Tensor:
        c = self._constants(q.dtype, q.device)
        if tip not in c.offsets:
            self.model.frame(tip)  # raises UnknownFrameError naming the known frames
        index, offset = c.offsets[tip]
        return chain[:, index] @ offset

    def forward_and_jacobian(self, q: Tensor, tip: str | None = None) -> tuple[Pose, Tensor]:
        """Pose of ``tip`` and its geometric Jacobian (..., 6, n) in the base frame.

        Rows 0-2: linear velocity of the tip origin [m/rad]; rows 3-5: angular velocity [1].
        Column i = [a_i x (p_tip - p_i); a_i] with a_i joint i's axis and p_i its origin.
        """
        q = self.check_joints(q)
        flat = q.reshape(-1, self.dof)
        chain = self._chain(flat)
        T = self._tip(chain, tip or self.model.tip_frame, flat)
        c = self._constants(q.dtype, q.device)
        joint_frames = chain[:, 1:]  # (B, n, 4, 4): joint i's child frame holds its axis
        axes = (joint_frames[..., :3, :3] @ c.axes[:, :, None])[..., 0]  # (B, n, 3)
        lever = T[:, None, :3, 3] - joint_frames[..., :3, 3]
        J = torch.cat([torch.linalg.cross(axes, lever, dim=-1), axes], dim=-1).transpose(1, 2)
        batch = q.shape[:-1]
        return (
            Pose(T[:, :3, 3].reshape(batch + (3,)), T[:, :3, :3].reshape(batch + (3, 3))),
            J.reshape(batch + (6, self.dof)),
        )

    def jacobian(self, q: Tensor, tip: str | None = None) -> Tensor:
        """(..., n) -> (..., 6, n) geometric Jacobian of ``tip``; see
        :meth:`forward_and_jacobian`."""
        return self.forward_and_jacobian(q, tip)[1]
