#!/usr/bin/env bash
# Create or update the project venv at .venv. Idempotent: a second run with unchanged
# requirement files only checks a stamp and returns in well under a second.
#
#   scripts/setup_env.sh          runtime (torch, numpy, PyYAML, dtd_ik in development mode, the
#                                 venv made an ament prefix for dtd_ik: scripts/ament_prefix.sh)
#                                 + ROS 2 (rclpy, messages, moveit_msgs built from ros_interfaces/)
#   scripts/setup_env.sh --dev    runtime + test/benchmark references (pytest, pybullet, pytracik,
#                                 colcon, ...) + where ../shared/ros2-cli exists (this workplace's
#                                 wheels of launch, launch_ros, launch_testing, ros2cli, which are
#                                 not on PyPI) those tools, so tests can run ros2 launch / ros2 run
#
# Environment: PYTHON (interpreter to build the venv from, default python3.11 or python3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
dev=0
[[ "${1:-}" == "--dev" ]] && dev=1

python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [[ ! -x "$venv/bin/python" ]]; then
  echo "[setup] creating $venv with $python"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade "pip>=24" "setuptools>=69" wheel
fi
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$root/constraints.txt")

stamp_of() {  # hash of the files that decide what a stage installs
  cat "$@" | sha256sum | cut -c1-16
}

# Stage 1: runtime + dtd_ik itself (editable).
runtime_files=("$root/requirements.txt" "$root/constraints.txt" "$root/setup.py" "$root/setup.cfg"
               "$root/scripts/ament_prefix.sh" "$root"/launch/*.launch.py)
runtime_stamp="$venv/.dtd_ik-runtime-$(stamp_of "${runtime_files[@]}")"
if [[ ! -f "$runtime_stamp" ]]; then
  echo "[setup] installing runtime requirements"
  "${pip[@]}" -r "$root/requirements.txt"
  "${pip[@]}" --no-build-isolation -e "$root"
  "$root/scripts/ament_prefix.sh" "$venv"
  rm -f "$venv"/.dtd_ik-runtime-*
  touch "$runtime_stamp"
fi

# Stage 2: ROS 2 Kilted from PyPI wheels (rclpy, Fast DDS, messages) and moveit_msgs /
# object_recognition_msgs built from ros_interfaces/ into the venv prefix (about a minute).
ros_files=("$root/requirements-ros.txt" "$root/constraints.txt" "$root/scripts/build_ros_interfaces.sh")
mapfile -t -O "${#ros_files[@]}" ros_files < <(find "$root/ros_interfaces" -type f | LC_ALL=C sort)
# the built messages compile against numpy's headers: a numpy upgrade rebuilds them
numpy_dist="$(cd "$venv" && ls -d lib/python3*/site-packages/numpy-*.dist-info 2>/dev/null || true)"
ros_stamp="$venv/.dtd_ik-ros-$( (stamp_of "${ros_files[@]}"; echo "$numpy_dist") | sha256sum | cut -c1-16)"
if [[ ! -f "$ros_stamp" ]]; then
  echo "[setup] installing ROS 2 wheels and building moveit_msgs"
  "${pip[@]}" -r "$root/requirements-ros.txt"
  "$root/scripts/build_ros_interfaces.sh" "$venv"
  rm -f "$venv"/.dtd_ik-ros-*
  touch "$ros_stamp"
fi

# Stage 3: test and benchmark references.
if (( dev )); then
  dev_stamp="$venv/.dtd_ik-dev-$(stamp_of "$root/requirements-dev.txt" "$root/constraints.txt")"
  if [[ ! -f "$dev_stamp" ]]; then
    echo "[setup] installing test/benchmark requirements"
    "${pip[@]}" -r "$root/requirements-dev.txt"
    rm -f "$venv"/.dtd_ik-dev-*
    touch "$dev_stamp"
  fi
  # launch, launch_ros, launch_testing and ros2cli are not on PyPI: where this workplace holds
  # their upstream wheels, install them and build composition_interfaces (launch_ros imports it);
  # the tests that need them skip without.
  ros2_cli="$root/../shared/ros2-cli"
  if [[ -d "$ros2_cli/wheels" ]]; then
    cli_stamp="$venv/.dtd_ik-ros2cli-$( (ls -l "$ros2_cli/wheels"; stamp_of "$root/scripts/build_ros_interfaces.sh") | sha256sum | cut -c1-16)"
    if [[ ! -f "$cli_stamp" ]]; then
      echo "[setup] installing ROS 2 command-line and launch tools from $ros2_cli"
      "${pip[@]}" --no-deps "$ros2_cli"/wheels/*.whl
      "${pip[@]}" osrf-pycommon psutil argcomplete  # their dependencies on PyPI
      "$root/scripts/build_ros_interfaces.sh" "$venv" "$ros2_cli/src/composition_interfaces"
      rm -f "$venv"/.dtd_ik-ros2cli-*
      touch "$cli_stamp"
    fi
  fi
fi
echo "[setup] venv ready: $venv"
