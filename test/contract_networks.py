"""Networks scripted to the model-file contract (docs/model_format.md), shared by the loading,
solver and server tests (a support module, not a test file)."""

import torch
from torch import Tensor, nn


class MidRange(nn.Module):
    """Smallest module meeting the contract: the middle of the joint ranges [rad], any pose."""

    format_version: int
    joint_names: list[str]
    base_frame: str
    tip_frame: str

    def __init__(self, names, lower, upper, version=1, tip="panda_hand"):
        super().__init__()
        self.format_version = version
        self.joint_names = list(names)
        self.base_frame = "panda_link0"
        self.tip_frame = tip
        self.register_buffer("q_min", torch.as_tensor(lower, dtype=torch.float32))
        self.register_buffer("q_max", torch.as_tensor(upper, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        """(N, 7) poses -> (N, 7) joints [rad], the same row for every pose."""
        return (0.5 * (self.q_min + self.q_max)).expand(x.shape[0], -1)
