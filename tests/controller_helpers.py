"""A scripted stand-in for the Ray scheduler, for tests that step `Controller.tick()` directly.

What these tests check is the controller's bookkeeping and decisions across ticks; the real
scheduler on a real Ray cluster is exercised by tests/test_service*.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lc0train import job_pb2
from service._internal.controller import Controller, ControllerSettings
from service._internal.scheduler import ActorPoll
from service._internal.status import ActorStatus, Phase, TrainerResult
from service._internal.store import JobRecord, JobStore, NewJob
from workers.config.accelerators import Placement

SETTINGS = ControllerSettings(poll_interval=0.1, startup_timeout=30, heartbeat_timeout=5, progress_timeout=300, cancel_timeout=60)


@dataclasses.dataclass
class ScriptedScheduler:
    """Actors that exist by (job, attempt); each poll answers `answer` (or pending); calls are recorded."""

    answer: ActorStatus | None = None
    dead: str = ""
    live: set[tuple[str, int]] = dataclasses.field(default_factory=set)
    launched: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    stopped: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    released: list[str] = dataclasses.field(default_factory=list)
    placements: dict[str, Placement] = dataclasses.field(default_factory=dict)  # what each job reserved

    def reserve(self, job_id: str, placement: Placement) -> bool:
        self.placements[job_id] = placement
        return True

    def live_actors(self, job_id: str, attempt: int, hosts: int) -> int:
        return hosts if (job_id, attempt) in self.live else 0

    def launch(self, job_id: str, attempt: int, placement: Placement, spec: bytes, job_dir: str) -> None:
        self.launched.append((job_id, attempt))
        self.live.add((job_id, attempt))

    def kill(self, job_id: str, attempt: int, hosts: int) -> None:
        self.live.discard((job_id, attempt))

    def release(self, job_id: str, attempts: int, hosts: int) -> None:
        self.live = {(job, attempt) for job, attempt in self.live if job != job_id}
        self.released.append(job_id)

    def stop(self, job_id: str, attempt: int, hosts: int, reason: str, checkpoint: bool) -> None:
        self.stopped.append((job_id, attempt))

    def poll(self, job_id: str, attempt: int, host: int) -> ActorPoll:
        if self.dead:
            return ActorPoll(dead=self.dead)
        return ActorPoll(status=self.answer) if self.answer is not None else ActorPoll(pending=True)


def running(step: int) -> ActorStatus:
    return ActorStatus(Phase.RUNNING, pid=1, step=step)


def done(step: int, result: TrainerResult) -> ActorStatus:
    return ActorStatus(Phase.DONE, pid=1, step=step, result=result)


def controller(store: JobStore, scheduler: object, tmp: Path, clock: list[float], **kwargs: object) -> Controller:
    """A Controller over `scheduler` whose monotonic clock is `clock[0]`."""
    return Controller(store, scheduler, tmp / "storage", SETTINGS, clock=lambda: clock[0], **kwargs)  # type: ignore[arg-type]


def submit(store: JobStore, hosts: int = 1, max_restarts: int = 2, max_preemptions: int = 2,
           accelerator: job_pb2.Accelerator | None = None) -> JobRecord:
    spec = job_pb2.JobSpec(name="scripted")
    spec.resources.hosts = hosts
    if accelerator is not None:
        spec.resources.accelerator.CopyFrom(accelerator)
    record, _ = store.create(NewJob(name="scripted", spec=spec.SerializeToString(), total_steps=100, priority=0,
                                    max_restarts=max_restarts, max_preemptions=max_preemptions))
    return record
