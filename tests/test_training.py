"""End-to-end behaviour of the trainer: learning, resuming, and sharding over devices."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from tests.helpers import DATA, SHRINK, TINY_CONFIG, data_overrides
from tests.step_helpers import split_checkpoints
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.events import read_events
from workers.training.setup import build_training
from workers.training.sharding import to_global_batch
from workers.training.step import Batch


def _policy_target_entropy(policy: np.ndarray) -> float:
    """Mean entropy of the search distributions: the floor of the policy cross-entropy."""
    p = np.maximum(policy, 0.0)
    return float(np.mean(-np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=1)))


def test_model_overfits_one_fixed_batch() -> None:
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, "training.optimizer=ADAM", "training.weight_decay=0", "training.max_grad_norm=0",
                                          "training.lr_values=[0.003]"]))
    raw = read_chunk(DATA / "lc0-selfplay" / "game_000001.gz")[:32]
    host_batch = Batch.from_decoded(decode_records(raw))
    floor = _policy_target_entropy(host_batch.policy)
    mesh, _, steps, state = build_training(job, schedule=lambda step: 0.003)
    batch = to_global_batch(mesh, host_batch)

    def excess_loss() -> float:
        # Total loss minus the policy target's entropy, the part a perfect fit removes.
        return float(steps.evaluate(state.params, state.batch_stats, batch)["total_loss"]) - floor

    before = excess_loss()
    sums = steps.zero_sums()
    for _ in range(300):
        state, sums = steps.train(state, sums, batch)
    after = excess_loss()
    assert after <= 0.1 * before, (before, after)


def _run_cli(out: Path, overrides: list[str], devices: int = 1) -> subprocess.CompletedProcess:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    args = [sys.executable, "-m", "service.cli", "run", str(TINY_CONFIG), "--out", str(out)]
    for override in overrides:
        args += ["--set", override]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.mark.slow
def test_resume_continues_exactly_like_a_straight_run(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    common = [*SHRINK, *data_overrides(generated_data), "training.train_avg_report_steps=1", "training.test_steps=100",
              "training.checkpoint_steps=0"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _run_cli(straight, [*common, "training.total_steps=8"])
    _run_cli(resumed, [*common, "training.total_steps=4"])  # ends at step 4 with a checkpoint
    _run_cli(resumed, [*common, "training.total_steps=4"])  # a new process resumes: steps 5..8
    losses = {}
    for out in (straight, resumed):
        events = [e for e in read_events(out / "events.jsonl") if e["kind"] == "train"]
        losses[out.name] = {e["step"]: e["metrics"]["total_loss"] for e in events}
    # Same batches in the same order → the same loss at every step, before and after the restart.
    assert sorted(losses["resumed"]) == list(range(1, 9))
    np.testing.assert_allclose([losses["resumed"][s] for s in range(1, 9)], [losses["straight"][s] for s in range(1, 9)], rtol=1e-5)
    a, b = (_load_params(out, 8) for out in (straight, resumed))
    for path, x in a.items():
        np.testing.assert_allclose(b[path], x, rtol=1e-5, atol=1e-6, err_msg=path)


def _load_params(out: Path, step: int) -> dict[str, np.ndarray]:
    """Parameters of a checkpoint, flattened to path → array (restored without a target)."""
    import orbax.checkpoint as ocp

    restored = ocp.StandardCheckpointer().restore((out / "checkpoints" / str(step) / "state").absolute())
    flat = jax.tree_util.tree_flatten_with_path(restored["params"])[0]
    return {jax.tree_util.keystr(path): np.asarray(value) for path, value in flat}


@pytest.mark.slow
def test_one_device_and_four_devices_give_the_same_losses(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    common = [*SHRINK, *data_overrides(generated_data), "training.total_steps=6", "training.train_avg_report_steps=1",
              "training.test_steps=3"]
    runs = {}
    for devices in (1, 4):
        out = tmp_path / f"d{devices}"
        _run_cli(out, common, devices=devices)
        events = read_events(out / "events.jsonl")
        state = next(e for e in events if e["kind"] == "state")
        assert state["devices"] == devices
        runs[devices] = [(e["kind"], e["step"], e["metrics"]["total_loss"]) for e in events if e["kind"] in ("train", "test")]
    assert [r[:2] for r in runs[1]] == [r[:2] for r in runs[4]]
    np.testing.assert_allclose([r[2] for r in runs[4]], [r[2] for r in runs[1]], rtol=2e-4)


@pytest.mark.slow
def test_cli_runs_the_shipped_tiny_config_shrunk(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    out = tmp_path / "job"
    result = _run_cli(out, [*SHRINK, *data_overrides(generated_data), "training.total_steps=4", "training.train_avg_report_steps=2",
                            "training.test_steps=2", "training.checkpoint_steps=2", "training.validation_steps=3",
                            f"dataset.input_validation={generated_data['test']}"])
    events = read_events(out / "events.jsonl")
    kinds = [(e["kind"], e["step"]) for e in events]
    # Legacy cadence: a test before training, reports and tests at 2 and 4, validation at 3 and at the end,
    # checkpoints at 2 and 4.
    assert split_checkpoints([k for k in kinds if k[0] != "state"]) == split_checkpoints([
        ("test", 0), ("train", 2), ("test", 2), ("checkpoint", 2), ("validation", 3),
        ("train", 4), ("test", 4), ("validation", 4), ("checkpoint", 4)])
    validation = next(e for e in events if e["kind"] == "validation")
    # One sequential pass over the validation files: every full batch of their records.
    records = sum(len(read_chunk(p)) for p in sorted(generated_data["test"].iterdir()))
    assert validation["batches"] == records // 16
    assert all({"time", "step", "kind", "metrics"} <= e.keys() for e in events)
    train = [e for e in events if e["kind"] == "train"]
    assert {"policy_loss", "value_loss", "moves_left_loss", "total_loss", "learning_rate", "grad_norm", "positions_per_s"} <= train[0]["metrics"].keys()
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.isdigit()) == ["2", "4"]
    assert (out / "spec.textproto").read_text().count("batch_size: 16") == 1
    assert "checkpoints" in result.stdout


def test_bad_config_exits_2_with_the_field_path(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "service.cli", "run", str(TINY_CONFIG), "--set", "training.batch_size=-1",
                             "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "training.batch_size: must be > 0 (got -1)" in result.stderr


def test_stop_request_ends_the_run_after_a_step_with_a_checkpoint(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    from workers.events import EventBus
    from workers.layout import JobPaths
    from workers.training.loop import StopRequest, run_training

    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, *data_overrides(generated_data), "training.total_steps=50",
                                          "training.train_avg_report_steps=1", "training.checkpoint_steps=0"]))
    stop = StopRequest()
    seen: list[tuple[str, int, str]] = []

    def on_event(event) -> None:  # stop as soon as step 3 is reported
        seen.append((event.kind, event.step, event.info.get("state", "")))
        if event.kind == "train" and event.step == 3:
            stop.request("CANCELLED")

    bus = EventBus()
    bus.subscribe(on_event)
    state = run_training(job, JobPaths(tmp_path), bus, stop)
    assert int(state.step) == 3
    assert seen[-1] == ("state", 3, "CANCELLED")
    assert ("checkpoint", 3, "") in seen
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit()) == ["3"]
