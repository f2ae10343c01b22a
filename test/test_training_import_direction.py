"""One-way imports: the training pipeline imports the runtime, never the other way round.

Every runtime module under ``dtd_ik/`` (the ROS layer only where rclpy is installed) is imported in
a fresh interpreter, which must then hold no ``dtd_ik.training`` module.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dtd_ik"
TRAINING = "dtd_ik.training"
#: Imports the modules named on its command line, then prints every training module loaded.
PROBE = (
    "import importlib, sys\n"
    "for name in sys.argv[1:]:\n"
    "    importlib.import_module(name)\n"
    f"print('\\n'.join(sorted(m for m in sys.modules if m.startswith({TRAINING!r}))))\n"
)


def runtime_modules() -> list[str]:
    """The dotted names of the modules under dtd_ik/, the training symlink left out, and the
    ROS layer too without rclpy."""
    skip = {"training"} | (set() if importlib.util.find_spec("rclpy") else {"ros"})
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in skip:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.append(".".join(("dtd_ik", *parts)))
    return names


def test_no_runtime_module_imports_the_training_pipeline():
    modules = runtime_modules()
    for layer in ("dtd_ik", "dtd_ik.robot", "dtd_ik.kinematics", "dtd_ik.solver"):
        assert layer in modules
    assert any(m.startswith("dtd_ik.solver.kernels.") for m in modules)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [], f"the runtime imported {proc.stdout.split()}"
