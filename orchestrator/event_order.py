"""Hand a run's events to a watcher in sequence order, once each.

Why: replicas publish a run's events from different connections, so the stream may hold
sequence 7 before 5 and 6; and an event re-published after JetStream's de-duplication
window appears twice. Sequences are assigned in the run's CAS writes, so they are the truth:
this buffer releases events strictly in sequence, drops repeats, and releases past a gap
only when the gap outlives `gap_timeout_s` (an event lost for good must not stall a watch).
"""
from __future__ import annotations

import time
from typing import Any


class EventOrder:
    def __init__(self, first: int = 1, gap_timeout_s: float = 2.0) -> None:
        self.next = first  # the sequence we are waiting for
        self.gap_timeout_s = gap_timeout_s
        self._held: dict[int, dict[str, Any]] = {}
        self._gap_since: float | None = None

    def push(self, event: dict[str, Any], now: float | None = None) -> list[dict[str, Any]]:
        """Accept one event; returns the events now releasable, in order."""
        sequence = int(event["sequence"])
        if sequence >= self.next:
            self._held.setdefault(sequence, event)
        return self.release(now)

    def release(self, now: float | None = None) -> list[dict[str, Any]]:
        """In-order events; past a gap once it has lasted `gap_timeout_s`."""
        now = time.monotonic() if now is None else now
        out = []
        while self._held:
            if self.next in self._held:
                out.append(self._held.pop(self.next))
                self.next += 1
                self._gap_since = None
                continue
            if self._gap_since is None:
                self._gap_since = now
            if now - self._gap_since < self.gap_timeout_s:
                break
            self.next = min(self._held)  # give up on the missing ones
            self._gap_since = None
        return out

    @property
    def waiting(self) -> bool:
        return bool(self._held)
