"""package.xml is complete and honest: every third-party import of the package is declared.

The runtime (dtd_ik/, training/, launch/) must name each import as an exec_depend, the test suite
(test/) as an exec_depend or test_depend, with the rosdep key a ROS user installs; and nothing is
declared that no code imports (or uses as a tool, listed below with the reason).
"""

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Python module -> rosdep key, for modules whose key is not the module's own name (ROS packages
#: are their own key). Keys from ros/rosdistro rosdep/python.yaml.
ROSDEP_KEYS = {
    "numpy": "python3-numpy",
    "yaml": "python3-yaml",
    "torch": "python3-torch",
    "numba": "python3-numba",
    "llvmlite": "python3-numba",  # numba's code generator, installed with it
    "tqdm": "python3-tqdm",
    "matplotlib": "python3-matplotlib",
    "tensorboard": "python3-tensorboard-pip",
    "scipy": "python3-scipy",
    "pybullet": "python3-pybullet-pip",
    "pybullet_data": "python3-pybullet-pip",  # ships with pybullet
    "pytest": "python3-pytest",
    "fcl": "python-fcl-pip",  # python-fcl on PyPI
}
#: Declared dependencies that no Python file imports, and why they are needed.
TOOL_DEPENDS = {"ros2launch": "the `ros2 launch` verb that runs launch/ik_server.launch.py"}


def imported_modules(paths: list[Path]) -> set[str]:
    """Top-level names of the absolute imports in ``paths`` (stdlib and local modules left out)."""
    local = {p.stem for p in paths} | {"dtd_ik", "conftest"}
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [node.module]
            else:
                continue
            for name in found:
                if name.startswith("torch.utils.tensorboard"):
                    names.add("tensorboard")  # torch's writer needs the tensorboard package
                names.add(name.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def python_files(*folders: str) -> list[Path]:
    return [
        p
        for folder in folders
        for p in sorted((ROOT / folder).rglob("*.py"))
        if "__pycache__" not in p.parts
    ]


def declared(tag: str) -> set[str]:
    root = ET.parse(ROOT / "package.xml").getroot()
    return {e.text.strip() for e in root if e.tag in (tag, "depend")}


def keys(modules: set[str]) -> set[str]:
    return {ROSDEP_KEYS.get(m, m) for m in modules}


def test_every_runtime_import_is_an_exec_depend():
    runtime = keys(imported_modules(python_files("dtd_ik", "training", "launch")))
    missing = runtime - declared("exec_depend")
    assert not missing, f"imported by the package but not exec_depend in package.xml: {missing}"


def test_every_test_import_is_declared():
    tests = keys(imported_modules(python_files("test")))
    missing = tests - declared("exec_depend") - declared("test_depend")
    assert not missing, f"imported by test/ but not declared in package.xml: {missing}"


def test_nothing_is_declared_that_nothing_uses():
    used = keys(imported_modules(python_files("dtd_ik", "training", "launch", "test")))
    stale = (declared("exec_depend") | declared("test_depend")) - used - set(TOOL_DEPENDS)
    assert not stale, f"declared in package.xml but imported nowhere: {stale}"


def test_the_import_scan_sees_known_imports():
    """The scan itself: it must find what we know is there, or the tests above prove nothing."""
    runtime = imported_modules(python_files("dtd_ik", "training", "launch"))
    assert {"rclpy", "torch", "numba", "moveit_msgs", "launch_ros", "tensorboard"} <= runtime
    assert "dtd_ik" not in runtime and "os" not in runtime
