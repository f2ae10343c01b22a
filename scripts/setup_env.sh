#!/usr/bin/env bash
# Create or update the project venv at .venv. Idempotent: a second run with unchanged
# requirement files only checks a stamp and returns in well under a second.
#
#   scripts/setup_env.sh          runtime (torch, numpy, PyYAML, dtd_ik in development mode)
#                                 + ROS 2 (rclpy, messages, moveit_msgs built from ros_interfaces/)
#   scripts/setup_env.sh --dev    runtime + test/benchmark references (pytest, pybullet, pytracik, ...)
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
runtime_files=("$root/requirements.txt" "$root/constraints.txt" "$root/setup.py" "$root/setup.cfg")
runtime_stamp="$venv/.dtd_ik-runtime-$(stamp_of "${runtime_files[@]}")"
if [[ ! -f "$runtime_stamp" ]]; then
  echo "[setup] installing runtime requirements"
  "${pip[@]}" -r "$root/requirements.txt"
  "${pip[@]}" --no-build-isolation -e "$root"
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
fi
echo "[setup] venv ready: $venv"
