"""Checkpoints hold finite states only, and a `checkpoint` event means the save is committed."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.events import Event, EventBus
from workers.layout import JobPaths
from workers.training.checkpoint import Checkpointer
from workers.training.loop import run_training
from workers.training.setup import build_training


def _job(generated_data: dict[str, Path], *overrides: str):
    return resolve(load_spec(TINY_CONFIG, [*SHRINK, *data_overrides(generated_data), "training.total_steps=20", "training.test_steps=100",
                                          "training.train_avg_report_steps=20", "training.checkpoint_steps=5", "training.max_to_keep=10",
                                          *overrides]))


def _checkpoint_steps(paths: JobPaths) -> list[int]:
    return sorted(int(p.name) for p in paths.checkpoints.iterdir() if p.name.isdigit()) if paths.checkpoints.exists() else []


@pytest.mark.parametrize(("lr", "failing_step", "kept"), [
    (["training.lr_values=[1e30]"], 5, []),  # the reproduction: NaN from the first updates on
    (["training.lr_values=[0.001, 1e30]", "training.lr_boundaries=[5]"], 10, [5]),  # finite until step 5, then diverging
])
def test_a_diverged_state_is_never_checkpointed_and_the_job_fails_naming_the_step(
        tmp_path: Path, generated_data: dict[str, Path], lr: list[str], failing_step: int, kept: list[int]) -> None:
    job = _job(generated_data, *lr)
    paths = JobPaths(tmp_path)
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    with pytest.raises(FloatingPointError, match=f"non-finite train state at step {failing_step}: not checkpointed"):
        run_training(job, paths, bus)
    assert _checkpoint_steps(paths) == kept
    assert [e.step for e in events if e.kind == "checkpoint"] == kept
    # Every checkpoint on disk restores with all values finite; the newest is the one to resume from.
    target = build_training(job).state
    checkpointer = Checkpointer(paths.checkpoints, job.max_to_keep)
    try:
        assert checkpointer.latest_step() == (kept[-1] if kept else None)
        for step in kept:
            state, _ = checkpointer.restore(target, step)
            leaves = jax.tree_util.tree_leaves(jax.device_get(state))
            assert all(np.isfinite(np.asarray(x)).all() for x in leaves if np.issubdtype(np.asarray(x).dtype, np.inexact))
    finally:
        checkpointer.close()


def test_a_checkpoint_event_is_published_once_its_save_is_committed(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    job = _job(generated_data, "training.total_steps=10")
    paths = JobPaths(tmp_path)
    seen: list[tuple[int, list[int], list[str]]] = []

    def on_event(event: Event) -> None:
        if event.kind == "checkpoint":  # the steps a process started now would find committed on disk
            options = ocp.CheckpointManagerOptions(read_only=True)
            with ocp.CheckpointManager(paths.checkpoints.absolute(), options=options) as reader:
                seen.append((event.step, list(reader.all_steps()), sorted(event.metrics)))

    bus = EventBus()
    bus.subscribe(on_event)
    run_training(job, paths, bus)
    assert [step for step, _, _ in seen] == [5, 10]
    for step, committed, metrics in seen:
        assert step in committed
        assert metrics == ["checkpoint_commit_seconds", "checkpoint_save_seconds", "skipped_files"]
