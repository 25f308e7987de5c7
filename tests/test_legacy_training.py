"""Legacy training features in the train step and the loop: SWA, batch splits, loss scaling, cadence."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import DATA, SHRINK, TINY_CONFIG, data_overrides
from tests.step_helpers import split_checkpoints
from workers.training.checkpoint import Checkpointer
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.events import Event, EventBus
from workers.training.setup import build_training
from workers.training.sharding import to_global_batch
from workers.training.state import init_params
from workers.training.step import Batch
from workers.layout import JobPaths
from workers.training.loop import run_training

SGD = ("training.optimizer=SGD", "training.weight_decay=", "training.beta_1=", "training.beta_2=")


def _job(*overrides: str):
    return resolve(load_spec(TINY_CONFIG, [*SHRINK, *overrides]))


def _setup(job, **kwargs):
    mesh, _, steps, state = build_training(job, **kwargs)
    return mesh, steps, state


def _real_batch(mesh, size: int = 32) -> Batch:
    return to_global_batch(mesh, Batch.from_decoded(decode_records(read_chunk(DATA / "lc0-selfplay" / "game_000000.gz")[:size])))


def _numpy_params(params) -> list[np.ndarray]:
    return [np.asarray(x, np.float64) for x in jax.tree_util.tree_leaves(params)]


@pytest.mark.parametrize("max_n", [0, 3, 100])
def test_swa_after_seven_updates_is_the_capped_running_mean(max_n: int, tmp_path: Path) -> None:
    job = _job("training.swa=true", "training.swa_steps=1", f"training.swa_max_n={max_n}")
    _, steps, state = _setup(job)
    rng = np.random.default_rng(max_n)
    snapshots = []
    for _ in range(7):
        params = jax.tree_util.tree_map(lambda x: jnp.asarray(rng.standard_normal(x.shape), x.dtype), state.params)
        snapshots.append(_numpy_params(params))
        state = steps.swa_update(state.replace(params=params))
    # NumPy reference of the legacy rule: swa ← swa·n/(n+1) + w/(n+1); n ← min(n+1, max_n).
    swa, n = _numpy_params(jax.tree_util.tree_map(lambda x: x, init_params(job.model, job.seed)[1])), 0.0
    for snapshot in snapshots:
        swa = [s * n / (n + 1) + w / (n + 1) for s, w in zip(swa, snapshot)]
        n = min(n + 1, max_n)
    for got, want in zip(_numpy_params(state.swa_params), swa):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert float(state.swa_count) == min(7, max_n)
    if max_n == 0:  # the legacy default keeps only the latest snapshot
        np.testing.assert_allclose(_numpy_params(state.swa_params)[0], snapshots[-1][0], rtol=1e-6)
    checkpointer = Checkpointer(tmp_path / "ck", max_to_keep=1)
    checkpointer.save(state, [{}])
    checkpointer.wait()
    restored, _ = checkpointer.restore(_setup(job)[2])
    checkpointer.close()
    for got, want in zip(_numpy_params(restored.swa_params), _numpy_params(state.swa_params)):
        np.testing.assert_array_equal(got, want)
    assert float(restored.swa_count) == float(state.swa_count)


def test_batch_splits_give_the_same_update_as_one_full_batch() -> None:
    results = []
    for splits in (1, 4):
        job = _job(*SGD, "training.batch_size=32", f"training.num_batch_splits={splits}", "training.lr_values=[0.05]")
        mesh, steps, state = _setup(job)
        state, sums = steps.train(state, steps.zero_sums(), _real_batch(mesh))
        results.append((_numpy_params(state.params), {k: float(v) for k, v in sums.items()}))
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_allclose(b, a, rtol=2e-4, atol=2e-6)
    assert results[1][1]["total_loss"] == pytest.approx(results[0][1]["total_loss"], rel=1e-5)
    assert results[1][1]["grad_norm"] == pytest.approx(results[0][1]["grad_norm"], rel=1e-4)


def test_dynamic_loss_scale_skips_nonfinite_steps_and_grows_after_a_period() -> None:
    job = _job("training.precision=FP16", "training.dynamic_loss_scale=true", "training.batch_size=32")
    mesh, steps, state = _setup(job, dynamic_scale_period=3)
    assert float(state.loss_scale.scale) == 2.0**15
    good = _real_batch(mesh)
    # A NaN input plane makes every gradient non-finite: the update must be skipped.
    bad = good._replace(planes=good.planes.at[0, 0, 0, 0].set(jnp.nan))
    before = _numpy_params(state.params)
    state, sums = steps.train(state, steps.zero_sums(), bad)
    for got, want in zip(_numpy_params(state.params), before):
        np.testing.assert_array_equal(got, want)
    assert float(state.loss_scale.scale) == 2.0**14 and float(sums["nonfinite_steps"]) == 1.0
    scales = []
    for _ in range(3):
        state, sums = steps.train(state, sums, good)
        scales.append(float(state.loss_scale.scale))
    assert scales == [2.0**14, 2.0**14, 2.0**15]  # doubled after `period` consecutive finite steps
    assert any(np.any(got != want) for got, want in zip(_numpy_params(state.params), before))


def test_fp16_static_scaling_matches_fp32_within_fp16_tolerance() -> None:
    updates = {}
    for precision in ("FP32", "FP16"):
        job = _job(*SGD, f"training.precision={precision}", "training.batch_size=32", "training.lr_values=[0.1]")
        mesh, steps, state = _setup(job)
        before = _numpy_params(state.params)
        state, _ = steps.train(state, steps.zero_sums(), _real_batch(mesh))
        updates[precision] = np.concatenate([(a - b).ravel() for a, b in zip(_numpy_params(state.params), before)])
    assert float(np.abs(updates["FP32"]).max()) > 0
    scale = np.abs(updates["FP32"]).max()
    np.testing.assert_allclose(updates["FP16"], updates["FP32"], atol=0.05 * scale)


class _Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[tuple[str, int]]:
        return [(e.kind, e.step) for e in self.events if e.kind != "state"]


@pytest.mark.slow
def test_cadence_matches_the_legacy_trigger_rules_and_resumes(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    overrides = [*data_overrides(generated_data), f"dataset.input_validation={generated_data['test']}", "training.total_steps=20",
                 "training.train_avg_report_steps=5", "training.test_steps=10", "training.validation_steps=10",
                 "training.checkpoint_steps=7", "training.max_to_keep=10"]
    job = _job(*overrides)

    def expected(start: int, end: int) -> list[tuple[str, int]]:
        events: list[tuple[str, int]] = []
        for s in range(start, end):
            t = s + 1
            if s % 20 == 0:
                events.append(("test", s))
            events += [("train", t)] if t % 5 == 0 or t == end else []
            events += [("test", t)] if t % 10 == 0 or t == end else []
            events += [("validation", t)] if t % 10 == 0 or t == end else []
            events += [("checkpoint", t)] if t % 7 == 0 or t == end else []
        return events

    first, second = _Recorder(), _Recorder()
    for recorder in (first, second):
        bus = EventBus()
        bus.subscribe(recorder)
        run_training(job, JobPaths(tmp_path / "job"), bus)
    assert split_checkpoints(first.kinds()) == split_checkpoints(expected(0, 20))
    # The resumed run continues the sequence to the next multiple.
    assert split_checkpoints(second.kinds()) == split_checkpoints(expected(20, 40))
    # One seed drives everything: a second job from scratch reproduces the first run's losses exactly.
    again = _Recorder()
    bus = EventBus()
    bus.subscribe(again)
    run_training(job, JobPaths(tmp_path / "again"), bus)
    losses = [[e.metrics["total_loss"] for e in r.events if e.kind == "train"] for r in (first, again)]
    assert losses[0] == losses[1]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.loss_scale=64"], r"training\.loss_scale: requires precision FP16"),
        (["training.precision=FP16", "training.loss_scale=-1"], r"training\.loss_scale: must be > 0"),
        (["training.swa=true"], r"training\.swa_steps: required when training\.swa is set"),
        (["training.swa_max_n=5"], r"training\.swa_max_n: requires training\.swa"),
        (["training.swa=true", "training.swa_steps=1", "training.swa_max_n=-1"], r"training\.swa_max_n: must be >= 0"),
        (["training.num_batch_splits=3"], r"training\.num_batch_splits: 3 must divide training\.batch_size 16"),
        (["training.num_batch_splits=-1"], r"training\.num_batch_splits: must be >= 0"),
        (["training.new_optimizer=true"], r"training\.new_optimizer: requires optimizer SGD"),
        (["training.weight_decay_unscaled=true", "training.weight_decay=0"], r"training\.weight_decay_unscaled: requires training\.weight_decay > 0"),
        (["training.cosine_decay.peak_lr=0.1"], r"training\.lr_values: conflicts with training\.cosine_decay"),
        (["training.lr_values=", "training.cosine_decay.peak_lr=0"], r"training\.cosine_decay\.peak_lr: must be > 0"),
        (["training.lr_values=", "training.linear_decay.peak_lr=1", "training.linear_decay.decay_steps=-5"],
         r"training\.linear_decay\.decay_steps: must be >= 0"),
        (["training.lr_values=", "training.constant_lr.lr=-1"], r"training\.constant_lr\.lr: must be >= 0"),
        (["training.optimizer=RMSPROP", "training.weight_decay=0.1"], r"training\.weight_decay: requires optimizer ADAMW, NADAMW or ADABELIEF"),
        (["training.optimizer=ADABELIEF", "training.beta_2=1.5"], r"training\.beta_2: must be in \[0, 1\)"),
    ],
)
def test_new_fields_reject_bad_values_with_their_path(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _job(*overrides)


def test_swa_max_n_zero_warns_what_it_means() -> None:
    job = _job("training.swa=true", "training.swa_steps=10")
    assert any("swa_max_n: 0" in w and "latest snapshot" in w for w in job.warnings)
