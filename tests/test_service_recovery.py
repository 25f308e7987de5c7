"""Recovery: preempted, killed and frozen workers, and a control plane that dies and restarts.

Real faults on real processes: SIGTERM/SIGKILL/SIGSTOP to the Ray worker running the
trainer, SIGKILL to a `lc0-train serve` subprocess, and a server that exits right after
committing a transition (`--crash-after`, a fault-injection seam).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from lc0train import service_pb2
from service._internal.controller import ControllerSettings
from service._internal.scheduler import worker_pid
from tests.metrics_helpers import assert_wall_time_accounted, scrape_when_ended
from tests.service_harness import RunningServer, ServerProcess, server_config, start_ray, state_name, tiny_spec, wait_for

Q = service_pb2
TOTAL = 4000  # long enough to hit a running trainer, short enough to finish in seconds (tiny shrunk net)


def _spec(data: dict[str, Path]):
    return tiny_spec(data, f"training.total_steps={TOTAL}", "training.train_avg_report_steps=100", "training.test_steps=1000000",
                     "training.checkpoint_steps=1000")


def _trainer_events(job: Q.Job) -> list[dict]:
    return [json.loads(line) for line in (Path(job.job_dir) / "events.jsonl").read_text().splitlines()]


def _resumed_from(events: list[dict]) -> list[int]:
    """The step each trainer start began at (0, then the checkpoint each restart restored)."""
    return [e["step"] for e in events if e["kind"] == "state" and e.get("state") == "RUNNING"]


def _assert_checkpoints_intact(job: Q.Job) -> None:
    steps = sorted(int(p.name) for p in Path(job.checkpoint_dir).iterdir() if p.name.isdigit())
    assert steps and steps[-1] == TOTAL, steps
    for step in steps:
        assert any((Path(job.checkpoint_dir) / str(step)).iterdir())
    assert not [p.name for p in Path(job.checkpoint_dir).iterdir() if not p.name.isdigit() and "tmp" in p.name]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    start_ray()
    settings = ControllerSettings(poll_interval=0.1, startup_timeout=120, heartbeat_timeout=8, progress_timeout=300, cancel_timeout=60)
    running = RunningServer(server_config(tmp_path_factory.mktemp("recovery"), controller=settings, metrics_port=0))
    yield running
    running.close()


@pytest.mark.slow
def test_preempted_then_killed_worker_resumes_from_its_checkpoints(server: RunningServer, generated_data: dict[str, Path]) -> None:
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=_spec(generated_data))).job
    wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 1200)
    os.kill(worker_pid(job.job_id, 1), signal.SIGTERM)  # preemption: checkpoint, stop, resume
    wait_for(server.stub, job.job_id, lambda j: j.attempt == 2 and state_name(j) == "RUNNING")
    preempted = next(e for e in _trainer_events(job) if e["kind"] == "state" and e.get("state") == "PREEMPTED")["step"]
    wait_for(server.stub, job.job_id, lambda j: j.step >= preempted + 1200)
    os.kill(worker_pid(job.job_id, 2), signal.SIGKILL)  # a crash: resume from the latest periodic checkpoint
    final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"))
    assert state_name(final) == "SUCCEEDED", final.message
    assert (final.step, final.preemptions, final.restarts, final.attempt) == (TOTAL, 1, 1, 3)
    events = _trainer_events(final)
    checkpoints = [e["step"] for e in events if e["kind"] == "checkpoint"]
    assert preempted in checkpoints  # the preemption wrote a checkpoint before stopping
    starts = [i for i, e in enumerate(events) if e["kind"] == "state" and e.get("state") == "RUNNING"]
    assert len(starts) == 3
    # The killed attempt resumes from the last checkpoint committed before the kill.
    killed_after = max(e["step"] for e in events[starts[1]:starts[2]] if e["kind"] == "checkpoint")
    assert killed_after > preempted and killed_after % 1000 == 0
    assert _resumed_from(events) == [0, preempted, killed_after]
    transitions = server.server.store.transitions(job.job_id)
    reasons = [reason for _, to, reason in transitions if to == "RESTARTING"]
    assert len(reasons) == 2 and "preempted" in reasons[0] and "worker died" in reasons[1], reasons
    train_steps = [e["step"] for e in events if e["kind"] == "train"]
    assert train_steps[-1] == TOTAL and set(range(100, TOTAL + 1, 100)) <= set(train_steps)
    _assert_checkpoints_intact(final)
    # Goodput: queued, compiled (twice), tested, checkpointed, preempted once, killed once and resumed.
    samples = scrape_when_ended(server.server.metrics_port, job.job_id, "SUCCEEDED")
    assert_wall_time_accounted(samples, server.server.store, job.job_id, caused={
        "queued", "training_prep", "program_startup", "data_loading", "evaluation", "checkpoint_save",
        "wasted_progress_preemption", "wasted_progress_restart"})


@pytest.mark.slow
def test_frozen_worker_is_detected_by_the_watchdog(server: RunningServer, generated_data: dict[str, Path]) -> None:
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=_spec(generated_data))).job
    wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 1200)
    pid = worker_pid(job.job_id, 1)
    os.kill(pid, signal.SIGSTOP)
    try:
        frozen_at = time.monotonic()
        restarting = wait_for(server.stub, job.job_id, lambda j: j.attempt == 2, timeout=60)
        assert "no heartbeat" in restarting.message and time.monotonic() - frozen_at < 30, restarting.message
        final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"))
        assert state_name(final) == "SUCCEEDED" and final.restarts == 1 and final.step == TOTAL, final.message
        _assert_checkpoints_intact(final)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive(pid), "the frozen worker was not killed"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _actor_exists(ray: object, name: str) -> bool:
    try:
        ray.get_actor(name, namespace="lc0-train")  # type: ignore[attr-defined]
        return True
    except ValueError:
        return False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
def test_server_crash_after_commit_and_kill_mid_run_still_succeed(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    ray = start_ray()
    first = ServerProcess(tmp_path, ray, "--crash-after", "STARTING")
    job = first.stub.SubmitJob(Q.SubmitJobRequest(spec=_spec(generated_data))).job
    assert first.process.wait(timeout=60) == 3  # died right after committing QUEUED → STARTING, before launching
    with sqlite3.connect(tmp_path / "state" / "jobs.sqlite3") as db:
        assert db.execute("SELECT state FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone()[0] == "STARTING"

    second = ServerProcess(tmp_path, ray)  # acts on the recorded transition: launches attempt 1
    wait_for(second.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 1200)
    pid = worker_pid(job.job_id, 1)
    assert second.kill() == -signal.SIGKILL  # the control plane dies mid-run; the detached workers keep training

    third = ServerProcess(tmp_path, ray)
    try:
        assert job.job_id in [j.job_id for j in third.stub.ListJobs(Q.ListJobsRequest()).jobs]
        final = wait_for(third.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"))
        assert state_name(final) == "SUCCEEDED", final.message
        assert (final.step, final.attempt, final.restarts) == (TOTAL, 1, 0)  # re-attached, not restarted
        events = _trainer_events(final)
        assert _resumed_from(events) == [0]  # one uninterrupted trainer run
        assert len({e.get("pid") for e in events if "pid" in e} | {pid}) == 1
        _assert_checkpoints_intact(final)
    finally:
        assert third.kill(signal.SIGTERM) == 0
    with sqlite3.connect(tmp_path / "state" / "jobs.sqlite3") as db:
        path = [row[0] for row in db.execute("SELECT to_state FROM transitions WHERE job_id = ? ORDER BY id", (job.job_id,))]
    assert path == ["QUEUED", "STARTING", "RUNNING", "SUCCEEDED"]


@pytest.mark.slow
def test_a_cancel_recorded_before_a_server_kill_wins_over_the_trainer_that_finished_meanwhile(
        tmp_path: Path, generated_data: dict[str, Path]) -> None:
    import ray

    cluster = start_ray()
    first = ServerProcess(tmp_path, cluster)
    job = first.stub.SubmitJob(Q.SubmitJobRequest(spec=_spec(generated_data))).job
    wait_for(first.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 1200)
    first.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id))
    assert first.kill() == -signal.SIGKILL  # at once, before it stops the workers of the external cluster
    deadline = time.monotonic() + 120
    while not any(e.get("state") in ("SUCCEEDED", "CANCELLED") for e in _trainer_events(job)):
        assert time.monotonic() < deadline, "the trainer did not end"
        time.sleep(0.5)
    events = _trainer_events(job)
    second = ServerProcess(tmp_path, cluster)
    try:
        final = wait_for(second.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
        assert state_name(final) == "CANCELLED" and final.attempt == 1, final.message  # the cancel wins; nothing relaunched
        deadline = time.monotonic() + 30
        while _actor_exists(ray, f"lc0-{job.job_id}-a1-h0"):  # released in the tick that recorded CANCELLED
            assert time.monotonic() < deadline, "the cancelled job's actor is still there"
            time.sleep(0.5)
        assert _trainer_events(final) == events and _resumed_from(events) == [0]  # no further training
    finally:
        assert second.kill(signal.SIGTERM) == 0


@pytest.mark.slow
def test_cancels_racing_the_start_leave_consistent_records(server: RunningServer, generated_data: dict[str, Path]) -> None:
    import ray
    from ray.util.placement_group import get_placement_group

    jobs = []
    for delay in (0.0, 0.3, 1.5, 4.0):  # queued, placing, actor starting, trainer initialising
        job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=_spec(generated_data))).job
        time.sleep(delay)
        server.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id))
        jobs.append(job.job_id)
    for job_id in jobs:
        final = wait_for(server.stub, job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
        assert state_name(final) == "CANCELLED", final.message
        path = server.server.store.transitions(job_id)
        assert path[0][:2] == (None, "QUEUED") and path[-1][1] == "CANCELLED"
        assert all(prev[1] == nxt[0] for prev, nxt in zip(path, path[1:])), path  # one unbroken chain
    deadline = time.monotonic() + 30
    while True:  # every actor and placement group released
        leftovers = []
        for job_id in jobs:
            with contextlib.suppress(ValueError):
                ray.get_actor(f"lc0-{job_id}-a1-h0", namespace="lc0-train")
                leftovers.append(job_id)
            with contextlib.suppress(ValueError):
                if ray.util.placement_group_table(get_placement_group(f"lc0-{job_id}"))["state"] != "REMOVED":
                    leftovers.append(f"pg {job_id}")
        if not leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not leftovers


def _saves_in_flight(checkpoints: Path) -> list[str]:
    """Orbax's uncommitted save directories (renamed to <step> when the save commits)."""
    with contextlib.suppress(FileNotFoundError):
        return [p.name for p in checkpoints.iterdir() if "tmp" in p.name]
    return []


