"""Sliding-window rate limiters over request arrival times."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    admitted: bool
    limit: int
    remaining: int
    # Real seconds until a slot frees; 0 when admitted.
    retry_after: float


class SlidingWindow:
    """At most `limit` admitted arrivals within any `window_s` seconds.

    Limit and window are passed on every call because the emulator's options (and time scale) can
    change at runtime; rejected arrivals are not recorded, so they never consume a slot.
    """

    def __init__(self) -> None:
        self._arrivals: deque[float] = deque()

    def _prune(self, now: float, window_s: float) -> None:
        while self._arrivals and self._arrivals[0] <= now - window_s:
            self._arrivals.popleft()

    def acquire(self, now: float, limit: int, window_s: float) -> Decision:
        self._prune(now, window_s)
        if len(self._arrivals) < limit:
            self._arrivals.append(now)
            return Decision(True, limit, limit - len(self._arrivals), 0.0)
        # A slot frees when enough of the oldest arrivals have left the window to get below the limit.
        blocking = self._arrivals[len(self._arrivals) - limit]
        return Decision(False, limit, 0, max(blocking + window_s - now, 0.0))

    def clear(self) -> None:
        self._arrivals.clear()


def format_retry_after(seconds: float, time_scale: float) -> str:
    """Whole seconds at real speed (as ActiveCampaign sends); milliseconds when time is scaled."""
    if time_scale == 1.0:
        return str(max(1, math.ceil(seconds)))
    millis = max(1, math.ceil(seconds * 1000))
    return f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
