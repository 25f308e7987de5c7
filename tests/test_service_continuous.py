"""A continuous job through the service (`lc0-train serve` subprocesses on a local Ray cluster):
games arrive in batches, the control plane is SIGKILLed while the job waits and restarted,
the worker is SIGKILLed in the middle of a network; GetJob shows the cycle, Prometheus the
published networks, and no network is repeated or skipped."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import urllib.request
from pathlib import Path

import pytest

from lc0train import service_pb2 as Q
from service._internal.scheduler import worker_pid
from tests.helpers import DATA
from tests.service_harness import _free_port, start_ray, state_name, tiny_spec, wait_for
from tests.test_service_recovery import ServerProcess

GAMES = sorted((DATA / "lc0-selfplay").glob("*.gz"))
STEPS = 400  # per network
BATCH = 3


def add_games(games: Path, first: int) -> None:
    for game in range(first, first + BATCH):
        shutil.copyfile(GAMES[game % len(GAMES)], games / f".training.{game}.gz.tmp")
        (games / f".training.{game}.gz.tmp").rename(games / f"training.{game}.gz")


def waiting_after(network: int):  # a predicate on Job
    return lambda job: f"waiting for data: 0/{BATCH} new chunks" in job.cycle and f"last published network {network}" in job.cycle


def metrics_of(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


@pytest.mark.slow
def test_continuous_job_through_server_restart_and_worker_kill(tmp_path: Path) -> None:
    ray = start_ray()
    games, test = tmp_path / "games", tmp_path / "test"
    games.mkdir()
    test.mkdir()
    for game in GAMES[:2]:
        shutil.copy(game, test)
    spec = tiny_spec({"train": games, "test": test}, f"continuous.chunks_per_network={BATCH}",
                     f"continuous.steps_per_network={STEPS}", "continuous.poll_interval_s=0.2", "dataset.num_chunks=4",
                     "dataset.allow_less_chunks=true", "training.total_steps=1000000", "training.checkpoint_steps=50",
                     "training.train_avg_report_steps=50", "training.test_steps=1000000", "training.num_test_positions=16")
    server = ServerProcess(tmp_path, ray)
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec)).job
    try:
        wait_for(server.stub, job.job_id, lambda j: f"waiting for data: 0/{BATCH} new chunks" in j.cycle, timeout=300)
        add_games(games, 1)
        wait_for(server.stub, job.job_id, waiting_after(1), timeout=300)
        assert server.kill() == -signal.SIGKILL  # the control plane dies while the job waits
        add_games(games, 4)  # the detached worker trains network 2 meanwhile
        metrics_port = _free_port()
        server = ServerProcess(tmp_path, ray, "--metrics-port", str(metrics_port))
        updates: list[Q.JobUpdate] = []
        stub = server.stub
        watcher = threading.Thread(target=lambda: updates.extend(stub.WatchJob(Q.WatchJobRequest(job_id=job.job_id))),
                                   daemon=True)
        watcher.start()
        wait_for(server.stub, job.job_id, waiting_after(2), timeout=300)
        add_games(games, 7)
        checkpoint = Path(job.checkpoint_dir) / str(2 * STEPS + 50)
        wait_for(server.stub, job.job_id, lambda j: checkpoint.is_dir(), timeout=300)
        os.kill(worker_pid(job.job_id, 1), signal.SIGKILL)  # mid-network 3
        restarted = wait_for(server.stub, job.job_id, waiting_after(3), timeout=400)
        assert (restarted.attempt, restarted.restarts, state_name(restarted)) == (2, 1, "RUNNING")
        # The controller feeds the gauges on its next tick after the report GetJob already saw.
        published = f'lc0_train_networks_published{{job="{job.job_id}"}} 3.0'
        wait_for(server.stub, job.job_id, lambda j: published in metrics_of(metrics_port), timeout=30)
        assert f'lc0_train_window_chunks{{job="{job.job_id}"}} 4.0' in metrics_of(metrics_port)
        server.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id))
        final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("CANCELLED", "FAILED", "SUCCEEDED"))
        assert state_name(final) == "CANCELLED", final.message
        watcher.join(timeout=60)
        # WatchJob streams the cycle: its reports, and the Job each time its cycle line moves on.
        assert any(u.HasField("job") and u.job.cycle.startswith("training network 3") for u in updates)
        assert [u.event.step for u in updates if u.HasField("event") and u.event.kind == "published"][-1] == 3 * STEPS
    finally:
        server.kill(signal.SIGTERM)
    events = [json.loads(line) for line in (Path(job.job_dir) / "events.jsonl").read_text().splitlines()]
    assert [(e["network"], e["step"]) for e in events if e["kind"] == "published"] == [(1, STEPS), (2, 2 * STEPS), (3, 3 * STEPS)]
    windows = {e["network"]: (Path(e["window_oldest"]).name, Path(e["window_newest"]).name)
               for e in events if e["kind"] == "cycle" and e["phase"] == "training"}
    assert windows == {1: ("training.1.gz", "training.3.gz"), 2: ("training.3.gz", "training.6.gz"),
                       3: ("training.6.gz", "training.9.gz")}
    starts = [e["step"] for e in events if e["kind"] == "state" and e.get("state") == "RUNNING"]
    assert len(starts) == 2 and 2 * STEPS + 50 <= starts[1] < 3 * STEPS  # resumed mid-network 3
