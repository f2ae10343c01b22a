"""The ament_python package itself: manifest, setup files, the source layout (subpackages, the
training symlink) and an installed (non-editable) build of it."""

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "dtd_ik"


def package_modules(top: Path) -> dict[str, set[str]]:
    """Each package under ``top`` (dotted name, symlinked folders followed) -> its module files."""
    found = {}
    for folder, _, files in os.walk(top, followlinks=True):
        if "__init__.py" in files:
            name = ".".join(Path(folder).relative_to(top.parent).parts)
            found[name] = {f for f in files if f.endswith(".py")}
    return found


def test_package_xml_is_format3_with_real_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "dtd_ik"
    deps = {e.text for e in root if e.tag.endswith("depend")}
    for dep in [
        "rclpy",
        "geometry_msgs",
        "sensor_msgs",
        "std_msgs",
        "moveit_msgs",
        "diagnostic_msgs",
        "launch_ros",
        "python3-numpy",
        "python3-yaml",
        "python3-torch",
    ]:
        assert dep in deps, dep
    assert root.find("export/build_type").text == "ament_python"
    assert "@" in root.find("maintainer").get("email")


def test_setup_cfg_puts_scripts_where_ros2_run_looks():
    text = (ROOT / "setup.cfg").read_text()
    assert "script_dir=$base/lib/dtd_ik" in text and "install_scripts=$base/lib/dtd_ik" in text
    assert (ROOT / "resource" / "dtd_ik").is_file()


def test_training_is_the_top_level_folder_seen_through_one_symlink():
    """training/ stays top-level and is importable as dtd_ik.training through the symlink
    dtd_ik/training -> ../training: one copy of the code, found without a package_dir mapping."""
    link = ROOT / PACKAGE / "training"
    assert link.is_symlink() and link.resolve() == ROOT / "training"
    packages = package_modules(ROOT / PACKAGE)
    for sub in [
        "robot",
        "kinematics",
        "solver",
        "solver.kernels",
        "ros",
        "training",
        "training.weighting",
    ]:
        assert f"{PACKAGE}.{sub}" in packages, sub
    setup_call = next(
        node
        for node in ast.walk(ast.parse((ROOT / "setup.py").read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"
    )
    assert "package_dir" not in {keyword.arg for keyword in setup_call.keywords}


def test_installed_build_has_every_subpackage_and_share_files(tmp_path):
    """A non-editable install (what colcon does) into a fresh prefix imports and finds its data."""
    prefix = tmp_path / "prefix"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--ignore-installed",
            "--prefix",
            str(prefix),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    site = next(prefix.glob("lib/python3*/site-packages"))
    # every package of the source tree with all its modules, as real folders (the training
    # symlink resolved into files, not pointing back into the source tree); extra files may come
    # from a stale build/ folder of an older layout, which setuptools does not clean
    installed = package_modules(site / PACKAGE)
    for name, modules in package_modules(ROOT / PACKAGE).items():
        assert modules <= installed.get(name, set()), name
    assert not (site / PACKAGE / "training").is_symlink()
    share = prefix / "share" / "dtd_ik"
    for rel in [
        "package.xml",
        "config/panda_robot.yaml",
        "config/panda_wrist_distance.npz",
        "urdf/panda.urdf",
    ]:
        assert (share / rel).is_file(), rel
    assert (prefix / "share/ament_index/resource_index/packages/dtd_ik").is_file()
    code = (
        "import dtd_ik.training, dtd_ik.paths as p, dtd_ik.kinematics.capsules as c;"
        "m = c.CapsuleModel(); print(dtd_ik.training.__file__); print(p.share_dir());"
        "print(m.kinematics.dof); print(m.maps[0][1].path)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    assert out[0].startswith(str(site)) and out[1] == str(share) and out[2] == "7"
    assert out[3] == str(share / "config/panda_wrist_distance.npz")
