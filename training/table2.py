"""The rows of the paper's Table II as ``evaluate`` reports them and the results report shows
them: (label, key of the evaluation summary, format)."""

from __future__ import annotations

#: Position and orientation error rows; the paper's position error is an RMS [mm].
ERROR_ROWS: tuple[tuple[str, str, str], ...] = (
    ("Pos. MSE (m^2)", "pos_mse_m2", "{:.6f}"),
    ("Pos. error RMS (mm)", "pos_rms_mm", "{:.2f}"),
    ("Pos. error mean (mm)", "pos_err_mm", "{:.2f}"),
    ("Ori. error (rad)", "ori_err_rad", "{:.4f}"),
    ("Ori. error (deg)", "ori_err_deg", "{:.2f}"),
)

__all__ = ["ERROR_ROWS"]
