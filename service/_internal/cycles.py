"""The cycle of each continuous job as one status line, from its events.jsonl.

"waiting for data: 40/100 new chunks (window 2000/2000); last published network 7": the
latest `cycle` report (waiting or training network n) and the latest published network. Each
job's file is tailed, so a query reads only the reports written since the previous one.
"""

from __future__ import annotations

from pathlib import Path

from service._internal.events import EventTail
from workers.console import cycle_status


class CycleTracker:
    """Latest cycle status per job (empty for a job that is not continuous)."""

    def __init__(self) -> None:
        self._tails: dict[str, EventTail] = {}
        self._latest: dict[str, str] = {}
        self._published: dict[str, int] = {}

    def status(self, job_id: str, events: Path) -> str:
        tail = self._tails.setdefault(job_id, EventTail(events))
        for event in tail.read():
            kind = event.get("kind")
            if kind == "cycle":
                self._latest[job_id] = cycle_status("cycle", event)
            elif kind == "published" and isinstance(event.get("network"), int):
                self._published[job_id] = event["network"]
        parts = [self._latest.get(job_id, "")]
        if job_id in self._published:
            parts.append(f"last published network {self._published[job_id]}")
        return "; ".join(p for p in parts if p)
