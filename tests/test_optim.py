"""Schedules and optimizers against independent NumPy implementations of the legacy maths."""

from __future__ import annotations

import bisect
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.helpers import SHRINK, TINY_CONFIG
from workers.training.checkpoint import Checkpointer
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.training.optim import make_optimizer, make_schedule
from workers.training.state import TrainState


# The tiny config uses NAdamW; these overrides turn it into plain (Keras Nesterov) SGD.
SGD = ("training.optimizer=SGD", "training.weight_decay=", "training.beta_1=", "training.beta_2=")


def _job(*overrides: str):
    return resolve(load_spec(TINY_CONFIG, [*SHRINK, *overrides]))


def _legacy_lr(step: int, values: list[float], boundaries: list[int], warmup: int, total: int) -> float:
    base = values[bisect.bisect_right(boundaries, step % total)]
    return base * (step + 1) / warmup if warmup and step < warmup else base


def _applied_lrs(job, steps: int) -> np.ndarray:
    """The LR each update really applies: SGD without momentum on a unit gradient moves w by −lr."""
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    params = {"w": jnp.zeros(())}

    def step(carry, _):
        params, opt_state = carry
        updates, opt_state = tx.update({"w": jnp.ones(())}, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), -updates["w"]

    _, lrs = jax.lax.scan(step, (params, tx.init(params)), None, length=steps)
    return np.asarray(lrs)


def test_legacy_piecewise_schedule_with_warmup_and_modulo() -> None:
    values, boundaries = [0.1, 0.02, 0.005], [100, 200]
    job = _job(*SGD, "training.momentum=0", "training.max_grad_norm=0",
               "training.lr_values=[0.1, 0.02, 0.005]", "training.lr_boundaries=[100, 200]", "training.warmup_steps=10",
               "training.total_steps=250")
    applied = _applied_lrs(job, 261)
    for s in (0, 9, 10, 99, 100, 199, 200, 249, 250, 260):
        assert applied[s] == pytest.approx(_legacy_lr(s, values, boundaries, 10, 250), rel=1e-6), s
    # Boundary steps take the next value; past total_steps the index wraps without warmup.
    assert applied[100] == pytest.approx(0.02) and applied[250] == pytest.approx(0.1) and applied[260] == pytest.approx(0.1)


@pytest.mark.parametrize("kind", ["cosine_decay", "linear_decay", "constant_lr"])
def test_modern_schedules_warm_up_then_decay(kind: str) -> None:
    field = "lr" if kind == "constant_lr" else "peak_lr"
    overrides = [f"training.{kind}.{field}=0.01", "training.warmup_steps=10", "training.total_steps=110", "training.lr_values=[]"]
    if kind != "constant_lr":
        overrides.append(f"training.{kind}.final_lr=0.001")
    schedule = make_schedule(_job(*overrides).schedule)

    def reference(s: int) -> float:
        if s < 10:
            return 0.01 * s / 10
        if kind == "constant_lr":
            return 0.01
        frac = min((s - 10) / 100, 1.0)
        if kind == "linear_decay":
            return 0.01 + (0.001 - 0.01) * frac
        return 0.001 + (0.01 - 0.001) * 0.5 * (1 + math.cos(math.pi * frac))

    for s in (0, 5, 10, 35, 60, 109, 110, 200):
        assert float(schedule(s)) == pytest.approx(reference(s), rel=1e-5, abs=1e-9), s


