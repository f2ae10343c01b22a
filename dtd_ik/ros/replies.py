"""Later copies of service answers, so that a client's crowded response history loses none.

With rmw_fastrtps every client of a service reads every answer the service sends (the client
keeps its own, matched by its GUID, when it takes them), through a response history of rclpy's
and rclcpp's default depth of 10. A client that is not scheduled while ten answers to other
clients arrive after its own loses its own, and waits out its timeout. A copy of each answer sent
later arrives as the newest sample: the client that missed the first one takes the copy; one that
already has its answer drops it (no call of that sequence number is pending). No rclpy here: the
node sends what :meth:`ReplyCopies.due` returns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any


class ReplyCopies:
    """Answers sent, kept until their copies are due.

    Args:
        delays: [s] after an answer, one copy at each (ascending; empty: no copies).
    """

    def __init__(self, delays: Sequence[float]):
        self.delays = tuple(sorted(d for d in delays if d > 0))
        # one queue per delay: (time sent, response, header), oldest first
        self._queues = [deque() for _ in self.delays]
        self._lock = threading.Lock()
        self.copies_sent = 0

    def sent(self, response: Any, header: Any, now: float) -> None:
        """Note an answer sent at ``now`` (time.monotonic())."""
        with self._lock:
            for queue in self._queues:
                queue.append((now, response, header))

    def due(self, now: float, most: int | None = None) -> list[tuple[Any, Any]]:
        """(response, header) of the copies due at ``now`` (at most ``most``, the earliest
        delays first), each once."""
        out = []
        with self._lock:
            for delay, queue in zip(self.delays, self._queues):
                while queue and queue[0][0] + delay <= now and (most is None or len(out) < most):
                    _, response, header = queue.popleft()
                    out.append((response, header))
            self.copies_sent += len(out)
        return out

    def waiting(self) -> int:
        """Copies not sent yet."""
        with self._lock:
            return sum(len(q) for q in self._queues)


__all__ = ["ReplyCopies"]
