#!/usr/bin/env bash
# Build ROS interface packages with cmake and install them into a venv that holds the ROS 2
# Kilted wheels, so that `import moveit_msgs.srv` works from that venv with no extra environment
# variables. Without package folders: the in-repo ros_interfaces/ (object_recognition_msgs, then
# moveit_msgs). Called by scripts/setup_env.sh; a real ROS 2 install uses its distribution's
# packages instead (COLCON_IGNORE keeps colcon away from ros_interfaces/).
#
#   scripts/build_ros_interfaces.sh VENV [PACKAGE_DIR ...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(cd "${1:?usage: build_ros_interfaces.sh VENV}" && pwd)"
py="$venv/bin/python"  # always the venv's python: the ROS wheels' bootstrapper re-execs it
for tool in cmake make cc c++; do
  command -v "$tool" >/dev/null \
    || { echo "[ros] $tool not found: building moveit_msgs needs cmake, make and gcc/g++" \
              "(Debian: apt-get install cmake build-essential)" >&2; exit 1; }
done

# The wheels' exported CMake files name the wheel build host's Python and numpy include folders;
# point them at this interpreter's (CMake's generate step fails on the missing folders otherwise).
py_include="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_include="$("$py" -c 'import numpy; print(numpy.get_include())')"
mapfile -t stale < <(grep -rl --include='*.cmake' '/opt/python/cp311-cp311/' "$venv/share" || true)
if (( ${#stale[@]} )); then
  echo "[ros] pointing ${#stale[@]} exported CMake files at $py_include and numpy's headers"
  sed -i -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" \
         -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" \
         "${stale[@]}"
fi

jobs="$(nproc 2>/dev/null || echo 2)"
sources=("${@:2}")
(( ${#sources[@]} )) || sources=("$root/ros_interfaces/object_recognition_msgs" "$root/ros_interfaces/moveit_msgs")
for src in "${sources[@]}"; do
  src="$(cd "$src" && pwd)"
  pkg="$(basename "$src")"
  build="$venv/build/ros_interfaces/$pkg"
  echo "[ros] building $pkg into $venv"
  rm -rf "$build"
  mkdir -p "$build"
  AMENT_PREFIX_PATH="$venv" cmake -S "$src" -B "$build" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$venv" \
    -DCMAKE_INSTALL_PREFIX="$venv" \
    -DPython3_EXECUTABLE="$py" \
    -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 \
    || { tail -n 40 "$build/configure.log" >&2; echo "[ros] cmake configure of $pkg failed" >&2; exit 1; }
  AMENT_PREFIX_PATH="$venv" cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 \
    || { tail -n 40 "$build/build.log" >&2; echo "[ros] build of $pkg failed" >&2; exit 1; }
  cmake --install "$build" >"$build/install.log" 2>&1 \
    || { tail -n 40 "$build/install.log" >&2; echo "[ros] install of $pkg failed" >&2; exit 1; }
done
for src in "${sources[@]}"; do
  pkg="$(basename "$src")"
  "$py" -c "import importlib; importlib.import_module('$pkg')" \
    || { echo "[ros] $pkg was built but does not import from $py" >&2; exit 1; }
  echo "[ros] $pkg installed into $venv"
done
