"""Second copies of service answers, so that a client's crowded response history loses none.

With rmw_fastrtps every client of a service reads every answer the service sends (the client
keeps its own, matched by its GUID, when it takes them), through a response history of rclpy's
and rclcpp's default depth of 10. A client that is not scheduled while ten answers to other
clients arrive after its own loses its own, and waits out its timeout. A copy of each answer sent
``delay`` [s] later arrives as the newest sample: the client that missed the first one takes the
copy; one that already has its answer drops it (no call of that sequence number is pending).
No rclpy here: the node sends what :meth:`ReplyCopies.due` returns.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any


class ReplyCopies:
    """Answers sent, kept until their copy is due.

    Args:
        delay: [s] between an answer and its copy; 0 or less: no copies.
    """

    def __init__(self, delay: float):
        self.delay = delay
        self._sent: deque[tuple[float, Any, Any]] = deque()  # (time sent, response, header)
        self._lock = threading.Lock()
        self.copies_sent = 0

    def sent(self, response: Any, header: Any, now: float) -> None:
        """Note an answer sent at ``now`` (time.monotonic())."""
        if self.delay > 0:
            with self._lock:
                self._sent.append((now, response, header))

    def due(self, now: float) -> list[tuple[Any, Any]]:
        """(response, header) of every answer whose copy is due at ``now``, each once."""
        out = []
        with self._lock:
            while self._sent and (self.delay <= 0 or self._sent[0][0] + self.delay <= now):
                _, response, header = self._sent.popleft()
                if self.delay > 0:
                    out.append((response, header))
            self.copies_sent += len(out)
        return out

    def waiting(self) -> int:
        """Answers whose copy is not sent yet."""
        with self._lock:
            return len(self._sent)


__all__ = ["ReplyCopies"]
