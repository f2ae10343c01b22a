"""Errors of the exact collision library; all derive from :class:`dtd_ik.exceptions.DtdIkError`."""

from dtd_ik.exceptions import DtdIkError


class CollisionError(DtdIkError):
    """Root of the collision library's errors."""


class InvalidShapeError(CollisionError, ValueError):
    """A shape, mesh or pose that cannot be collided: non-positive or non-finite dimensions,
    an empty or malformed mesh, a pose that is not a rigid transform."""


class UnknownObjectError(CollisionError, KeyError):
    """An operation named a world or attached object (or a link) that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else ""


__all__ = ["CollisionError", "InvalidShapeError", "UnknownObjectError"]
