"""Multi-host training through the service: a hosts=2 job on a two-node Ray cluster.

Each node is a "host": the job's placement group spreads its two actors over both nodes,
each actor is one JAX process (CPU, gloo collectives) and one jitted step runs over the
global mesh. A preempted host makes both processes checkpoint at the same step and stop; a
crashed one makes both restart from the latest checkpoint; each process resumes its own
data stream. Both processes share the compilation cache on the storage, so a second
attempt loads the programs the first one compiled.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from lc0train import service_pb2 as Q
from service._internal.scheduler import worker_pid
from tests.service_harness import RunningServer, server_config, start_ray, state_name, tiny_spec, wait_for

TOTAL = 400
CHECKPOINT_STEPS = 100


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    import ray

    cluster = start_ray()
    node = cluster.add_node(num_cpus=2)
    try:
        deadline = time.monotonic() + 120
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.monotonic() < deadline, "the second Ray node did not join"
            time.sleep(0.5)
        tmp = tmp_path_factory.mktemp("multihost")
        running = RunningServer(server_config(tmp, compile_cache=tmp / "storage" / "compile_cache"))
        yield running
        running.close()
    finally:
        cluster.stop_node(node)
        deadline = time.monotonic() + 60  # later modules must not place jobs on the departed node
        while len([n for n in ray.nodes() if n["Alive"]]) > 1 and time.monotonic() < deadline:
            time.sleep(0.5)


def _events(job: Q.Job) -> list[dict]:
    return [json.loads(line) for line in (Path(job.job_dir) / "events.jsonl").read_text().splitlines()]


def _runs(events: list[dict]) -> list[list[dict]]:
    """The events of each trainer run (a run begins with its RUNNING state event)."""
    runs: list[list[dict]] = []
    for event in events:
        if event["kind"] == "state" and event.get("state") == "RUNNING":
            runs.append([])
        if runs:
            runs[-1].append(event)
    return runs


def _timestamp(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso).timestamp()


def _cancel_a_two_host_job(server: RunningServer, spec) -> None:
    """A second two-host job, cancelled mid-run: both processes stop at the next report and checkpoint it."""
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec)).job
    wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 60, timeout=300)
    server.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id))
    final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
    assert state_name(final) == "CANCELLED", final.message
    assert final.step % 50 == 0 and final.step < TOTAL  # a cancel is agreed on at a train report (every 50 steps)
    events = _events(final)
    assert events[-1]["state"] == "CANCELLED" and events[-1]["step"] == final.step
    latest = Path(final.checkpoint_dir) / str(final.step)
    assert len(json.loads((latest / "data" / "metadata").read_text())["processes"]) == 2


@pytest.mark.slow
def test_a_second_attempt_reaches_its_first_step_sooner_from_the_compilation_cache(server: RunningServer,
                                                                                   generated_data: dict[str, Path]) -> None:
    cache = server.config.compile_cache
    assert cache is not None
    shutil.rmtree(cache, ignore_errors=True)  # attempt 1 starts cold whichever tests ran before
    spec = tiny_spec(generated_data, "resources.hosts=2", "training.total_steps=100000", "training.train_avg_report_steps=5",
                     "training.test_steps=1000000", "training.checkpoint_steps=0")
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec)).job
    wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 5, timeout=300)
    os.kill(worker_pid(job.job_id, 1, host=1), signal.SIGTERM)  # preempted: both processes checkpoint and stop
    deadline = time.monotonic() + 300
    while len(runs := _runs(_events(job))) < 2 or not any(e["kind"] == "train" for e in runs[1]):
        assert time.monotonic() < deadline, "attempt 2 reported no step"
        time.sleep(0.2)
    server.stub.CancelJob(Q.CancelJobRequest(job_id=job.job_id, skip_checkpoint=True))
    final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120)
    assert (state_name(final), final.preemptions) == ("CANCELLED", 1), final.message

    cold, warm = (next(e for e in run if e["kind"] == "train") for run in runs[:2])
    attempt_1_ended = _timestamp(runs[0][-1]["time"])
    rewritten = sorted(p.name.split("-")[0] for p in cache.iterdir() if p.stat().st_mtime > attempt_1_ended)
    cold_compile, warm_compile = (e["phase_seconds"]["compilation"] for e in (cold, warm))
    print(f"2-host job, actor start → first step: attempt 1 {cold['startup_seconds']:.2f} s, of which the first step "
          f"{cold_compile:.2f} s (compilations per process {cold['compile_cache_misses']}); attempt 2 "
          f"{warm['startup_seconds']:.2f} s, of which the first step {warm_compile:.2f} s (cache hits per process "
          f"{warm['compile_cache_hits']}, compilations {warm['compile_cache_misses']}, written: {rewritten})")
    assert cold["compile_cache_hits"][0] == 0 and cold["compile_cache_misses"][0] > 0
    # Process 0 compiles only what attempt 1 never ran (restoring a checkpoint); the steps come from the cache, on
    # process 1 too (the programs over its own devices only, parameter initialisation, it compiles again).
    assert warm["compile_cache_hits"][0] >= 4 * warm["compile_cache_misses"][0] and "jit_train" not in rewritten
    assert warm["compile_cache_hits"][1] > 0
    # The first step (trace, compile or load, run) is what the cache shortens; the whole start-up also holds the
    # restore, which attempt 1 has not, and on a shared machine varies by more than the cache saves.
    assert warm_compile < cold_compile


@pytest.mark.slow
def test_two_host_job_trains_over_both_nodes_and_resumes_each_shard(server: RunningServer, generated_data: dict[str, Path]) -> None:
    import jax
    import numpy as np
    import orbax.checkpoint as ocp
    import ray

    spec = tiny_spec(generated_data, "resources.hosts=2", f"training.total_steps={TOTAL}", "training.train_avg_report_steps=50",
                     "training.test_steps=1000000", f"training.checkpoint_steps={CHECKPOINT_STEPS}",
                     f"dataset.input_validation={generated_data['test']}", "training.validation_steps=100")
    job = server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec)).job
    wait_for(server.stub, job.job_id, lambda j: state_name(j) == "RUNNING" and j.step >= 120, timeout=300)
    table = ray.util.placement_group_table(ray.util.get_placement_group(f"lc0-{job.job_id}"))
    assert len(set(table["bundles_to_node_id"].values())) == 2  # one host per node
    # Host 1 is preempted: both processes agree to checkpoint at the same step and stop.
    os.kill(worker_pid(job.job_id, 1, host=1), signal.SIGTERM)
    wait_for(server.stub, job.job_id, lambda j: j.attempt == 2 and state_name(j) == "RUNNING", timeout=300)
    preempted = [e for e in _events(job) if e["kind"] == "state" and e.get("state") == "PREEMPTED"]
    assert len(preempted) == 1, preempted
    resumed = wait_for(server.stub, job.job_id, lambda j: j.step >= preempted[0]["step"] + 130, timeout=300)
    # Host 0 crashes; host 1 is left stuck in a collective until the controller kills it.
    os.kill(worker_pid(job.job_id, 2, host=0), signal.SIGKILL)

    final = wait_for(server.stub, job.job_id, lambda j: state_name(j) in ("SUCCEEDED", "FAILED", "CANCELLED"), timeout=300)
    assert state_name(final) == "SUCCEEDED", final.message
    assert (final.step, final.attempt, final.preemptions, final.restarts) == (TOTAL, 3, 1, 1)

    runs = _runs(_events(final))
    assert len(runs) == 3
    checkpointed = [[e["step"] for e in run if e["kind"] == "checkpoint"] for run in runs]
    assert runs[1][0]["step"] == preempted[0]["step"] == checkpointed[0][-1]  # resumed exactly where the preemption saved
    assert runs[2][0]["step"] in checkpointed[1] and runs[2][0]["step"] <= resumed.step + CHECKPOINT_STEPS
    for run in runs:  # events come from process 0 only: each checkpoint and report once per run
        for kind in ("checkpoint", "train"):
            steps = [e["step"] for e in run if e["kind"] == kind]
            assert steps and len(steps) == len(set(steps)), (kind, steps)
        assert run[0]["devices"] == 2
    validations = [e for run in runs for e in run if e["kind"] == "validation"]
    assert validations and all(e["batches"] > 0 for e in validations)  # the shorter validation shard ends each pass

    checkpoints = Path(final.checkpoint_dir)
    assert not [p.name for p in checkpoints.iterdir() if not p.name.isdigit()]  # every save committed
    latest = checkpoints / str(TOTAL)
    cursors = json.loads((latest / "data" / "metadata").read_text())["processes"]
    assert len(cursors) == 2
    train = [c["train"] for c in cursors]
    num_train_files = len(list(generated_data["train"].iterdir()))
    assert all(c["num_files"] == num_train_files for c in train)  # each process is dealt its share of all files
    assert [(c["process_index"], c["process_count"]) for c in train] == [(0, 2), (1, 2)]
    assert all(c["epoch"] > 0 or c["offset"] > 0 for c in train)  # both processes read
    # Written by two processes over a 2-device mesh, restorable by one process onto one device.
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with ocp.StandardCheckpointer() as checkpointer:
        stored = checkpointer.metadata((latest / "state").absolute()).item_metadata
        target = jax.tree_util.tree_map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), stored)
        state = checkpointer.restore((latest / "state").absolute(), target)
    assert int(state["step"]) == TOTAL
    assert all(np.isfinite(leaf).all() for leaf in jax.tree_util.tree_leaves(state["params"]))

    # After it (the cluster may hold no more than one two-host job at a time), a cancel.
    _cancel_a_two_host_job(server, spec)
