"""The ament_python package itself: manifest, setup files, an installed (non-editable) build."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_package_xml_is_format3_with_real_dependencies():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "dtd_ik"
    deps = {e.text for e in root if e.tag.endswith("depend")}
    for dep in ["rclpy", "geometry_msgs", "sensor_msgs", "std_msgs", "moveit_msgs",
                "diagnostic_msgs", "launch_ros", "python3-numpy", "python3-yaml", "python3-torch"]:
        assert dep in deps, dep
    assert root.find("export/build_type").text == "ament_python"
    assert "@" in root.find("maintainer").get("email")


def test_setup_cfg_puts_scripts_where_ros2_run_looks():
    text = (ROOT / "setup.cfg").read_text()
    assert "script_dir=$base/lib/dtd_ik" in text and "install_scripts=$base/lib/dtd_ik" in text
    assert (ROOT / "resource" / "dtd_ik").is_file()


def test_installed_build_has_training_subpackage_and_share_files(tmp_path):
    """A non-editable install (what colcon does) into a fresh prefix imports and finds its data."""
    prefix = tmp_path / "prefix"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--ignore-installed", "--prefix", str(prefix),
                    str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    site = next(prefix.glob("lib/python3*/site-packages"))
    share = prefix / "share" / "dtd_ik"
    for rel in ["package.xml", "config/panda_robot.yaml", "config/panda_wrist_distance.npz",
                "urdf/panda.urdf"]:
        assert (share / rel).is_file(), rel
    assert (prefix / "share/ament_index/resource_index/packages/dtd_ik").is_file()
    code = ("import dtd_ik.training, dtd_ik.paths as p, dtd_ik.kinematics.capsules as c;"
            "m = c.CapsuleModel(); print(dtd_ik.training.__file__); print(p.share_dir());"
            "print(m.kinematics.dof); print(m.maps[0][1].path)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout.split()
    assert out[0].startswith(str(site)) and out[1] == str(share) and out[2] == "7"
    assert out[3] == str(share / "config/panda_wrist_distance.npz")
