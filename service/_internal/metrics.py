"""Prometheus series of every job, fed from the same events.jsonl reports the API serves.

`JobMetrics` is a custom collector registered in the `CollectorRegistry` passed in (never
the process-global one). Every series is named `lc0_train_*` and carries a `job` label.
A job's series stay while it is active and for `retention` seconds after it ended (long
enough for Prometheus to scrape the final values), then they are dropped, so the number of
series does not grow with the number of jobs the server has seen.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lc0train import job_pb2
from service._internal.events import EventTail
from service._internal.goodput import REASONS, Transition
from service._internal.job_series import JobSeries
from service._internal.state import JobState
from service._internal.store import JobRecord


@dataclasses.dataclass(frozen=True)
class Family:
    """One metric family: its series name (without `lc0_train_`), help text and labels besides `job`."""

    series: str
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""


GAUGES = (
    Family("step", "Latest reported global step"),
    Family("job_state", "1 for the job's current state, 0 for the others", ("state",)),
    Family("loss", "Latest loss term by split (train, test, validation) and weights (raw, swa)", ("split", "term", "weights")),
    Family("metric", "Other latest reported metrics by split and weights", ("split", "name", "weights")),
    Family("positions_per_second", "Training throughput over the latest report window"),
    Family("learning_rate", "Learning rate of the latest train report"),
    Family("grad_norm", "Mean global gradient norm over the latest report window"),
    Family("loss_scale", "Dynamic loss scale of FP16 training"),
    Family("swa_snapshots", "Snapshots averaged into the SWA weights (the reported swa_count)"),
    Family("checkpoint_save_seconds", "Training time the latest checkpoint save blocked", unit="seconds"),
    Family("last_checkpoint_timestamp_seconds", "Unix time of the latest checkpoint report", unit="seconds"),
    Family("last_report_timestamp_seconds", "Unix time of the latest report", unit="seconds"),
    Family("update_ratio", "Summary of the per-parameter update ratios |dw|/|w| of the latest train report, per layer",
           ("layer", "stat")),
    Family("window_chunks", "Continuous job: chunks in the latest network's window"),
    Family("chunks_pending", "Continuous job: new chunks counted towards the next network"),
    Family("networks_published", "Continuous job: number of the latest published network"),
    Family("last_publish_timestamp_seconds", "Continuous job: Unix time of the latest publish", unit="seconds"),
)
COUNTERS = (
    Family("steps", "Training steps run, including steps redone after a restart"),
    Family("positions", "Training positions consumed (steps times the global batch size)"),
    Family("checkpoints", "Checkpoints written"),
    Family("skipped_chunks", "Chunk files skipped as unreadable"),
    Family("nonfinite_steps", "Training steps skipped for a non-finite loss or gradient"),
    Family("reports", "Reports read from events.jsonl, by kind", ("kind",)),
    Family("restarts", "Worker restarts (dead, frozen or hung workers)"),
    Family("preemptions", "Preemptions (SIGTERM, node loss)"),
    Family("productive_seconds", "Wall time spent in training steps that were kept", unit="seconds"),
    Family("badput_seconds", "Wall time not spent in kept training steps, by reason", ("reason",), unit="seconds"),
    Family("upload_failures", "Continuous job: failed network upload tries"),
)


class JobMetrics(Collector):
    """The series of all jobs, and the event tails that feed them (thread-safe)."""

    def __init__(self, registry: CollectorRegistry, retention: float = 900.0, clock: Callable[[], float] = time.time):
        self.retention, self._clock = retention, clock
        self._jobs: dict[str, JobSeries] = {}
        self._tails: dict[str, EventTail] = {}
        self._history: dict[str, tuple[tuple, list[Transition]]] = {}
        self._lock = threading.Lock()
        registry.register(self)

    def update(self, record: JobRecord, events: Path, history: Callable[[], Sequence[Transition]]) -> None:
        """Reads the job's new reports and its state; `history` (the transitions) is re-read only on a change of state."""
        series = self._series(record)
        tail = self._tails.setdefault(record.job_id, EventTail(events))
        new_events = tail.read()
        key = (record.state, record.attempt)
        cached = self._history.get(record.job_id)
        transitions = cached[1] if cached is not None and cached[0] == key else list(history())
        self._history[record.job_id] = (key, transitions)
        with self._lock:
            for event in new_events:
                series.observe(event)
            for state in JobState:
                series.set("job_state", 1.0 if state is record.state else 0.0, state.value)
            series.raise_to("restarts", record.restarts)
            series.raise_to("preemptions", record.preemptions)
            account = series.ledger.account(transitions, self._clock())
            series.raise_to("productive_seconds", account.productive)
            for reason in REASONS:
                series.raise_to("badput_seconds", account.badput[reason], reason)
            if record.state.is_terminal and series.ended_at is None:
                series.ended_at = self._clock()

    def prune(self) -> None:
        """Drops the series of jobs that ended more than `retention` seconds ago."""
        now = self._clock()
        with self._lock:
            expired = [job for job, s in self._jobs.items() if s.ended_at is not None and now - s.ended_at >= self.retention]
            for job_id in expired:
                del self._jobs[job_id]
                self._tails.pop(job_id, None)
                self._history.pop(job_id, None)

    def _series(self, record: JobRecord) -> JobSeries:
        series = self._jobs.get(record.job_id)
        if series is None:
            batch_size = job_pb2.JobSpec.FromString(record.spec).training.batch_size
            with self._lock:
                series = self._jobs[record.job_id] = JobSeries(batch_size)
        return series

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            for family, kind in [(f, GaugeMetricFamily) for f in GAUGES] + [(f, CounterMetricFamily) for f in COUNTERS]:
                metric = kind(f"lc0_train_{family.series}", family.help, labels=("job", *family.labels), unit=family.unit)
                for job_id, series in self._jobs.items():
                    values = (series.gauges if kind is GaugeMetricFamily else series.counters).get(family.series, {})
                    for labels, value in values.items():
                        metric.add_metric([job_id, *labels], value)
                yield metric
