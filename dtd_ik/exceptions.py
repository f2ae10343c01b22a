"""Errors raised by dtd_ik. All derive from :class:`DtdIkError`; input errors are ValueErrors
too."""


class DtdIkError(Exception):
    """Root of every error dtd_ik raises on purpose."""


class ConfigError(DtdIkError, ValueError):
    """A configuration or robot-description file is missing, unreadable or inconsistent."""


class InvalidInputError(DtdIkError, ValueError):
    """A caller passed an array of the wrong shape, joint count or with non-finite values."""


class UnknownFrameError(DtdIkError, KeyError):
    """A link or frame name that the robot model does not know."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else ""


class ModelLoadError(DtdIkError, RuntimeError):
    """An IK network file that is missing, unreadable, truncated or made for another robot."""
