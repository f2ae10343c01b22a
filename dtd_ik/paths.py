"""Where dtd_ik's installed data (config/, urdf/, models/, launch/) lives.

In a source checkout or editable install the folders sit beside the ``dtd_ik`` package; after
``colcon build`` or a wheel install they are under ``<prefix>/share/dtd_ik``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "dtd_ik"


def share_dir() -> Path:
    """The folder that holds ``config/``, ``urdf/``, ``models/`` and ``launch/``."""
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / "package.xml").is_file() and (source_root / "config").is_dir():
        return source_root
    # an install (colcon or pip --prefix): <prefix>/lib/pythonX.Y/site-packages/dtd_ik beside
    # <prefix>/share/dtd_ik
    parents = Path(__file__).resolve().parents
    if len(parents) > 4 and (parents[4] / "share" / PACKAGE / "config").is_dir():
        return parents[4] / "share" / PACKAGE
    try:  # a ROS 2 install elsewhere on the ament index
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # no ament index: the interpreter's own prefix
        return Path(sys.prefix) / "share" / PACKAGE


def config_path(name: str) -> Path:
    """Path of ``config/<name>`` in the share folder."""
    return share_dir() / "config" / name


def resolve(path: str | Path) -> Path:
    """An absolute path as given, or a path relative to the share folder."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else share_dir() / p
