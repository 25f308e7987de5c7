"""The sharding table (workers/training/sharding.py) and `resources.mesh`: the rule per leaf,
the mesh's validation, and fsdp training equal to data parallelism on 4 forced CPU devices
and across 2 gloo processes (tests/fsdp_probe.py runs each process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import AbstractMesh, PartitionSpec

from tests.helpers import ROOT, SHRINK, TINY_CONFIG
from workers.config.problems import ConfigError
from workers.config.resolve import check_devices, resolve
from workers.config.spec import load_spec
from workers.training.optim import make_optimizer, make_schedule
from workers.training.sharding import FSDP_AXIS, MIN_SHARDED_SIZE, leaf_spec, per_device_bytes, state_shardings
from workers.training.state import init_params, init_state

# SGD with momentum (an optimizer with state) and SWA after every step.
TRAINING = ("training.batch_size=32", "training.optimizer=SGD", "training.momentum=0.9", "training.lr_values=[0.003]",
            "training.weight_decay=", "training.beta_1=", "training.beta_2=", "training.swa=true", "training.swa_steps=1")
RESNET = ("model.body=BODY_RESNET", "model.filters=32", "model.residual_blocks=1", "model.se_ratio=4", "model.default_activation=RELU",
          "model.smolgen_activation=", "model.ffn_activation=")


def _job(*overrides: str):
    return resolve(load_spec(TINY_CONFIG, [*SHRINK, *overrides]))


def test_the_largest_divisible_dimension_of_a_large_leaf_is_split_over_fsdp() -> None:
    assert leaf_spec((768, 256), 2) == PartitionSpec(FSDP_AXIS, None)
    assert leaf_spec((3, 3, 112, 32), 4) == PartitionSpec(None, None, FSDP_AXIS, None)
    assert leaf_spec((100, 64, 3), 8) == PartitionSpec(None, FSDP_AXIS, None)  # 100 is not divisible by 8
    assert leaf_spec((128, 128), 2) == PartitionSpec(FSDP_AXIS, None)  # equal dimensions: the first
    assert leaf_spec((99, 101), 2) == PartitionSpec()  # no dimension divides
    assert leaf_spec((MIN_SHARDED_SIZE // 2 - 2, 2), 2) == PartitionSpec()  # small: replicated
    assert leaf_spec((MIN_SHARDED_SIZE,), 2) == PartitionSpec(FSDP_AXIS)
    assert leaf_spec((), 2) == leaf_spec((768, 256), 1) == PartitionSpec()  # scalars; pure data parallelism


def test_every_leaf_of_the_state_gets_its_shapes_sharding_and_moments_follow_their_parameter() -> None:
    # FP16 loss scale, Lookahead's slow weights over NAdamW's nested state, SWA weights and count.
    job = _job("training.precision=FP16", "training.lookahead_optimizer=true", "training.swa=true", "training.swa_steps=1")
    init = init_params(job.model, job.seed)
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    state = jax.eval_shape(lambda p: init_state(p, tx, swa=True, precision=job.precision), init.params)
    mesh = AbstractMesh((2, 4), ("data", "fsdp"))
    shardings = state_shardings(state, mesh)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    assert jax.tree_util.tree_structure(shardings) == treedef
    for x, sharding in zip(leaves, jax.tree_util.tree_leaves(shardings), strict=True):
        assert sharding.spec == leaf_spec(x.shape, 4)
    spec_of = {x.shape: s.spec for x, s in zip(leaves, jax.tree_util.tree_leaves(shardings))}
    sharded = [x for x in jax.tree_util.tree_leaves(state.params) if spec_of[x.shape] != PartitionSpec()]
    assert sharded and all(x.size >= MIN_SHARDED_SIZE for x in sharded)
    assert spec_of[state.loss_scale.scale.shape] == spec_of[state.swa_count.shape] == PartitionSpec()
    # Per-device bytes: each sharded leaf's quarter, each replicated leaf whole.
    expected = sum(x.size * 4 // (4 if spec_of[x.shape] != PartitionSpec() else 1) for x in jax.tree_util.tree_leaves(state.params))
    assert per_device_bytes(state.params, shardings.params) == expected


@pytest.mark.parametrize(("mesh", "message", "device_dependent"), [
    ({"data": 3, "fsdp": 2}, "resources.mesh: {data: 3 fsdp: 2} spans 6 devices but the job has 4", True),
    ({"data": -1, "fsdp": 3}, "resources.mesh: {data: -1 fsdp: 3}: the job's 4 devices (hosts x devices per host) are not divisible by 3", True),
    ({"data": -1, "fsdp": -1}, "resources.mesh: -1 (the devices left over) may be given to one axis only", False),
    ({"data": 2, "fsdp": -3}, "resources.mesh.fsdp: must be >= 0, or -1 for the devices left over (got -3)", False),
    ({"data": 5}, "resources.mesh: spans at least 5 devices, which do not divide the micro-batch of 48", False),
    ({"data": 3, "fsdp": 1, "hosts": 2}, "resources.mesh: spans 3 devices, which cannot be split evenly over resources.hosts 2", False),
])
def test_a_bad_mesh_is_refused_with_its_field_path(mesh: dict[str, int], message: str, device_dependent: bool) -> None:
    overrides = [f"resources.{axis}={size}" if axis == "hosts" else f"resources.mesh.{axis}={size}" for axis, size in mesh.items()]
    with pytest.raises(ConfigError) as refused:  # at submit, when devices_per_host fixes the device count or no device count fits
        _job("training.batch_size=48", *overrides, "resources.devices_per_host=4")
    assert message in str(refused.value)
    if device_dependent:  # with devices_per_host 0: refused once the runtime counts the job's 4 devices
        job = _job("training.batch_size=48", *overrides)
        with pytest.raises(ConfigError) as refused:
            check_devices(job, device_count=4, process_count=1)
        assert message in str(refused.value)


def test_the_mesh_resolves_unset_axes_and_the_rest() -> None:
    assert check_devices(_job(), 8, 1) == (8, 1)  # unset: pure data parallelism
    assert check_devices(_job("resources.mesh.fsdp=4"), 8, 1) == (2, 4)  # data unset: the rest
    assert check_devices(_job("resources.mesh.data=2", "resources.mesh.fsdp=-1"), 8, 1) == (2, 4)
    assert check_devices(_job("resources.mesh.fsdp=-1"), 8, 1) == (1, 8)
    assert check_devices(_job("resources.mesh.data=-1", "resources.mesh.fsdp=2", "resources.hosts=2",
                              "resources.devices_per_host=4"), 8, 2) == (4, 2)


def test_a_tpu_slices_devices_are_known_at_submit() -> None:
    tpu = ("training.batch_size=64", "resources.accelerator.kind=TPU", "resources.accelerator.tpu_type=v4-32")  # 4 hosts x 4 chips
    assert _job(*tpu, "resources.mesh.fsdp=8").mesh.fixed_devices == 8
    with pytest.raises(ConfigError, match=r"resources.mesh: \{data: -1 fsdp: 32\}: the job's 16 devices"):
        _job(*tpu, "resources.mesh.fsdp=32")


def _probe(out: Path, meshes: list[str], overrides: tuple[str, ...], devices: int, process: tuple[int, int, str] | None = None) -> subprocess.Popen:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    joining = ["--process", *map(str, process)] if process else []
    return subprocess.Popen([sys.executable, "-m", "tests.fsdp_probe", str(out), *meshes, *joining, "--", *overrides], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


def _assert_same_training(out: Path, seen: dict, a: str, b: str) -> None:
    """Mesh `b` trained like mesh `a`: the same losses and final state (params, moments, SWA, batch statistics)."""
    np.testing.assert_allclose(seen[b]["losses"], seen[a]["losses"], rtol=1e-5)
    first, second = (np.load(out / f"{mesh.replace(',', '_')}.npz") for mesh in (a, b))
    assert sorted(first.files) == sorted(second.files)
    for name in first.files:
        np.testing.assert_allclose(second[name], first[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("model", [(), RESNET], ids=["transformer", "resnet"])
def test_data_2_fsdp_2_trains_like_data_parallelism_on_half_the_state_bytes(tmp_path: Path, model: tuple[str, ...]) -> None:
    seen = _result(_probe(tmp_path, ["4,1", "2,2"], (*TRAINING, *model), devices=4))
    _assert_same_training(tmp_path, seen, "4,1", "2,2")
    replicated, sharded = seen["4,1"], seen["2,2"]
    # Every large matrix is split in two along its sharded dimension; pure data parallelism splits nothing.
    assert all(spec == [] for spec in replicated["specs"].values())
    large = {path: spec for path, spec in sharded["specs"].items() if np.prod(replicated["shard_shapes"][path]) >= MIN_SHARDED_SIZE}
    assert large and all("fsdp" in spec for spec in large.values()), large
    for path, spec in large.items():
        axis = spec.index("fsdp")
        assert sharded["shard_shapes"][path][axis] * 2 == replicated["shard_shapes"][path][axis], path
    ratio = sum(sharded["bytes"][k] for k in ("params", "opt_state")) / sum(replicated["bytes"][k] for k in ("params", "opt_state"))
    assert 0.45 <= ratio <= 0.6, ratio
    assert 0.45 <= sharded["bytes"]["swa"] / replicated["bytes"]["swa"] <= 0.6


@pytest.mark.slow
def test_fsdp_across_two_gloo_processes_trains_like_data_parallelism(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        coordinator = f"127.0.0.1:{s.getsockname()[1]}"
    # 2 processes x 2 devices: fsdp 4 spans both processes; data 4 is pure data parallelism over them.
    processes = [_probe(tmp_path, ["1,4", "4,1"], (*TRAINING, "resources.hosts=2"), devices=2, process=(i, 2, coordinator)) for i in range(2)]
    seen = [_result(p) for p in processes]
    assert seen[0]["1,4"]["processes"] == [[0, 0, 1, 1]]  # each process's devices hold one contiguous block of the batch
    assert seen[0]["1,4"]["losses"] == seen[1]["1,4"]["losses"]
    _assert_same_training(tmp_path, seen[0], "4,1", "1,4")
    assert seen[0]["1,4"]["bytes"]["params"] < 0.3 * seen[0]["4,1"]["bytes"]["params"]


def _run_cli(out: Path, overrides: list[str], devices: int) -> None:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    args = [sys.executable, "-m", "service.cli", "run", str(TINY_CONFIG), "--out", str(out)]
    for override in [*SHRINK, *overrides]:
        args += ["--set", override]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.slow
def test_a_sharded_job_reports_its_bytes_exports_whole_nets_and_resumes_onto_another_sharding(tmp_path: Path,
                                                                                              generated_data: dict[str, Path]) -> None:
    from tests.helpers import data_overrides
    from workers.events import read_events
    from workers.layout import JobPaths
    from workers.lc0net.export import TrainingInfo, export_net
    from workers.lc0net.netfile import read_net
    from workers.lc0net.store import load_stored

    common = [*data_overrides(generated_data), "export.enabled=true", "training.train_avg_report_steps=1", "training.test_steps=100",
              "training.checkpoint_steps=0"]
    out = tmp_path / "job"
    _run_cli(out, [*common, "training.total_steps=2", "resources.mesh.fsdp=2"], devices=4)
    running = next(e for e in read_events(out / "events.jsonl") if e["kind"] == "state")
    assert running["mesh"] == {"data": 2, "fsdp": 2}
    sizes = running["state_bytes_per_device"]
    assert 0 < sizes["params"] < sizes["opt_state"] < sizes["total"]
    # The trainer's net holds the whole weights: the same as exported again from the checkpoint in this one-device process.
    stored = load_stored(out, step=2)
    written = read_net(JobPaths(out).net(2))
    assert written.weights == export_net(stored.config, stored.params, TrainingInfo(steps=2)).weights
    # Resumed onto fsdp 4: the checkpoint's shards are re-cut on load and training goes on from step 2.
    _run_cli(out, [*common, "training.total_steps=2", "resources.mesh.fsdp=4"], devices=4)
    events = read_events(out / "events.jsonl")
    assert [e["mesh"] for e in events if e["kind"] == "state" and e.get("state") == "RUNNING"][-1] == {"data": 1, "fsdp": 4}
    assert [e["step"] for e in events if e["kind"] == "train"] == [1, 2, 3, 4]
