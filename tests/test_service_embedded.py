"""The embedded default (`lc0-train serve` without --ray-address): placement, and a server SIGKILL.

A fresh server starts its own Ray, so these tests pay its start-up: they run one chain of
three server processes on one database. Its workers die with the server (the README says so);
the next server counts the lost attempt and resumes it, and a cancel recorded before a kill
is obeyed after the restart: the job ends CANCELLED without training on.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from lc0train import service_pb2 as Q
from tests.service_harness import ServerProcess, state_name, tiny_spec, wait_for

PLACEMENT_LIMIT_S = 30.0  # submit → RUNNING on a fresh embedded server (issue 18: minutes before the fix)
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def _seconds_to_running(db: Path, job_id: str, since: str) -> float:
    """Seconds from the job's latest `since` transition to the RUNNING one after it, from the transitions table."""
    with sqlite3.connect(db) as conn:
        path = conn.execute("SELECT to_state, time FROM transitions WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
    start = max(i for i, (state, _) in enumerate(path) if state == since)
    return next(t for state, t in path[start:] if state == "RUNNING") - path[start][1]


def _trainers_under(pid: int) -> set[int]:
    """The Ray trainer actor processes descended from `pid` (the embedded Ray runs under the server)."""
    parents, names = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                names[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    def descends(p: int) -> bool:
        while p > 1:
            p = parents.get(p, 0)
            if p == pid:
                return True
        return False
    return {p for p, name in names.items() if "TrainerActor" in name and descends(p)}


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pids: set[int], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        assert time.monotonic() < deadline, f"workers {sorted(p for p in pids if _alive(p))} outlived the server"
        time.sleep(0.5)


def _events(job_dir: str) -> list[dict]:
    return [json.loads(line) for line in (Path(job_dir) / "events.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_fresh_embedded_server_places_at_once_counts_a_kill_and_obeys_a_cancel_across_one(
        tmp_path: Path, generated_data: dict[str, Path]) -> None:
    db = tmp_path / "state" / "jobs.sqlite3"
    first = ServerProcess(tmp_path, None)
    short = tiny_spec(generated_data, "training.total_steps=20", "training.train_avg_report_steps=10", "training.test_steps=1000",
                      "training.checkpoint_steps=10")
    long = tiny_spec(generated_data, "training.total_steps=1000000", "training.train_avg_report_steps=50",
                     "training.test_steps=10000000", "training.checkpoint_steps=200")
    one = first.stub.SubmitJob(Q.SubmitJobRequest(spec=short)).job
    assert state_name(wait_for(first.stub, one.job_id, lambda j: state_name(j) in TERMINAL)) == "SUCCEEDED"
    two = first.stub.SubmitJob(Q.SubmitJobRequest(spec=long)).job
    wait_for(first.stub, two.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 250)
    waits = [_seconds_to_running(db, job.job_id, "QUEUED") for job in (one, two)]
    print(f"submit → RUNNING: {waits[0]:.1f} s, {waits[1]:.1f} s")
    assert max(waits) <= PLACEMENT_LIMIT_S, f"submit → RUNNING took {waits} s"

    # SIGKILL: the embedded Ray's workers die with the server ...
    workers = _trainers_under(first.process.pid)
    assert workers, "no trainer process under the server"
    assert first.kill() == -signal.SIGKILL
    _wait_dead(workers)
    # ... and the next server counts the lost attempt, with its cause, and resumes it.
    second = ServerProcess(tmp_path, None)
    resumed = wait_for(second.stub, two.job_id, lambda j: state_name(j) == "RUNNING" and j.attempt == 2)
    assert (resumed.preemptions, resumed.restarts) == (1, 0), resumed.message
    rewait = _seconds_to_running(db, two.job_id, "RESTARTING")  # placement again, on the new server's Ray
    print(f"RESTARTING → RUNNING after the restart: {rewait:.1f} s")
    assert rewait <= PLACEMENT_LIMIT_S, f"RESTARTING → RUNNING took {rewait:.1f} s"
    with sqlite3.connect(db) as conn:
        reasons = [r for (r,) in conn.execute("SELECT reason FROM transitions WHERE job_id = ? AND to_state = 'RESTARTING'",
                                              (two.job_id,))]
    assert len(reasons) == 1 and "gone when the control plane restarted (the embedded Ray's workers die with the server)" in reasons[0]
    starts = [e["step"] for e in _events(two.job_dir) if e["kind"] == "state" and e.get("state") == "RUNNING"]
    assert len(starts) == 2 and starts[0] == 0 and starts[1] >= 200 and starts[1] % 200 == 0, starts

    # Cancel, then SIGKILL the server at once: the restarted server must not train on.
    wait_for(second.stub, two.job_id, lambda j: j.step >= starts[1] + 50)
    workers = _trainers_under(second.process.pid)
    second.stub.CancelJob(Q.CancelJobRequest(job_id=two.job_id))
    assert second.kill() == -signal.SIGKILL
    _wait_dead(workers)
    seen = len(_events(two.job_dir))
    third = ServerProcess(tmp_path, None)
    try:
        final = wait_for(third.stub, two.job_id, lambda j: state_name(j) in TERMINAL, timeout=60)
        assert state_name(final) == "CANCELLED" and final.cancel_requested and final.attempt == 2, final.message
        time.sleep(2)  # anything launched by mistake would have started by now
        assert not _trainers_under(third.process.pid), "a trainer runs for a cancelled job"
        later = _events(two.job_dir)[seen:]
        assert not [e for e in later if e["kind"] == "train" or e.get("state") == "RUNNING"], later
    finally:
        assert third.kill(signal.SIGTERM) == 0
    assert not [p for p in workers if _alive(p)]
