"""The controller's view of a multi-host attempt when its hosts answer status polls on
different ticks (each poll is non-blocking, so under load the answers drift out of phase).

The Ray scheduler is replaced by a scripted one here: what is under test is the controller's
bookkeeping of answers across ticks, which a real cluster only exercises by chance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from service._internal.scheduler import ActorPoll
from service._internal.status import TrainerResult
from service._internal.store import JobState, JobStore
from tests.controller_helpers import SETTINGS, ScriptedScheduler, controller, done, running, submit


@dataclasses.dataclass
class AlternatingScheduler(ScriptedScheduler):
    """Two hosts whose answers never arrive on the same tick: host (tick % 2) answers."""

    ticks: int = 0
    step: int = 0
    finished: bool = False

    def poll(self, job_id: str, attempt: int, host: int) -> ActorPoll:
        if host != self.ticks % 2:
            return ActorPoll(pending=True)
        return ActorPoll(status=done(self.step, TrainerResult.SUCCEEDED) if self.finished else running(self.step))


def test_hosts_answering_on_alternate_ticks_are_alive_and_finish(tmp_path: Path) -> None:
    clock = [0.0]
    store = JobStore(tmp_path / "jobs.sqlite3")
    scheduler = AlternatingScheduler()
    control = controller(store, scheduler, tmp_path, clock)
    record = submit(store, hosts=2, max_restarts=0, max_preemptions=0)
    # Three heartbeat timeouts of alternating answers: never a tick on which both hosts answer.
    for tick in range(int(3 * SETTINGS.heartbeat_timeout / 0.5)):
        scheduler.ticks, scheduler.step = tick, tick
        control.tick()
        clock[0] += 0.5
    alive = store.get(record.job_id)
    assert alive.state is JobState.RUNNING, alive.message
    assert alive.step > 0
    # Both hosts finish, again answering on alternate ticks: the job succeeds.
    scheduler.finished = True
    for tick in range(4):
        scheduler.ticks = tick
        control.tick()
        clock[0] += 0.5
    finished = store.get(record.job_id)
    assert finished.state is JobState.SUCCEEDED, finished.message
    store.close()
