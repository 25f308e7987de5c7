"""Restart, preemption and cancel decisions: the pure policy, and `Controller.tick()` acting on it.

The controller is stepped tick by tick over a real SQLite JobStore and a scripted scheduler
(tests/controller_helpers.py); a new Controller on the same store is a restarted server.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lc0train import job_pb2
from service._internal.policy import Cause, CauseKind, on_trainer_ended, on_workers_lost
from service._internal.state import FailedPrecondition, JobState
from service._internal.status import ActorStatus, Phase, TrainerResult
from service._internal.store import JobRecord, JobStore
from tests.controller_helpers import ScriptedScheduler, controller, done, running, submit
from workers.config.accelerators import Placement, tpu_slice


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.sqlite3")


def _record(store: JobStore, **changes: object) -> JobRecord:
    return dataclasses.replace(submit(store, max_restarts=2, max_preemptions=1), attempt=3, **changes)


@pytest.mark.parametrize("kind, column", [(CauseKind.CRASHED, "restarts"), (CauseKind.UNRESPONSIVE, "restarts"),
                                          (CauseKind.HUNG, "restarts"), (CauseKind.PREEMPTED, "preemptions"),
                                          (CauseKind.NODE_LOST, "preemptions"), (CauseKind.CONTROL_PLANE_RESTART, "preemptions")])
def test_a_lost_attempt_restarts_on_the_budget_of_its_cause(store: JobStore, kind: CauseKind, column: str) -> None:
    record = _record(store)
    decision = on_workers_lost(record, Cause(kind, "the detail"))
    assert decision.to is JobState.RESTARTING
    assert decision.changes == {column: 1, "attempt": 4}
    assert decision.reason.startswith("the detail; ") and "resuming from the latest checkpoint" in decision.reason
    spent = on_workers_lost(dataclasses.replace(record, restarts=2, preemptions=1), Cause(kind, "the detail"))
    assert spent.to is JobState.FAILED and f"max_{column} " in spent.reason and "last: the detail" in spent.reason


def test_the_cancel_flag_is_read_before_every_other_outcome(store: JobStore) -> None:
    cancelled = _record(store, cancel_requested=True)
    for kind in CauseKind:
        assert on_workers_lost(cancelled, Cause(kind, "x")).to is JobState.CANCELLED
    ended = [done(70, result) for result in TrainerResult] + [ActorStatus(Phase.FAILED, pid=1, step=70, error="ValueError: x")]
    for status in ended:
        decision = on_trainer_ended(cancelled, status)
        assert decision.to is JobState.CANCELLED and decision.changes == {"step": 70}, (status, decision)
    uncancelled = _record(store)
    outcomes = [on_trainer_ended(uncancelled, status).to for status in ended]
    assert outcomes == [JobState.SUCCEEDED, JobState.CANCELLED, JobState.RESTARTING, JobState.FAILED, JobState.FAILED]
    assert on_trainer_ended(uncancelled, done(70, TrainerResult.PREEMPTED)).changes == {"preemptions": 1, "attempt": 4}


def test_a_cancel_wins_over_a_trainer_that_then_reports_success(store: JobStore, tmp_path: Path) -> None:
    clock, scheduler = [0.0], ScriptedScheduler(answer=running(10))
    control = controller(store, scheduler, tmp_path, clock)
    job = submit(store).job_id
    control.tick()  # QUEUED → STARTING, launched
    control.tick()  # RUNNING
    store.request_cancel(job, checkpoint=True)
    control.tick()
    assert scheduler.stopped == [(job, 1)]
    scheduler.answer = done(100, TrainerResult.SUCCEEDED)  # it reached the end before it saw the stop
    control.tick()
    final = store.get(job)
    assert final.state is JobState.CANCELLED and final.released and final.step == 100, final.message
    assert (job, 1) not in scheduler.live


def test_a_tpu_job_is_placed_and_launched_on_its_slices_hosts(store: JobStore, tmp_path: Path) -> None:
    scheduler = ScriptedScheduler(answer=running(1))
    control = controller(store, scheduler, tmp_path, [0.0])
    job = submit(store, hosts=0, accelerator=job_pb2.Accelerator(kind=job_pb2.Accelerator.TPU, tpu_type="v4-32")).job_id
    control.tick()
    assert scheduler.placements[job] == Placement(hosts=4, tpu=tpu_slice("v4-32")) and scheduler.launched == [(job, 1)]
    assert store.get(job).message == "placed on one v4-32 slice (4 host(s) × 4 chips)"


def test_a_restarted_server_counts_workers_that_died_with_it(store: JobStore, tmp_path: Path) -> None:
    clock, scheduler = [0.0], ScriptedScheduler(answer=running(50))
    first = controller(store, scheduler, tmp_path, clock)
    job = submit(store).job_id
    first.tick(), first.tick()
    assert store.get(job).state is JobState.RUNNING
    scheduler.live.clear()  # the server dies, and its embedded Ray's workers with it
    second = controller(store, scheduler, tmp_path, clock, embedded_ray=True)
    second.tick()
    restarting = store.get(job)
    assert (restarting.state, restarting.attempt, restarting.preemptions, restarting.restarts) == (JobState.RESTARTING, 2, 1, 0)
    assert "gone when the control plane restarted (the embedded Ray's workers die with the server)" in restarting.message
    assert scheduler.launched == [(job, 1)]  # the new attempt is launched on the next tick, once placed
    second.tick()
    assert scheduler.launched == [(job, 1), (job, 2)]
    second.tick()
    assert store.get(job).state is JobState.RUNNING
    assert [to for _, to, _ in store.transitions(job)] == ["QUEUED", "STARTING", "RUNNING", "RESTARTING", "RUNNING"]


def test_a_restarted_server_never_relaunches_a_cancelled_job(store: JobStore, tmp_path: Path) -> None:
    clock, scheduler = [0.0], ScriptedScheduler(answer=running(50))
    first = controller(store, scheduler, tmp_path, clock)
    gone, alive = submit(store).job_id, submit(store).job_id
    first.tick(), first.tick()
    for job in (gone, alive):
        store.request_cancel(job, checkpoint=True)  # then the server dies before it sends the stops
    scheduler.live.discard((gone, 1))  # this job's workers died with it; the other's survive (external Ray)
    second = controller(store, scheduler, tmp_path, clock)
    second.tick()
    ended = store.get(gone)
    assert ended.state is JobState.CANCELLED and ended.released and "no live workers" in ended.message, ended.message
    assert scheduler.stopped == [(alive, 1)] and store.get(alive).state is JobState.RUNNING  # told to stop, not relaunched
    scheduler.answer = done(60, TrainerResult.CANCELLED)
    second.tick()
    assert store.get(alive).state is JobState.CANCELLED
    assert scheduler.launched == [(gone, 1), (alive, 1)] and not scheduler.live  # nothing launched after the restart


def test_crashes_restart_within_max_restarts_then_fail(store: JobStore, tmp_path: Path) -> None:
    clock, scheduler = [0.0], ScriptedScheduler(answer=running(5))
    control = controller(store, scheduler, tmp_path, clock)
    job = submit(store, max_restarts=1).job_id
    control.tick(), control.tick()
    scheduler.dead = "worker died: SIGKILL"
    control.tick()
    assert (store.get(job).state, store.get(job).restarts) == (JobState.RESTARTING, 1)
    control.tick()  # relaunches attempt 2, whose first poll finds it dead too
    failed = store.get(job)
    assert failed.state is JobState.FAILED and "worker lost 2 times (max_restarts 1)" in failed.message, failed.message
    assert scheduler.launched == [(job, 1), (job, 2)] and failed.released


def test_cancel_goes_through_the_transition_writer(store: JobStore) -> None:
    job = submit(store).job_id
    cancelled = store.request_cancel(job, checkpoint=False)
    assert cancelled.state is JobState.CANCELLED and cancelled.cancel_requested
    assert store.transitions(job)[-1] == ("QUEUED", "CANCELLED", "cancelled while queued")
    with pytest.raises(FailedPrecondition, match="already ended: CANCELLED"):
        store.request_cancel(job, checkpoint=False)
