"""The one training set-up (workers.training.setup) and the step's on-device report."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from tests.step_helpers import selfplay_batch
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.events import EventBus
from workers.layout import JobPaths
from workers.training.loop import run_training
from workers.training.optim import LookaheadState, make_schedule
from workers.training.setup import build_training
from workers.training.state import param_path


def _tree_signature(tree: object) -> tuple[object, list[tuple[str, tuple[int, ...], str]]]:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return treedef, [(param_path(path), tuple(np.shape(x)), str(np.asarray(x).dtype)) for path, x in leaves]


def test_the_shared_set_up_builds_the_state_the_trainer_runs(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, *data_overrides(generated_data), "training.swa=true", "training.swa_steps=1",
                                          "training.precision=FP16", "training.lookahead_optimizer=true", "training.total_steps=2",
                                          "training.checkpoint_steps=0"]))
    built = build_training(job).state
    trained = run_training(job, JobPaths(tmp_path), EventBus())
    assert _tree_signature(built) == _tree_signature(trained)
    # The features the old test helpers left out are in the shared state.
    assert built.swa_params is not None and built.swa_count is not None and built.loss_scale is not None
    assert isinstance(built.opt_state, LookaheadState)
    assert jax.tree_util.tree_leaves(built.params)[0].dtype == jnp.float32  # FP32 parameters under FP16 compute


def test_the_report_step_is_the_train_step_plus_learning_rate_and_update_ratios() -> None:
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, "training.lr_values=[0.02, 0.01]", "training.lr_boundaries=[100]",
                                          "training.warmup_steps=4"]))
    mesh, _, steps, state = build_training(job)
    batch = selfplay_batch(mesh, 1, 16)
    state, _ = steps.train(state, steps.zero_sums(), batch)  # step 1: the report below is of step 2
    copy = jax.tree_util.tree_map(jnp.copy, state)
    before = jax.device_get(state.params)
    reported, report_sums, report = steps.train_and_report(state, steps.zero_sums(), batch)
    plain, plain_sums = steps.train(copy, steps.zero_sums(), batch)
    for a, b in zip(jax.tree_util.tree_leaves((reported, report_sums)), jax.tree_util.tree_leaves((plain, plain_sums)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    report = jax.device_get(report)
    # The LR of the update from step 1 to 2: warmup (1+1)/4 of 0.02.
    assert float(report.pop("learning_rate")) == float(np.float32(0.02 * 2 / 4)) == float(make_schedule(job.schedule)(1))
    after = jax.device_get(reported.params)
    expected = {}
    for (path, old), new in zip(jax.tree_util.tree_flatten_with_path(before)[0], jax.tree_util.tree_leaves(after), strict=True):
        old64, new64 = np.asarray(old, np.float64), np.asarray(new, np.float64)
        norm = np.linalg.norm(old64)
        expected[f"update_ratio/{param_path(path)}"] = np.linalg.norm(new64 - old64) / norm if norm > 0 else -1.0
    assert report.keys() == expected.keys()
    for name, value in expected.items():
        np.testing.assert_allclose(float(report[name]), value, rtol=1e-4, atol=1e-7, err_msg=name)
    assert any(value > 0 for value in expected.values())
