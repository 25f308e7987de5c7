"""Goodput accounting: where each second of a job's wall time went.

Two sources, neither of which sees the whole job alone:
- the store's transitions (server clock): submission, each launch of an attempt
  (→ STARTING or → RESTARTING) and the end;
- the trainer's reports in events.jsonl (worker clock): each run of the trainer starts with
  a `state: RUNNING` report, and every report carries `phase_seconds`, the trainer's
  cumulative seconds per phase since that RUNNING report (`step` is productive, the rest
  badput).

The timeline is cut at those points and every piece gets exactly one reason, so productive
plus badput is the job's wall time from submission to its end. Step time counts as
productive once a checkpoint keeps it; if the worker is lost first, it is wasted progress
(the steps are trained again). So every total only grows, as Prometheus counters must;
while a job runs, the step time since its latest checkpoint is not counted yet. The
reasons follow the ml-goodput-measurement badput types where one applies
(docs/operations.md has the table).
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any, Iterable, Mapping

from service._internal.state import JobState

PRODUCTIVE_PHASE = "step"
# The trainer's phases and the badput reason each counts as; a phase not named here is "other".
PHASE_REASONS: Mapping[str, str] = {
    "compilation": "program_startup",
    "data_wait": "data_loading",
    "evaluation": "evaluation",
    "checkpoint": "checkpoint_save",
    "waiting_for_data": "waiting_for_data",
    "reporting": "other",
}
REASONS = ("queued", "training_prep", "program_startup", "data_loading", "checkpoint_save", "evaluation",
           "wasted_progress_restart", "wasted_progress_preemption", "waiting_for_data", "other")
_LAUNCHES = (JobState.STARTING, JobState.RESTARTING)
# How the restart policy names the budget a RESTARTING transition draws on (service/_internal/policy.py).
_PREEMPTION = re.compile(r"; preemption \d+/\d+")


@dataclasses.dataclass(frozen=True)
class Transition:
    """One row of the store's transition log."""

    time: float
    to_state: JobState
    reason: str


@dataclasses.dataclass
class Segment:
    """One run of the trainer: from its RUNNING report to its latest report."""

    start_time: float
    start_step: int
    last_time: float
    last_step: int
    phases: dict[str, float] = dataclasses.field(default_factory=dict)
    kept: dict[int, float] = dataclasses.field(default_factory=dict)  # checkpoint step → step seconds up to it

    @property
    def productive(self) -> float:
        return self.phases.get(PRODUCTIVE_PHASE, 0.0)

    def kept_until(self, step: int) -> float:
        """Step seconds of this run that a checkpoint at or before `step` keeps."""
        return max((seconds for checkpoint, seconds in self.kept.items() if checkpoint <= step), default=0.0)


@dataclasses.dataclass(frozen=True)
class Account:
    """Productive seconds and badput seconds by reason (every reason present)."""

    productive: float
    badput: dict[str, float]

    @property
    def total(self) -> float:
        return self.productive + sum(self.badput.values())


def event_time(event: Mapping[str, Any]) -> float | None:
    """A report's `time` (ISO 8601) as Unix seconds, or None when it has none."""
    try:
        return datetime.datetime.fromisoformat(str(event["time"])).timestamp()
    except (KeyError, ValueError):
        return None


class GoodputLedger:
    """The trainer runs of one job, fed report by report; `account` splits its wall time."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.checkpoint_step = 0

    def observe(self, event: Mapping[str, Any]) -> None:
        time, step = event_time(event), event.get("step")
        if time is None or not isinstance(step, int):
            return
        if event.get("kind") == "state" and event.get("state") == "RUNNING":
            self.segments.append(Segment(time, step, time, step))
            return
        if self.segments:
            segment = self.segments[-1]
            segment.last_time, segment.last_step = max(segment.last_time, time), max(segment.last_step, step)
            phases = event.get("phase_seconds")
            if isinstance(phases, dict):
                segment.phases = {str(k): float(v) for k, v in phases.items() if isinstance(v, (int, float))}
            if event.get("kind") == "checkpoint":
                segment.kept[step] = segment.productive
        if event.get("kind") == "checkpoint":
            self.checkpoint_step = max(self.checkpoint_step, step)

    def account(self, transitions: Iterable[Transition], now: float) -> Account:
        """Splits the time from submission to the end; while the job runs, to its latest report less the unkept step time."""
        badput = dict.fromkeys(REASONS, 0.0)
        productive = 0.0
        history = sorted(transitions, key=lambda t: t.time)
        if not history:
            return Account(0.0, badput)
        ended = history[-1].to_state.is_terminal
        for index, transition in enumerate(history):
            until = history[index + 1].time if index + 1 < len(history) else (transition.time if ended else now)
            if transition.to_state is JobState.QUEUED:
                badput["queued"] += until - transition.time
        launches = [i for i, t in enumerate(history) if t.to_state in _LAUNCHES]
        for n, i in enumerate(launches):
            launch = history[i]
            following = history[i + 1:launches[n + 1] + 1] if n + 1 < len(launches) else history[i + 1:]
            end = next((t for t in following if t.to_state is JobState.RESTARTING or t.to_state.is_terminal), None)
            end_time = end.time if end is not None else None
            runs = [s for s in self.segments if launch.time <= s.start_time and (end_time is None or s.start_time < end_time)]
            if not runs:  # never reached RUNNING: all of it was start-up
                badput["training_prep"] += (end_time if end_time is not None else now) - launch.time
                continue
            badput["training_prep"] += runs[0].start_time - launch.time
            for k, run in enumerate(runs):
                for phase, seconds in run.phases.items():
                    if phase != PRODUCTIVE_PHASE:
                        badput[PHASE_REASONS.get(phase, "other")] += seconds
                badput["other"] += max(0.0, run.last_time - run.start_time - sum(run.phases.values()))
                if k + 1 < len(runs):  # a new trainer inside the same attempt: a worker relaunched after a server restart
                    kept = run.kept_until(runs[k + 1].start_step)
                    badput["wasted_progress_restart"] += runs[k + 1].start_time - run.last_time + run.productive - kept
                elif end is not None and end.to_state is JobState.RESTARTING:
                    successor = next((s for s in self.segments if s.start_time >= end.time), None)
                    kept = run.kept_until(successor.start_step if successor is not None else self.checkpoint_step)
                    reason = "wasted_progress_preemption" if _PREEMPTION.search(end.reason) else "wasted_progress_restart"
                    badput[reason] += max(0.0, end.time - run.last_time) + run.productive - kept
                elif end is not None:  # the job ended: its steps stand; from the last report to the recorded end
                    kept = run.productive
                    badput["other"] += max(0.0, end.time - run.last_time)
                else:  # still training: the steps since the latest checkpoint are not kept yet
                    kept = run.kept_until(run.last_step)
                productive += kept
        return Account(productive, badput)
