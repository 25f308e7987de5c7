"""Dropout: active in training only, driven by the job's seed."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from tests.step_helpers import selfplay_batch
from tests.helpers import DATA, SHRINK, TINY_CONFIG
from workers.training.setup import build_training
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.training.state import init_params


def _planes() -> jax.Array:
    return jax.numpy.asarray(decode_records(read_chunk(DATA / "lc0-selfplay" / "game_000003.gz")[:8]).planes)


def test_training_outputs_differ_between_seeds_and_evaluation_never_drops() -> None:
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, "model.dropout_rate=0.3"]))
    init = init_params(job.model, 0)
    model = nnx.merge(init.graphdef, init.params, init.batch_stats)
    planes = _planes()
    model.train()
    first, second, again = (model(planes, rngs=nnx.Rngs(dropout=seed)).policy_logits for seed in (1, 2, 1))
    assert np.max(np.abs(np.asarray(first) - np.asarray(second))) > 1e-3
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    model.eval()
    evaluated = [np.asarray(model(planes, rngs=nnx.Rngs(dropout=seed)).policy_logits) for seed in (1, 2)]
    np.testing.assert_array_equal(evaluated[0], evaluated[1])
    reference = resolve(load_spec(TINY_CONFIG, SHRINK))
    plain = nnx.merge(init_params(reference.model, 0).graphdef, init.params, init.batch_stats)
    np.testing.assert_allclose(evaluated[0], np.asarray(plain(planes).policy_logits), rtol=1e-6, atol=1e-6)


def test_train_step_drops_out_and_evaluate_does_not() -> None:
    losses = {}
    for rate in (0.0, 0.5):
        job = resolve(load_spec(TINY_CONFIG, [*SHRINK, f"model.dropout_rate={rate}", "training.batch_size=8"]))
        mesh, _, steps, state = build_training(job)
        batch = selfplay_batch(mesh, 3, 8)
        evaluated = float(steps.evaluate(state.params, state.batch_stats, batch)["total_loss"])
        _, sums = steps.train(state, steps.zero_sums(), batch)
        losses[rate] = (evaluated, float(sums["total_loss"]))
    assert losses[0.5][0] == pytest.approx(losses[0.0][0], rel=1e-6)  # evaluation never drops
    assert losses[0.0][1] == pytest.approx(losses[0.0][0], rel=1e-5)  # no dropout: train loss = eval loss
    assert abs(losses[0.5][1] - losses[0.0][1]) > 1e-3  # dropout changes the training forward pass


@pytest.mark.parametrize(("overrides", "message"), [
    (["model.dropout_rate=1.0"], r"model\.dropout_rate"),
    (["model.body=BODY_RESNET", "model.filters=8", "model.residual_blocks=1", "model.dropout_rate=0.1"],
     r"model\.dropout_rate: requires body BODY_TRANSFORMER"),
])
def test_dropout_rate_is_validated(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(load_spec(TINY_CONFIG, [*SHRINK, *overrides]))
