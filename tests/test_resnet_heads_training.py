"""Every legacy policy head × value head on a small SE-ResNet trains on lc0's own self-play data."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from tests.helpers import DATA
from tests.test_resnet_training import _job
from workers.training.setup import build_training
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.training.sharding import to_global_batch
from workers.training.step import Batch

STEPS = 50
BATCH = 32
# Each policy head meets each value head; moves-left alternates between v1 and none.
HEADS = [
    ("POLICY_CONVOLUTION", "VALUE_WDL", "MOVES_LEFT_V1"),
    ("POLICY_CONVOLUTION", "VALUE_CLASSICAL", "MOVES_LEFT_NONE"),
    ("POLICY_CLASSICAL", "VALUE_WDL", "MOVES_LEFT_NONE"),
    ("POLICY_CLASSICAL", "VALUE_CLASSICAL", "MOVES_LEFT_V1"),
    ("POLICY_ATTENTION", "VALUE_WDL", "MOVES_LEFT_V1"),
    ("POLICY_ATTENTION", "VALUE_CLASSICAL", "MOVES_LEFT_NONE"),
]


def _fixture_records() -> np.ndarray:
    chunks = sorted((DATA / "lc0-selfplay").glob("*.gz"))
    return np.concatenate([read_chunk(path) for path in chunks])


@pytest.mark.slow
@pytest.mark.parametrize(("policy", "value", "moves_left"), HEADS)
def test_head_combination_trains_with_falling_loss(policy: str, value: str, moves_left: str) -> None:
    job = _job(f"model.policy={policy}", f"model.value={value}", f"model.moves_left={moves_left}", "model.filters=16",
               f"training.batch_size={BATCH}", "training.optimizer=ADAM", "training.weight_decay=", "training.lr_values=[0.002]",
               "training.max_grad_norm=0", "training.num_batch_splits=1")
    mesh, _, steps, state = build_training(job)
    records = _fixture_records()
    order = np.random.default_rng(job.seed).permutation(len(records))
    per_step: list[dict[str, float]] = []
    for step in range(STEPS):
        rows = order[(np.arange(BATCH) + step * BATCH) % len(records)]
        batch = to_global_batch(mesh, Batch.from_decoded(decode_records(records[rows])))
        state, sums = steps.train(state, steps.zero_sums(), batch)
        per_step.append({name: float(value) for name, value in jax.device_get(sums).items()})

    terms = ["policy_loss", "value_winner_loss"] + (["moves_left_loss"] if moves_left == "MOVES_LEFT_V1" else [])
    for term in terms:
        curve = np.array([metrics[term] for metrics in per_step])
        assert np.all(np.isfinite(curve)), term
        first, last = curve[:10].mean(), curve[-10:].mean()
        assert last < 0.9 * first, (term, first, last)
    if moves_left == "MOVES_LEFT_NONE":
        assert all(metrics["moves_left_loss"] == 0.0 for metrics in per_step)
