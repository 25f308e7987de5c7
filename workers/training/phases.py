"""Where a trainer run's time goes: every second since the run started belongs to one phase.

The training loop switches phases around what it waits for (`step` is training, the
others are badput: `compilation`, `data_wait`, `evaluation`, `checkpoint`, `reporting`, and a
continuous job's `waiting_for_data` for new self-play games) and
publishes the cumulative seconds per phase with each report as `phase_seconds`; the
service turns them into the goodput and badput counters (service/_internal/goodput.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Callable, Iterator


class PhaseClock:
    """Cumulative seconds per phase since construction; one phase is current at any time."""

    def __init__(self, initial: str, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._current, self._since = initial, clock()
        self._totals: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def current(self) -> str:
        return self._current

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Counts the time inside the block as `name`, then returns to the phase before."""
        previous = self._switch(name)
        try:
            yield
        finally:
            self._switch(previous)

    def totals(self) -> dict[str, float]:
        """Seconds per phase so far, the current phase's running time included."""
        with self._lock:
            totals = dict(self._totals)
            totals[self._current] = totals.get(self._current, 0.0) + self._clock() - self._since
        return totals

    def _switch(self, name: str) -> str:
        with self._lock:
            now, previous = self._clock(), self._current
            self._totals[previous] = self._totals.get(previous, 0.0) + now - self._since
            self._current, self._since = name, now
        return previous
