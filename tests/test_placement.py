"""Placement on a simulated Ray cluster: TPU slices, GPU hosts, and what is refused at submit.

The test cluster (tests/service_harness.py) gets nodes that carry what Ray's TPU detection
gives real TPU VMs: a `TPU` resource of 4 chips, `TPU-v4-16-head` on worker 0, and the
`ray.io/tpu-*` labels (set as an autoscaler sets them): two v4-16 slices of two hosts each
and a one-host v4-8; and two nodes of 2 fake GPUs. No TPU or GPU exists here, so the trainer never runs: what is
checked is where the placement groups' bundles land (Ray's own record of them), which is
where `Scheduler.launch` puts actor i (bundle i). Submit refusals go through a real
loopback gRPC server.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest

from lc0train import job_pb2
from lc0train import service_pb2 as Q
from service._internal import placement
from service._internal.scheduler import Scheduler
from tests.service_harness import RayCluster, start_ray, tiny_spec
from tests.submit_server import RunningSubmitServer
from workers.config.accelerators import Placement, tpu_slice

pytestmark = pytest.mark.slow

SLICES = ("slice-a", "slice-b")
V4_16 = Placement(hosts=2, tpu=tpu_slice("v4-16"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    head = start_ray()
    before = _alive()
    nodes: list[subprocess.Popen] = []

    def add(*flags: str, labels: dict[str, str] | None = None) -> None:
        # One at a time: raylets started together on a busy 2-core machine miss their 30 s start-up limit.
        nodes.append(head.add_node(1, *flags, "--object-store-memory=100000000", labels=labels))  # placement only: no objects
        _until(lambda: _alive() == before + len(nodes), "a fake TPU or GPU node did not join")

    try:
        for _ in range(2):
            add("--num-gpus=2")
        for name in SLICES:
            for worker in range(2):
                resources = {"TPU": 4, **({"TPU-v4-16-head": 1} if worker == 0 else {})}
                add(f"--resources={json.dumps(resources)}", labels={placement.SLICE_NAME: name, placement.WORKER_ID: str(worker),
                                                                    placement.POD_TYPE: "v4-16", placement.TOPOLOGY: "2x2x2"})
        add('--resources={"TPU": 4, "TPU-v4-8-head": 1}', labels={placement.SLICE_NAME: "one-host", placement.WORKER_ID: "0",
                                                                  placement.POD_TYPE: "v4-8", placement.TOPOLOGY: "2x2x1"})
        yield head
    finally:
        for node in nodes:
            node.terminate()  # all drain at once
        for node in nodes:
            head.stop_node(node)
        deadline = time.monotonic() + 60  # later modules must not place jobs on departed nodes
        while _alive() > before and time.monotonic() < deadline:
            time.sleep(0.5)


def _alive() -> int:
    import ray

    return len([n for n in ray.nodes() if n["Alive"]])


def _until(condition: Any, message: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def _placed(scheduler: Scheduler, job: Placement) -> tuple[str, list[dict[str, Any]]]:
    """Reserves like the controller (one step per tick) until placed: (job id, each bundle's resources and node)."""
    import ray
    from ray.util.placement_group import placement_group_table

    job_id = f"place-{uuid.uuid4().hex[:8]}"
    _until(lambda: scheduler.reserve(job_id, job), f"{job_id} was not placed")
    table = placement_group_table(placement.find_group(f"lc0-{job_id}"))
    nodes = {n["NodeID"]: n for n in ray.nodes()}
    return job_id, [{"resources": table["bundles"][i], "node": nodes[table["bundles_to_node_id"][i]]} for i in range(len(table["bundles"]))]


def _slice_hosts(bundles: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(b["node"]["Labels"].get(placement.SLICE_NAME, ""), b["node"]["Labels"].get(placement.WORKER_ID, "")) for b in bundles]


def test_tpu_jobs_get_one_whole_slice_each_host_i_on_worker_i(cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler = Scheduler()
    assert placement.SLICE_GROUP_API is not None, "the installed Ray has ray.util.tpu.SlicePlacementGroup"
    first, bundles = _placed(scheduler, V4_16)  # through ray.util.tpu.SlicePlacementGroup
    (name, _), _ = _slice_hosts(bundles)
    assert _slice_hosts(bundles) == [(name, "0"), (name, "1")] and name in SLICES
    assert len({b["node"]["NodeID"] for b in bundles}) == 2
    assert all(b["resources"] == {"CPU": 1.0, "TPU": 4.0} for b in bundles)

    with monkeypatch.context() as patch:  # a Ray without SlicePlacementGroup: a plain group with the same selectors
        patch.setattr(placement, "SLICE_GROUP_API", None)
        second, bundles = _placed(scheduler, V4_16)
    (other,) = set(SLICES) - {name}
    assert _slice_hosts(bundles) == [(other, "0"), (other, "1")], "the second job gets the other, whole slice"

    # Both slices are taken: a third job claims neither (its head claim waits) and is not unschedulable.
    third = f"place-{uuid.uuid4().hex[:8]}"
    for _ in range(10):
        assert not scheduler.reserve(third, V4_16)
        time.sleep(0.2)
    assert placement.find_group(f"lc0-{third}") is None and scheduler.unplaceable(V4_16) == ""
    scheduler.release(first, 0, 2)
    assert placement.find_group(f"lc0-{first}") is None and placement.find_group(f"lc0-{first}-head") is None
    _until(lambda: scheduler.reserve(third, V4_16), "the freed slice went to the waiting job")
    from ray.util.placement_group import placement_group_table
    import ray

    table = placement_group_table(placement.find_group(f"lc0-{third}"))
    labels = {n["NodeID"]: n["Labels"] for n in ray.nodes()}
    assert [labels[table["bundles_to_node_id"][i]][placement.SLICE_NAME] for i in range(2)] == [name, name]
    for job in (second, third):
        scheduler.release(job, 0, 2)


def test_a_one_host_slice_is_one_node_of_its_type(cluster: RayCluster) -> None:
    scheduler = Scheduler()
    job_id, bundles = _placed(scheduler, Placement(hosts=1, tpu=tpu_slice("v4-8")))
    try:
        assert _slice_hosts(bundles) == [("one-host", "0")] and bundles[0]["resources"] == {"CPU": 1.0, "TPU": 4.0}
    finally:
        scheduler.release(job_id, 0, 1)


def test_gpu_jobs_get_one_bundle_of_their_gpus_per_host(cluster: RayCluster) -> None:
    scheduler = Scheduler()
    job_id, bundles = _placed(scheduler, Placement(hosts=2, gpus_per_host=2))
    try:
        assert [b["resources"] for b in bundles] == [{"CPU": 1.0, "GPU": 2.0}] * 2
        assert len({b["node"]["NodeID"] for b in bundles}) == 2, "one bundle per host"
        assert all(b["node"]["Resources"].get("GPU") == 2.0 for b in bundles)
    finally:
        scheduler.release(job_id, 0, 2)


@pytest.fixture(scope="module")
def submit_server(cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory, generated_data: dict[str, Path]) -> Iterator[RunningSubmitServer]:
    running = RunningSubmitServer(tmp_path_factory.mktemp("placement"), [generated_data["train"].parent], Scheduler().impossible)
    yield running
    running.close()


def _submit(server: RunningSubmitServer, spec: job_pb2.JobSpec, validate_only: bool = False) -> Q.SubmitJobResponse:
    return server.stub.SubmitJob(Q.SubmitJobRequest(spec=spec, validate_only=validate_only))


@pytest.mark.parametrize(("overrides", "path", "reason"), [
    (("resources.accelerator.kind=GPU", "resources.devices_per_host=4"), "resources.devices_per_host", "the most GPUs on a node: 2"),
    (("resources.accelerator.kind=TPU", 'resources.accelerator.tpu_type="v4-32"'), "resources.accelerator.tpu_type",
     "no whole v4-32 slice"),
])
def test_jobs_no_node_can_hold_are_refused_at_submit_naming_the_field(submit_server: RunningSubmitServer, generated_data: dict[str, Path],
                                                                      overrides: tuple[str, ...], path: str, reason: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _submit(submit_server, tiny_spec(generated_data, *overrides))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{path}: " in caught.value.details() and reason in caught.value.details()
    assert submit_server.stub.ListJobs(Q.ListJobsRequest()).jobs == [], "nothing is stored"


def test_jobs_the_cluster_can_hold_are_accepted_even_when_it_is_short_of_hosts(submit_server: RunningSubmitServer,
                                                                                 generated_data: dict[str, Path]) -> None:
    for overrides in (("resources.accelerator.kind=TPU", 'resources.accelerator.tpu_type="v4-16"'),
                      ("resources.accelerator.kind=GPU", "resources.devices_per_host=2", "resources.hosts=3")):  # waits for a third
        _submit(submit_server, tiny_spec(generated_data, *overrides), validate_only=True)
