"""resources.accelerator: TPU slice types → hosts × chips, and the rules checked once at resolve.

The slice table is checked against Cloud TPU's published shapes (the literals below) and
against Ray's own arithmetic for the same types (`ray._private.accelerators.tpu`, an
independent implementation that Ray's TPU autodetection uses).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ray._private.accelerators import tpu as ray_tpu

from lc0train import job_pb2
from tests.service_harness import tiny_spec
from workers.config.accelerators import Placement, placement_of, tpu_slice
from workers.config.problems import ConfigError
from workers.config.resolve import resolve

Kind = job_pb2.Accelerator.Kind

# (type, pod type as Cloud TPU and Ray name it, hosts, chips per host, JAX devices per host)
SLICES = [
    ("v2-8", "v2-8", 1, 4, 8),
    ("v3-32", "v3-32", 4, 4, 8),
    ("v4-8", "v4-8", 1, 4, 4),
    ("v4-16", "v4-16", 2, 4, 4),
    ("v4-32", "v4-32", 4, 4, 4),
    ("v5p-128", "v5p-128", 16, 4, 4),
    ("v5e-1", "v5litepod-1", 1, 1, 1),
    ("v5e-8", "v5litepod-8", 1, 8, 8),
    ("v5e-16", "v5litepod-16", 4, 4, 4),
    ("V5LITEPOD-256", "v5litepod-256", 64, 4, 4),
    ("v6e-4", "v6e-4", 1, 4, 4),
    ("v6e-64", "v6e-64", 16, 4, 4),
]


@pytest.mark.parametrize(("tpu_type", "pod_type", "hosts", "chips_per_host", "devices_per_host"), SLICES)
def test_slice_types_give_hosts_and_chips(tpu_type: str, pod_type: str, hosts: int, chips_per_host: int, devices_per_host: int) -> None:
    tpu = tpu_slice(tpu_type)
    assert (tpu.pod_type, tpu.hosts, tpu.chips_per_host, tpu.devices_per_host) == (pod_type, hosts, chips_per_host, devices_per_host)
    assert tpu.head_resource == f"TPU-{pod_type}-head"
    # Ray's arithmetic for the same type: total chips, and the chips each host of it shows.
    assert tpu.hosts * tpu.chips_per_host == ray_tpu.get_total_chips_from_accelerator_type(pod_type)
    assert tpu.chips_per_host == ray_tpu.get_num_tpu_visible_chips_per_host(pod_type)


@pytest.mark.parametrize(("tpu_type", "reason"), [
    ("v4", "not a TPU slice type"),
    ("v9-8", "unknown TPU generation 'v9'"),
    ("v4-7", "count TensorCores, 2 per chip"),
    ("v6e-2", "neither a one-host v6e slice"),
    ("v4-12", "whole hosts of 4 chips"),
])
def test_impossible_slice_types_say_why(tpu_type: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        tpu_slice(tpu_type)


def _resources(**fields: object) -> job_pb2.ResourceConfig:
    accelerator = job_pb2.Accelerator(kind=fields.pop("kind", Kind.CPU), tpu_type=str(fields.pop("tpu_type", "")))
    return job_pb2.ResourceConfig(accelerator=accelerator, **fields)  # type: ignore[arg-type]


def test_placements_of_cpu_gpu_and_tpu_jobs() -> None:
    assert placement_of(_resources()) == Placement(hosts=1)
    assert placement_of(_resources(hosts=3, devices_per_host=4)) == Placement(hosts=3)  # CPU devices are not reserved
    assert placement_of(_resources(kind=Kind.GPU, hosts=2, devices_per_host=8)) == Placement(hosts=2, gpus_per_host=8)
    assert placement_of(_resources(kind=Kind.TPU, tpu_type="v4-32")) == Placement(hosts=4, tpu=tpu_slice("v4-32"))
    # hosts and devices_per_host may be spelt out when they agree
    assert placement_of(_resources(kind=Kind.TPU, tpu_type="v4-32", hosts=4, devices_per_host=4)).hosts == 4


@pytest.mark.parametrize(("fields", "path", "reason"), [
    ({"kind": Kind.GPU}, "resources.devices_per_host", "at least 1"),
    ({"kind": Kind.TPU}, "resources.accelerator.tpu_type", "required for kind: TPU"),
    ({"kind": Kind.TPU, "tpu_type": "v4-31"}, "resources.accelerator.tpu_type", "count TensorCores"),
    ({"kind": Kind.TPU, "tpu_type": "v4-32", "hosts": 2}, "resources.hosts", "is 2 but a v4-32 slice has 4 host"),
    ({"kind": Kind.TPU, "tpu_type": "v5e-16", "devices_per_host": 8}, "resources.devices_per_host", "has 4 devices"),
    ({"kind": Kind.GPU, "devices_per_host": 1, "tpu_type": "v4-8"}, "resources.accelerator.tpu_type", "only applies to kind: TPU"),
])
def test_bad_accelerators_name_the_field(fields: dict, path: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        placement_of(_resources(**fields))
    assert [p for p, _ in caught.value.problems] == [path]
    assert reason in caught.value.problems[0][1]


def test_resolve_derives_a_tpu_jobs_hosts_and_refuses_bad_accelerators(generated_data: dict[str, Path]) -> None:
    job = resolve(tiny_spec(generated_data, "resources.accelerator.kind=TPU", 'resources.accelerator.tpu_type="v5e-16"'))
    assert job.hosts == 4 and job.placement == Placement(hosts=4, tpu=tpu_slice("v5e-16"))
    with pytest.raises(ConfigError, match="resources.accelerator.tpu_type"):
        resolve(tiny_spec(generated_data, "resources.accelerator.kind=TPU", 'resources.accelerator.tpu_type="v5e-9"'))
