"""Prometheus metrics of every job, fed from the same events.jsonl reports the API serves.

Gauges are named `lc0_train_*` and carry a `job` label; they live in the
`CollectorRegistry` passed in (never the process-global one), so tests and several
servers in one process do not share state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from service._internal.events import EventTail
from service._internal.state import JobState

# Metrics with a gauge of their own; everything else a report carries lands in lc0_train_metric.
_DEDICATED = {"positions_per_s": "positions_per_second", "learning_rate": "learning_rate",
              "checkpoint_save_seconds": "checkpoint_save_seconds", "grad_norm": "grad_norm", "loss_scale": "loss_scale"}


class JobMetrics:
    """Gauges for all jobs, and the event tails that feed them."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.step = Gauge("lc0_train_step", "Latest reported global step", ["job"], registry=registry)
        self.state = Gauge("lc0_train_job_state", "1 for the job's current state, 0 otherwise", ["job", "state"], registry=registry)
        self.restarts = Gauge("lc0_train_restarts", "Worker restarts so far", ["job"], registry=registry)
        self.loss = Gauge("lc0_train_loss", "Latest loss term by split (train, test, validation)", ["job", "split", "term"], registry=registry)
        self.metric = Gauge("lc0_train_metric", "Other reported metrics by split", ["job", "split", "name"], registry=registry)
        self.dedicated = {name: Gauge(f"lc0_train_{metric}", f"Latest {name} report", ["job"], registry=registry)
                          for name, metric in _DEDICATED.items()}
        self._tails: dict[str, EventTail] = {}

    def set_state(self, job_id: str, state: JobState, restarts: int) -> None:
        for candidate in JobState:
            self.state.labels(job_id, candidate.value).set(1.0 if candidate is state else 0.0)
        self.restarts.labels(job_id).set(restarts)

    def poll(self, job_id: str, events: Path) -> None:
        """Reads the job's new reports into the gauges."""
        tail = self._tails.setdefault(job_id, EventTail(events))
        for event in tail.read():
            self.observe(job_id, event)

    def forget(self, job_id: str) -> None:
        """Stops tailing an ended job (its gauges keep their last values)."""
        self._tails.pop(job_id, None)

    def observe(self, job_id: str, event: dict[str, Any]) -> None:
        kind, metrics = str(event.get("kind", "")), event.get("metrics") or {}
        # Not "checkpoint": it is reported once committed, when training may be steps further.
        if isinstance(event.get("step"), int) and kind in ("train", "state"):
            self.step.labels(job_id).set(event["step"])
        for name, value in metrics.items():
            if not isinstance(value, (int, float)):
                continue
            if name in self.dedicated:
                self.dedicated[name].labels(job_id).set(value)
            elif name.endswith("_loss"):
                self.loss.labels(job_id, kind, name.removesuffix("_loss")).set(value)
            else:
                self.metric.labels(job_id, kind, name).set(value)
