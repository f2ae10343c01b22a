"""Reading dtd_ik's YAML files with one clear error for a missing or malformed file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .exceptions import ConfigError


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed contents of ``path``; ``what`` names the file in errors ("robot config").

    Raises :class:`ConfigError` when the file cannot be read or is not valid YAML.
    """
    try:
        return yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc


__all__ = ["read_yaml"]
