"""The messages that cross Ray between a trainer actor and the controller, typed.

An actor answers every status poll with an `ActorStatus` (pickled by Ray as it is): the
controller reads its fields and enums, never string keys.
"""

from __future__ import annotations

import dataclasses
import enum


class Phase(enum.Enum):
    """Where one actor's trainer is."""

    IDLE = "idle"  # created, not started
    STARTING = "starting"  # training thread started, no RUNNING report yet
    RUNNING = "running"  # the trainer reported RUNNING (restored and stepping)
    DONE = "done"  # the trainer returned; `result` says how
    FAILED = "failed"  # the trainer raised; `error` says what


class TrainerResult(enum.Enum):
    """How a trainer that returned ended: the final `state` event it published."""

    SUCCEEDED = "SUCCEEDED"
    CANCELLED = "CANCELLED"
    PREEMPTED = "PREEMPTED"  # stopped by SIGTERM after a checkpoint
    FAILED = "FAILED"


@dataclasses.dataclass(frozen=True)
class ActorStatus:
    """What one actor reports to the controller on every poll (its heartbeat)."""

    phase: Phase
    pid: int
    step: int = 0
    last_report: float = 0.0  # wall-clock time of the latest event (0 before the first)
    result: TrainerResult | None = None  # set when `phase` is DONE
    error: str = ""  # set when `phase` is FAILED: "<ExceptionType>: <message>"
    traceback: str = ""  # the trainer's traceback when FAILED (for the logs)
