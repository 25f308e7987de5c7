"""The controller's view of a multi-host attempt when its hosts answer status polls on
different ticks (each poll is non-blocking, so under load the answers drift out of phase).

The Ray scheduler is replaced by a scripted one here: what is under test is the controller's
bookkeeping of answers across ticks, which a real cluster only exercises by chance.
"""

from __future__ import annotations

from pathlib import Path

from lc0train import job_pb2
from service._internal.controller import Controller, ControllerSettings
from service._internal.scheduler import ActorPoll
from service._internal.store import JobState, JobStore, NewJob

HEARTBEAT_TIMEOUT = 5.0


class AlternatingScheduler:
    """Two hosts whose answers never arrive on the same tick: host (tick % 2) answers."""

    def __init__(self) -> None:
        self.ticks = 0
        self.step = 0
        self.done = False

    def reserve(self, job_id: str, hosts: int) -> bool:
        return True

    def launch(self, job_id: str, attempt: int, hosts: int, spec: bytes, job_dir: str) -> None:
        pass

    def kill(self, job_id: str, attempt: int, hosts: int) -> None:
        pass

    def release(self, job_id: str, attempts: int, hosts: int) -> None:
        pass

    def poll(self, job_id: str, attempt: int, host: int) -> ActorPoll:
        if host != self.ticks % 2:
            return ActorPoll(pending=True)
        phase = "done" if self.done else "running"
        return ActorPoll(status={"phase": phase, "pid": 1, "step": self.step, "last_report": 0.0,
                                 "result": "SUCCEEDED" if self.done else "", "error": ""})


def test_hosts_answering_on_alternate_ticks_are_alive_and_finish(tmp_path: Path) -> None:
    clock = [0.0]
    store = JobStore(tmp_path / "jobs.sqlite3")
    scheduler = AlternatingScheduler()
    settings = ControllerSettings(poll_interval=0.1, startup_timeout=30, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                                  progress_timeout=300, cancel_timeout=60)
    controller = Controller(store, scheduler, tmp_path / "storage", settings, clock=lambda: clock[0])  # type: ignore[arg-type]
    spec = job_pb2.JobSpec(name="two-hosts")
    spec.resources.hosts = 2
    record, _ = store.create(NewJob(name="two-hosts", spec=spec.SerializeToString(), total_steps=100, priority=0,
                                    max_restarts=0, max_preemptions=0))
    # Three heartbeat timeouts of alternating answers: never a tick on which both hosts answer.
    for tick in range(int(3 * HEARTBEAT_TIMEOUT / 0.5)):
        scheduler.ticks, scheduler.step = tick, tick
        controller.tick()
        clock[0] += 0.5
    running = store.get(record.job_id)
    assert running.state is JobState.RUNNING, running.message
    assert running.step > 0
    # Both hosts finish, again answering on alternate ticks: the job succeeds.
    scheduler.done = True
    for tick in range(4):
        scheduler.ticks = tick
        controller.tick()
        clock[0] += 0.5
    finished = store.get(record.job_id)
    assert finished.state is JobState.SUCCEEDED, finished.message
    store.close()
