"""The job state machine: typed states, the allowed transitions and domain errors."""

from __future__ import annotations

import enum


class JobState(enum.Enum):
    """Lifecycle of a job; the names match `lc0train.JobState` in service.proto."""

    QUEUED = "QUEUED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    RESTARTING = "RESTARTING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

# Every edge of the lifecycle. A restarted control plane re-enters the same state (the
# self-edges of the working states) to act on a transition it recorded but did not finish.
ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.STARTING, JobState.CANCELLED, JobState.FAILED}),
    JobState.STARTING: frozenset({JobState.RUNNING, JobState.RESTARTING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.RESTARTING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.RESTARTING: frozenset({JobState.RUNNING, JobState.RESTARTING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED}),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class ServiceError(Exception):
    """Base of the domain errors the API layer maps to gRPC status codes (an invalid spec is
    `workers.config.problems.ConfigError`, the one error class of job configs)."""


class InvalidRequest(ServiceError):
    """A request field (not the spec) is invalid."""


class JobNotFound(ServiceError):
    """No job has this id."""


class FailedPrecondition(ServiceError):
    """The request does not apply to the job in its current state."""


class StorageError(ServiceError):
    """The server could not write the shared storage; the message names the path."""


class IllegalTransition(ServiceError):
    """A transition the lifecycle does not allow (a bug, or a race another writer won)."""