@pytest.mark.slow
def test_cancels_racing_a_checkpoint_leave_a_consistent_record_and_a_restorable_checkpoint(
        server: RunningServer, generated_data: dict[str, Path]) -> None:
    import jax
    import orbax.checkpoint as ocp

    # Checkpointing every step keeps an asynchronous save in flight at every moment (each save
    # waits for the previous one), so the cancel lands while a checkpoint is being written.
    spec = tiny_spec(generated_data, "training.total_steps=100000", "training.train_avg_report_steps=100",
                     "training.test_steps=1000000", "training.checkpoint_steps=1", "training.max_to_keep=2")
    jobs = {skip: server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec)).job for skip in (False, True)}
    for skip, job in jobs.items():
        wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 20)
        checkpoints = Path(job.checkpoint_dir)
        deadline = time.monotonic() + 30
        while not _saves_in_flight(checkpoints):
            assert time.monotonic() < deadline, "no save in flight"
            time.sleep(0.002)
        server.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id, skip_checkpoint=skip))
    for skip, job in jobs.items():
        final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
        assert state_name(final) == "CANCELLED", final.message
        path = server.server.store.transitions(job.job_id)
        assert [to for _, to, *_ in path] == ["QUEUED", "STARTING", "RUNNING", "CANCELLED"], path
        checkpoints = Path(final.checkpoint_dir)
        assert not _saves_in_flight(checkpoints)  # the last save committed before the workers returned
        steps = sorted(int(p.name) for p in checkpoints.iterdir())
        assert len(steps) <= 2 and steps[-1] == final.step, (steps, final.step)  # max_to_keep; the record matches the disk
        events = _trainer_events(final)
        assert events[-1]["kind"] == "state" and events[-1]["state"] == "CANCELLED" and events[-1]["step"] == final.step
        assert max(e["step"] for e in events if e["kind"] == "checkpoint") == final.step
        latest = checkpoints / str(final.step)
        with ocp.StandardCheckpointer() as checkpointer:
            state = checkpointer.restore((latest / "state").absolute())
        assert int(state["step"]) == final.step
        assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(state["params"]))
        cursors = json.loads((latest / "data" / "metadata").read_text())["processes"]
        assert len(cursors) == 1 and cursors[0]["train"]["num_files"] == len(list(generated_data["train"].iterdir()))
