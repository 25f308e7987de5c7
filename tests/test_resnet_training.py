"""Training a legacy SE-ResNet: batch statistics in the step, SWA and checkpoints; the classical value head."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from flax import nnx

from tests.step_helpers import selfplay_batch
from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from workers.training.setup import build_training
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.events import Event, EventBus
from workers.training.state import init_params
from workers.training.step import _split
from workers.layout import JobPaths
from workers.training.loop import run_training

RESNET = ("model.body=BODY_RESNET", "model.filters=8", "model.residual_blocks=1", "model.se_ratio=2", "model.default_activation=RELU",
          "model.smolgen_activation=", "model.ffn_activation=")


def _job(*overrides: str):
    return resolve(load_spec(TINY_CONFIG, [*SHRINK, *RESNET, *overrides]))


def test_micro_batches_update_the_moving_statistics_in_order() -> None:
    job = _job("training.batch_size=32", "training.num_batch_splits=2")
    mesh, init, steps, state = build_training(job)
    batch = selfplay_batch(mesh, 2, 32)
    new_state, _ = steps.train(state, steps.zero_sums(), batch)
    # Reference: run the model forward in training mode on micro-batch 0, then on micro-batch 1.
    model = nnx.merge(init.graphdef, init.params, init.batch_stats)
    model.train()
    for micro in range(2):
        model(jax.tree_util.tree_map(lambda x: x[micro], _split(batch, 2)).planes)
    expected = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
    for got, want in zip(jax.tree_util.tree_leaves(new_state.batch_stats), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    assert any(np.any(np.asarray(a) != np.asarray(b)) for a, b in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(init.batch_stats)))


def test_classical_value_head_trains() -> None:
    job = _job("model.value=VALUE_CLASSICAL", "training.batch_size=32", "training.optimizer=ADAM", "training.weight_decay=",
               "training.lr_values=[0.003]", "training.max_grad_norm=0")
    mesh, _, steps, state = build_training(job)
    batch = selfplay_batch(mesh, 2, 32)
    losses = []
    for _ in range(40):
        state, sums = steps.train(state, steps.zero_sums(), batch)
        losses.append(float(sums["value_winner_loss"]))
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.5 * losses[0], losses


def test_resnet_job_checkpoints_and_averages_batch_statistics(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    job = _job(*data_overrides(generated_data), "training.total_steps=6", "training.train_avg_report_steps=3", "training.test_steps=6",
               "training.checkpoint_steps=0", "training.swa=true", "training.swa_steps=2", "training.swa_max_n=10")
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    state = run_training(job, JobPaths(tmp_path), bus)
    initial = init_params(job.model, job.seed).batch_stats
    assert any(np.any(np.asarray(a) != np.asarray(b)) for a, b in zip(jax.tree_util.tree_leaves(state.batch_stats), jax.tree_util.tree_leaves(initial)))
    # SWA averaged the statistics too (3 snapshots: steps 2, 4, 6), so they differ from the latest ones.
    assert float(state.swa_count) == 3.0
    swa_stats, stats = jax.tree_util.tree_leaves(state.swa_batch_stats), jax.tree_util.tree_leaves(state.batch_stats)
    assert any(np.any(np.asarray(a) != np.asarray(b)) for a, b in zip(swa_stats, stats))
    weights = [e.info.get("weights") for e in events if e.kind == "test" and e.step == 6]
    assert weights == ["raw", "swa"]
    from workers.training.checkpoint import Checkpointer

    _, _, _, fresh = build_training(job)
    checkpointer = Checkpointer(tmp_path / "checkpoints", max_to_keep=1)
    restored, _ = checkpointer.restore(fresh)
    checkpointer.close()
    saved = jax.tree_util.tree_leaves((state.batch_stats, state.swa_batch_stats))
    for a, b in zip(jax.tree_util.tree_leaves((restored.batch_stats, restored.swa_batch_stats)), saved):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
