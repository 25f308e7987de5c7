"""The Prometheus series of one job, kept up to date from its reports (events.jsonl).

Gauges hold the latest reported values; counters (`*_total`) accumulate over the job's
reports, so a restarted server that re-reads events.jsonl from the start rebuilds them.
Per-parameter update ratios become a fixed set per job: min, median and max per layer (the
first component of the parameter path), whatever the depth of the net; the full detail
stays in events.jsonl.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import numpy as np

from service._internal.goodput import GoodputLedger, event_time

Labels = tuple[str, ...]

# Reported metrics with a gauge of their own (metric name → series name); everything else a
# report carries lands in lc0_train_metric, losses (`*_loss`) in lc0_train_loss.
DEDICATED = {"positions_per_s": "positions_per_second", "learning_rate": "learning_rate", "grad_norm": "grad_norm",
             "loss_scale": "loss_scale", "swa_count": "swa_snapshots", "checkpoint_save_seconds": "checkpoint_save_seconds"}
UPDATE_RATIO_PREFIX = "update_ratio/"
UPDATE_RATIO_STATS: dict[str, Callable[[list[float]], Any]] = {"min": np.min, "median": np.median, "max": np.max}
# Reports whose step is progress (a test report at step 0 is not; a checkpoint is reported once
# committed, when training may be steps further).
_STEP_KINDS = ("train", "state")


@dataclasses.dataclass
class JobSeries:
    """Latest values (`gauges[series][labels]`) and totals (`counters[series][labels]`) of one job."""

    batch_size: int
    gauges: dict[str, dict[Labels, float]] = dataclasses.field(default_factory=dict)
    counters: dict[str, dict[Labels, float]] = dataclasses.field(default_factory=dict)
    ledger: GoodputLedger = dataclasses.field(default_factory=GoodputLedger)
    ended_at: float | None = None
    _run_step: int | None = None  # the latest step of the current trainer run
    _run_skipped: float = 0.0  # skipped chunk files the current trainer run reported so far

    def set(self, series: str, value: float, *labels: str) -> None:
        self.gauges.setdefault(series, {})[labels] = float(value)

    def add(self, series: str, amount: float, *labels: str) -> None:
        values = self.counters.setdefault(series, {})
        values[labels] = values.get(labels, 0.0) + float(amount)

    def raise_to(self, series: str, total: float, *labels: str) -> None:
        """Sets a counter to a recomputed total, never lower than before (a counter never goes down)."""
        values = self.counters.setdefault(series, {})
        values[labels] = max(values.get(labels, 0.0), float(total))

    def observe(self, event: Mapping[str, Any]) -> None:
        """Folds one report into the series."""
        kind, step = str(event.get("kind", "")), event.get("step")
        metrics = {k: float(v) for k, v in (event.get("metrics") or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        weights = str(event.get("weights", "raw"))
        self.add("reports", 1, kind)
        self.ledger.observe(event)
        if isinstance(step, int):
            self._progress(kind, step, event)
        ratios = {k.removeprefix(UPDATE_RATIO_PREFIX): v for k, v in metrics.items() if k.startswith(UPDATE_RATIO_PREFIX)}
        if ratios:
            self._update_ratios(ratios)
        for name, value in metrics.items():
            if name.startswith(UPDATE_RATIO_PREFIX):
                continue
            if name in DEDICATED:
                self.set(DEDICATED[name], value)
            elif name == "nonfinite_steps":
                self.add("nonfinite_steps", value)
            elif name == "skipped_files":
                self._skipped(value)
            elif name == "upload_failures":
                self.add("upload_failures", value)
            elif name.endswith("_loss"):
                self.set("loss", value, kind, name.removesuffix("_loss"), weights)
            else:
                self.set("metric", value, kind, name, weights)
        time = event_time(event)
        if time is not None:
            self.set("last_report_timestamp_seconds", time)
            if kind == "checkpoint":
                self.set("last_checkpoint_timestamp_seconds", time)
        self._cycle(kind, event, time)

    def _cycle(self, kind: str, event: Mapping[str, Any], time: float | None) -> None:
        """A continuous job's cycle and published reports (workers/training/continuous.py)."""
        if kind == "cycle" and event.get("phase") == "waiting":
            self.set("chunks_pending", event.get("new_chunks", 0))
        elif kind == "cycle" and event.get("phase") == "training":
            self.set("window_chunks", event.get("window_chunks", 0))
            self.set("chunks_pending", 0)
        elif kind == "published" and isinstance(event.get("network"), int):
            self.set("networks_published", event["network"])
            if time is not None:
                self.set("last_publish_timestamp_seconds", time)

    def _progress(self, kind: str, step: int, event: Mapping[str, Any]) -> None:
        if kind == "state" and event.get("state") == "RUNNING":  # a trainer (re)started from this step
            self._run_step, self._run_skipped = step, 0.0
        elif self._run_step is not None and step > self._run_step:
            self.add("steps", step - self._run_step)
            self.add("positions", (step - self._run_step) * self.batch_size)
            self._run_step = step
        if kind in _STEP_KINDS:
            self.set("step", step)
        if kind == "checkpoint":
            self.add("checkpoints", 1)

    def _skipped(self, reported: float) -> None:
        """A trainer run reports its skipped files cumulatively; the counter adds what is new."""
        if reported > self._run_skipped:
            self.add("skipped_chunks", reported - self._run_skipped)
            self._run_skipped = reported
        self.counters.setdefault("skipped_chunks", {}).setdefault((), 0.0)

    def _update_ratios(self, ratios: Mapping[str, float]) -> None:
        by_layer: dict[str, list[float]] = {}
        for path, ratio in ratios.items():
            if ratio >= 0:  # −1 marks a parameter whose norm was 0
                by_layer.setdefault(path.split("/", 1)[0], []).append(ratio)
        for layer, values in by_layer.items():
            for stat, summary in UPDATE_RATIO_STATS.items():
                self.set("update_ratio", float(summary(values)), layer, stat)
