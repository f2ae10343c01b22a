"""The package the way a ROS user meets it: ros2 launch, ros2 run, launch_testing, colcon.

launch, launch_ros, launch_testing, ros2cli are not on PyPI; scripts/setup_env.sh --dev installs
them where this workplace keeps their wheels (../shared/ros2-cli). Each test skips, saying why,
when its tool is missing; colcon comes from PyPI with the dev requirements.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LAUNCH_TEST = ROOT / "test" / "launch" / "ik_server_launch.py"
#: ros2 launch of a server that fails at start: seconds until it must have ended.
FAILED_START_LIMIT = 120.0  # [s]

pytestmark = pytest.mark.ros


def need(tool: str) -> Path:
    path = BIN / tool
    if not path.exists():
        pytest.skip(
            f"{tool} is not installed in this venv (ROS 2 CLI tools: not on PyPI; "
            "scripts/setup_env.sh --dev installs them from ../shared/ros2-cli)"
        )
    return path


def user_env(**extra: str) -> dict:
    """The environment of a user's shell: no AMENT_PREFIX_PATH of ours, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "AMENT_PREFIX_PATH"}
    env.update(extra)
    return env


def test_the_venv_is_an_ament_prefix_for_ros2_run(tmp_path):
    ros2 = need("ros2")
    run = dict(capture_output=True, text=True, timeout=120, cwd=tmp_path, env=user_env())
    prefix = subprocess.run([str(ros2), "pkg", "prefix", "dtd_ik"], **run)
    assert prefix.returncode == 0, prefix.stderr
    assert Path(prefix.stdout.strip()).resolve() == Path(sys.prefix).resolve()
    executables = subprocess.run([str(ros2), "pkg", "executables", "dtd_ik"], **run).stdout
    for exe in ("ik_server", "ik_client", "train", "evaluate"):
        assert f"dtd_ik {exe}" in executables
    train = subprocess.run([str(ros2), "run", "dtd_ik", "train", "--help"], **run)
    assert train.returncode == 0 and "--config" in train.stdout, train.stderr


def test_ros2_launch_ends_with_code_1_when_the_server_fails(tmp_path):
    ros2 = need("ros2")
    proc = subprocess.run(
        [
            str(ros2),
            "launch",
            "dtd_ik",
            "ik_server.launch.py",
            f"model_path:={tmp_path / 'missing.pt'}",
            f"namespace:=fail_{os.getpid()}",
        ],
        capture_output=True,
        text=True,
        timeout=FAILED_START_LIMIT,
        cwd=tmp_path,
        env=user_env(),
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "model file not found" in out and "exited with code 1" in out


@pytest.mark.slow
def test_launch_file_under_launch_testing_serves_ik_and_stops_cleanly(tmp_path):
    if importlib.util.find_spec("launch_testing") is None:
        pytest.skip("launch_testing is not installed (not on PyPI; ../shared/ros2-cli has it)")
    code = "import sys; from launch_testing.launch_test import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(LAUNCH_TEST)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env=user_env(),
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "test_compute_ik_answers_a_reachable_goal" in out and "FAILED" not in out
    assert "test_server_exits_cleanly_on_sigint" in out


def workspace_copy(tmp_path: Path) -> Path:
    """A colcon workspace holding the package's tracked files (symlinks kept as symlinks)."""
    src = tmp_path / "src" / "dtd_ik"
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, files):
        source, target = ROOT / rel, src / rel
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return tmp_path


def colcon(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "colcon"), *args],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=900,
        env=user_env(AMENT_PREFIX_PATH=sys.prefix),
    )


@pytest.mark.slow
@pytest.mark.parametrize("symlink", [False, True], ids=["copy", "symlink-install"])
def test_colcon_build_installs_an_importable_package_with_its_share_files(tmp_path, symlink):
    need("colcon")
    ws = workspace_copy(tmp_path)
    build = colcon(ws, "build", *(["--symlink-install"] if symlink else []))
    assert build.returncode == 0, build.stdout + build.stderr
    prefix = ws / "install" / "dtd_ik"
    for rel in (
        "share/dtd_ik/package.xml",
        "share/dtd_ik/launch/ik_server.launch.py",
        "share/dtd_ik/config/ik_server.yaml",
        "share/dtd_ik/urdf/panda.urdf",
        "share/ament_index/resource_index/packages/dtd_ik",
        "lib/dtd_ik/ik_server",
        "lib/dtd_ik/train",
    ):
        assert (prefix / rel).exists(), rel
    probe = (
        "import dtd_ik.training, dtd_ik.paths as p; print(dtd_ik.training.__file__); "
        "print(p.share_dir())"
    )
    shell = f"source {ws}/install/setup.bash && {sys.executable} -c '{probe}'"
    out = subprocess.run(
        ["bash", "-c", shell],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=user_env(),
    )
    assert out.returncode == 0, out.stderr
    training_file, share = out.stdout.split()
    assert Path(training_file).name == "__init__.py" and "training" in training_file
    if symlink:  # development install: the sources and their data in the workspace
        assert Path(share) == ws / "src" / "dtd_ik"
    else:
        assert Path(share) == prefix / "share" / "dtd_ik"


@pytest.mark.slow
def test_colcon_test_runs_the_suite_and_fails_when_a_test_fails(tmp_path):
    need("colcon")
    ws = workspace_copy(tmp_path)
    assert colcon(ws, "build", "--symlink-install").returncode == 0
    passing = colcon(ws, "test", "--pytest-args", "-q", "test/test_rotations.py")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    result = colcon(ws, "test-result", "--verbose")
    assert result.returncode == 0 and " 0 errors, 0 failures" in result.stdout, result.stdout
    (ws / "src" / "dtd_ik" / "test" / "test_must_fail.py").write_text(
        "def test_fails():\n    assert 1 == 2\n"
    )
    colcon(ws, "test", "--pytest-args", "-q", "test/test_must_fail.py")
    failing = colcon(ws, "test-result")
    assert failing.returncode != 0 and "1 failure" in failing.stdout, failing.stdout
