#!/usr/bin/env bash
# Make a venv that holds dtd_ik in development mode (pip install -e) an ament prefix for dtd_ik,
# as `colcon build --symlink-install` would: `ros2 run dtd_ik ik_server` and
# `ros2 launch dtd_ik ik_server.launch.py` then work against the venv, and edits in the checkout
# take effect without a rebuild.
#   <venv>/share/ament_index/resource_index/packages/dtd_ik   the index marker
#   <venv>/share/dtd_ik/{package.xml,config,launch,models,urdf} links into the checkout
#   <venv>/lib/dtd_ik/<executable>                              links to the venv's console scripts
#   <venv>/lib/python3.X/site-packages/dtd_ik_ament_prefix.pth  adds the venv to AMENT_PREFIX_PATH
#                                                               (the ROS wheels set only the
#                                                               library path)
# Called by scripts/setup_env.sh.
#
#   scripts/ament_prefix.sh VENV
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(cd "${1:?usage: ament_prefix.sh VENV}" && pwd)"
package=dtd_ik

index="$venv/share/ament_index/resource_index/packages"
mkdir -p "$index" "$venv/share/$package" "$venv/lib/$package"
cp "$root/resource/$package" "$index/$package"
for item in package.xml config models urdf; do
  link="$venv/share/$package/$item"
  [[ -L "$link" || ! -e "$link" ]] || rm -rf "$link"  # a copy left by a non-editable install
  ln -sfn "$root/$item" "$link"
done
# launch files one by one: `ros2 launch` searches the share folder without following links to
# folders
rm -rf "$venv/share/$package/launch"
mkdir -p "$venv/share/$package/launch"
for file in "$root"/launch/*.launch.py; do
  ln -sfn "$file" "$venv/share/$package/launch/$(basename "$file")"
done

# the executables are the console scripts setup.py declares (read from the installed metadata)
mapfile -t executables < <("$venv/bin/python" - "$package" <<'EOF'
import sys
from importlib.metadata import distribution
for ep in distribution(sys.argv[1]).entry_points:
    if ep.group == "console_scripts":
        print(ep.name)
EOF
)
find "$venv/lib/$package" -maxdepth 1 -type l -delete
for exe in "${executables[@]}"; do
  ln -sfn "../../bin/$exe" "$venv/lib/$package/$exe"
done

site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# one line: .pth files run lines that start with "import"
cat > "$site/${package}_ament_prefix.pth" <<'EOF'
import os, sys; _p = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]; os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join(_p if sys.prefix in _p else _p + [sys.prefix])
EOF
echo "[setup] $venv is an ament prefix for $package (${#executables[@]} executables)"