def test_keras_nesterov_sgd_through_warmup_and_boundary() -> None:
    job = _job(*SGD,
               "training.lr_values=[0.1, 0.01]", "training.lr_boundaries=[20]", "training.warmup_steps=10", "training.total_steps=100")
    schedule = make_schedule(job.schedule)
    tx = make_optimizer(job.optimizer, schedule)
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((30, 5)).astype(np.float32)
    w = jnp.asarray(rng.standard_normal(5), jnp.float32)
    opt_state = tx.init(w)
    w_np, v_np = np.asarray(w, np.float64), np.zeros(5)
    optax_ref = optax.sgd(schedule, momentum=0.9, nesterov=True)
    w_optax, optax_state = w, optax_ref.init(w)
    for s in range(30):
        updates, opt_state = tx.update(jnp.asarray(grads[s]), opt_state, w)
        w = optax.apply_updates(w, updates)
        lr = _legacy_lr(s, [0.1, 0.01], [20], 10, 100)
        v_np = 0.9 * v_np - lr * grads[s]  # Keras: v ← μv − lr·g; w ← w + μv − lr·g
        w_np = w_np + 0.9 * v_np - lr * grads[s]
        updates, optax_state = optax_ref.update(jnp.asarray(grads[s]), optax_state, w_optax)
        w_optax = optax.apply_updates(w_optax, updates)
    np.testing.assert_allclose(np.asarray(w), w_np, atol=1e-6)
    assert np.max(np.abs(np.asarray(w_optax) - w_np)) > 1e-3  # optax's LR-free trace differs when the LR changes


def _lookahead_job():
    return _job(*SGD,
                "training.lookahead_optimizer=true", "training.lr_values=[0.05]", "training.max_grad_norm=0")


def test_lookahead_slow_and_fast_weights_match_numpy() -> None:
    job = _lookahead_job()
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((13, 4)).astype(np.float32)
    w = jnp.asarray(rng.standard_normal(4), jnp.float32)
    state = tx.init(w)
    fast, slow, velocity = np.asarray(w, np.float64), np.asarray(w, np.float64), np.zeros(4)
    for c in range(1, 14):
        updates, state = tx.update(jnp.asarray(grads[c - 1]), state, w)
        w = optax.apply_updates(w, updates)
        velocity = 0.9 * velocity - 0.05 * grads[c - 1]
        fast = fast + 0.9 * velocity - 0.05 * grads[c - 1]
        if c % 6 == 0:
            slow = slow + 0.5 * (fast - slow)
            fast = slow.copy()
    np.testing.assert_allclose(np.asarray(w), fast, atol=1e-6)
    np.testing.assert_allclose(np.asarray(state.slow), slow, atol=1e-6)


def test_lookahead_restored_mid_period_continues_identically(tmp_path: Path) -> None:
    job = _lookahead_job()
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    grads = np.random.default_rng(2).standard_normal((13, 4)).astype(np.float32)

    def run(state: TrainState, steps: range) -> TrainState:
        for s in steps:
            updates, opt_state = tx.update({"w": jnp.asarray(grads[s])}, state.opt_state, state.params)
            state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, updates), opt_state=opt_state)
        return state

    params = {"w": jnp.ones(4)}
    fresh = TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
    straight = run(fresh, range(13))
    checkpointer = Checkpointer(tmp_path / "ck", max_to_keep=2)
    checkpointer.save(run(fresh, range(8)), [{}])  # step 8: mid-way through the second sync period
    checkpointer.wait()
    restored, _ = checkpointer.restore(fresh)
    checkpointer.close()
    resumed = run(restored, range(8, 13))
    np.testing.assert_array_equal(np.asarray(resumed.params["w"]), np.asarray(straight.params["w"]))
    np.testing.assert_array_equal(np.asarray(resumed.opt_state.slow["w"]), np.asarray(straight.opt_state.slow["w"]))


@pytest.mark.parametrize("norm", [30.0, 4.0])
def test_global_norm_clipping(norm: float) -> None:
    job = _job(*SGD, "training.momentum=0", "training.lr_values=[1.0]", "training.max_grad_norm=10")
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    direction = np.array([3.0, 4.0, 0.0, 12.0], np.float32) / 13.0
    grads = {"a": jnp.asarray(direction[:2] * norm), "b": jnp.asarray(direction[2:] * norm)}
    params = {"a": jnp.zeros(2), "b": jnp.zeros(2)}
    updates, _ = tx.update(grads, tx.init(params), params)
    step = -np.concatenate([np.asarray(updates["a"]), np.asarray(updates["b"])])
    np.testing.assert_allclose(step, direction * min(norm, 10.0), rtol=1e-6)
