"""What a job becomes when its workers stop: pure decisions over (record, cause).

The controller observes; these functions decide. Modelled on Ray Train v2's failure
handling (a failure policy maps an error to retry or raise): a lost worker is retried
within the job's budget for its kind of cause, and a requested cancel wins over every
other outcome, so a cancelled job never trains on nor ends SUCCEEDED.

Two budgets: `max_restarts` for causes in the job's own workers (a crash, a freeze, a
hang), `max_preemptions` for causes outside them (SIGTERM from a preempted VM, a lost
node, workers that died with an embedded control plane).
"""

from __future__ import annotations

import dataclasses
import enum

from service._internal.state import JobState
from service._internal.status import ActorStatus, Phase, TrainerResult
from service._internal.store import JobRecord


class CauseKind(enum.Enum):
    """Why the workers of an attempt are gone."""

    CRASHED = "crashed"  # the worker process died (signal, OOM kill, segfault)
    UNRESPONSIVE = "unresponsive"  # no answer to status polls (frozen, or never came up)
    HUNG = "hung"  # answers polls, but the trainer stopped reporting
    PREEMPTED = "preempted"  # SIGTERM: the trainer checkpointed and stopped
    NODE_LOST = "node lost"  # Ray lost the node the worker ran on
    CONTROL_PLANE_RESTART = "control plane restart"  # gone when a restarted server looked for them

    @property
    def outside_the_job(self) -> bool:
        """Causes that draw on the preemption budget, not the restart budget."""
        return self in (CauseKind.PREEMPTED, CauseKind.NODE_LOST, CauseKind.CONTROL_PLANE_RESTART)


@dataclasses.dataclass(frozen=True)
class Cause:
    kind: CauseKind
    detail: str  # for the transition's reason, e.g. "no heartbeat for 9s (heartbeat_timeout 8s): worker frozen"


@dataclasses.dataclass(frozen=True)
class Decision:
    """The transition to commit: `to` with `reason`, and the record columns to change."""

    to: JobState
    reason: str
    changes: dict[str, int] = dataclasses.field(default_factory=dict)


def on_workers_lost(record: JobRecord, cause: Cause) -> Decision:
    """A lost attempt: CANCELLED if a cancel was requested, else RESTARTING within budget, else FAILED."""
    if record.cancel_requested:
        return Decision(JobState.CANCELLED, f"cancelled; workers lost while stopping: {cause.detail}")
    if cause.kind.outside_the_job:
        used, limit, column, noun = record.preemptions, record.max_preemptions, "preemptions", "preemption"
        exhausted = f"preempted {used + 1} times (max_preemptions {limit}); last: {cause.detail}"
    else:
        used, limit, column, noun = record.restarts, record.max_restarts, "restarts", "restart"
        exhausted = f"worker lost {used + 1} times (max_restarts {limit}); last: {cause.detail}"
    if used >= limit:
        return Decision(JobState.FAILED, exhausted)
    return Decision(JobState.RESTARTING, f"{cause.detail}; {noun} {used + 1}/{limit}, resuming from the latest checkpoint",
                    {column: used + 1, "attempt": record.attempt + 1})


def on_trainer_ended(record: JobRecord, status: ActorStatus) -> Decision:
    """Every host's trainer returned (DONE) or one raised (FAILED). The cancel flag is read first."""
    step = {"step": status.step}
    if record.cancel_requested:
        how = f"trainer error: {status.error}" if status.phase is Phase.FAILED else f"trainer ended {_result_name(status)}"
        return Decision(JobState.CANCELLED, f"cancelled at step {status.step} ({how})", step)
    if status.phase is Phase.FAILED:
        return Decision(JobState.FAILED, f"trainer error: {status.error}", step)
    if status.result is TrainerResult.SUCCEEDED:
        return Decision(JobState.SUCCEEDED, f"finished at step {status.step}", step)
    if status.result is TrainerResult.CANCELLED:  # stopped by a cancel this record no longer shows (not expected)
        return Decision(JobState.CANCELLED, f"cancelled at step {status.step}", step)
    if status.result is TrainerResult.PREEMPTED:
        return on_workers_lost(record, Cause(CauseKind.PREEMPTED, f"preempted (SIGTERM) at step {status.step}, checkpoint written"))
    return Decision(JobState.FAILED, f"trainer stopped with {_result_name(status)}", step)


def _result_name(status: ActorStatus) -> str:
    return status.result.value if status.result is not None else "no result"
