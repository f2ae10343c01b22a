"""The IK network: a residual MLP from goal poses to joint angles that never leave their limits.

Input x = [p (3) [m], quaternion x-y-z-w (4)]; the module normalises the quaternion, puts it in the
w >= 0 hemisphere and standardises the 7 inputs with constants fixed at construction. The output
passes a bounded activation (sigmoid or tanh) scaled linearly to [q_min, q_max] (the paper's
joint-limit parameterisation, so no limit penalty is needed). The module is TorchScript-ready and
carries the attributes docs/model_format.md asks for.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dtd_ik.kinematics.rotations import (
    canonical_hemisphere,
    quaternion_matrix_basis,
    quaternion_to_matrix,
)
from dtd_ik.solver.network import FORMAT_VERSION  # the file format the runtime reads

OUTPUT_ACTIVATIONS = ("sigmoid", "tanh")
#: What the first layer sees of the goal orientation. "quaternion": the standardised unit
#: quaternion in the w >= 0 hemisphere (the paper's input; it jumps where w changes sign).
#: "rotation_matrix": the 9 entries of R (already in [-1, 1]), continuous in the pose.
INPUT_FEATURES = {"quaternion": 7, "rotation_matrix": 12}
HIDDEN_ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class NetworkSpec:
    """Architecture: ``hidden`` units, ``blocks`` residual blocks, activations by name."""

    hidden: int = 1024
    blocks: int = 5
    activation: str = "sigmoid"  # bounded output activation: sigmoid | tanh
    hidden_activation: str = "silu"
    input_features: str = "quaternion"  # quaternion | rotation_matrix (see IKNet)


class ResidualBlock(nn.Module):
    """h + W2 act(W1 act(h)); W2 starts at zero so every block starts as the identity."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        self.act = HIDDEN_ACTIVATIONS[activation]()
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.fc2(self.act(self.fc1(self.act(h))))


class IKNet(nn.Module):
    """(N, 7) poses [p [m], q_xyzw] -> (N, 7) joint angles [rad] inside [q_min, q_max]."""

    __jit_unused_properties__ = ["last_shared_layer"]
    format_version: int
    joint_names: list[str]
    base_frame: str
    tip_frame: str
    output_activation: str
    input_features: str

    def __init__(
        self,
        spec: NetworkSpec,
        q_min: Tensor,
        q_max: Tensor,
        input_mean: Tensor,
        input_std: Tensor,
        joint_names: list[str],
        base_frame: str,
        tip_frame: str,
    ):
        super().__init__()
        if spec.activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {OUTPUT_ACTIVATIONS}, got {spec.activation!r}"
            )
        if spec.hidden_activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(
                f"hidden_activation must be one of {sorted(HIDDEN_ACTIVATIONS)}, "
                f"got {spec.hidden_activation!r}"
            )
        self.format_version = FORMAT_VERSION
        self.joint_names = list(joint_names)
        self.base_frame = base_frame
        self.tip_frame = tip_frame
        if spec.input_features not in INPUT_FEATURES:
            raise ValueError(
                f"input_features must be one of {sorted(INPUT_FEATURES)}, "
                f"got {spec.input_features!r}"
            )
        self.output_activation = spec.activation
        self.input_features = spec.input_features
        f32 = dict(dtype=torch.float32)
        self.register_buffer("q_min", torch.as_tensor(q_min, **f32).clone())  # (7,) [rad]
        self.register_buffer("q_max", torch.as_tensor(q_max, **f32).clone())  # (7,) [rad]
        self.register_buffer("input_mean", torch.as_tensor(input_mean, **f32).clone())  # (7,)
        self.register_buffer("input_std", torch.as_tensor(input_std, **f32).clone())  # (7,)
        # a constant, not a weight: kept out of state_dict, so checkpoints do not change
        self.register_buffer(
            "rotation_basis", quaternion_matrix_basis(torch.empty(0)).clone(), persistent=False
        )  # (16, 9)
        self.stem = nn.Linear(INPUT_FEATURES[spec.input_features], spec.hidden)
        self.blocks = nn.Sequential(
            *[ResidualBlock(spec.hidden, spec.hidden_activation) for _ in range(spec.blocks)]
        )
        self.head_act = HIDDEN_ACTIVATIONS[spec.hidden_activation]()
        self.head = nn.Linear(spec.hidden, len(self.joint_names))

    def normalise_input(self, x: Tensor) -> Tensor:
        """(N, 7) raw poses -> (N, F) features: standardised [p, unit quaternion with w >= 0]
        (F = 7), or standardised p and the row-major rotation matrix (F = 12)."""
        if self.input_features == "rotation_matrix":  # R(q) = R(-q) for any norm: neither
            p = (x[:, 0:3] - self.input_mean[0:3]) / self.input_std[0:3]  # normalised nor flipped
            R = quaternion_to_matrix(x[:, 3:7], self.rotation_basis)
            return torch.cat([p, R.reshape(-1, 9)], dim=-1)
        quat = x[:, 3:7]
        quat = quat / torch.linalg.vector_norm(quat, dim=-1, keepdim=True).clamp_min(1e-12)
        quat = canonical_hemisphere(quat)
        return (torch.cat([x[:, 0:3], quat], dim=-1) - self.input_mean) / self.input_std

    def forward(self, x: Tensor) -> Tensor:
        z = self.head(self.head_act(self.blocks(self.stem(self.normalise_input(x)))))
        if self.output_activation == "tanh":
            unit = 0.5 * (torch.tanh(z) + 1.0)
        else:
            unit = torch.sigmoid(z)
        q = self.q_min + (self.q_max - self.q_min) * unit
        # float32 rounding can put q_min + span * 1.0 one ulp beyond q_max: clamp that ulp
        return torch.maximum(torch.minimum(q, self.q_max), self.q_min)

    @property
    def last_shared_layer(self) -> Tensor:
        """Weight of the last layer shared by every task (GradNorm measures gradients there)."""
        if len(self.blocks) > 0:
            return self.blocks[-1].fc1.weight
        return self.stem.weight


__all__ = [
    "HIDDEN_ACTIVATIONS",
    "INPUT_FEATURES",
    "OUTPUT_ACTIVATIONS",
    "IKNet",
    "NetworkSpec",
    "ResidualBlock",
]
