"""Learning-rate schedules and the Optax optimizer chain built from the resolved config.

Chain order, as the legacy trainer: clip the mean gradient by global norm, then the
optimizer (whose LR comes from the schedule), then decoupled weight decay, and Lookahead
around all of it.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from lc0train import training_pb2
from workers.config.training_settings import OptimizerSettings, ScheduleSettings

Schedule = Callable[[jax.Array], jax.Array]

LOOKAHEAD_SYNC_PERIOD = 6
LOOKAHEAD_SLOW_STEP = 0.5
RMSPROP_DECAY = 0.9


def legacy_lr_schedule(lr_values: tuple[float, ...], lr_boundaries: tuple[int, ...], warmup_steps: int, total_steps: int) -> Schedule:
    """The legacy piecewise-constant schedule with linear warmup.

    For the update that starts at step s: base = lr_values[bisect_right(lr_boundaries, s mod
    total_steps)]; during the first `warmup_steps` absolute steps it is scaled by (s+1)/warmup.
    """
    values = jnp.asarray(lr_values, jnp.float32)
    boundaries = jnp.asarray(lr_boundaries, jnp.int32)

    def schedule(step: jax.Array) -> jax.Array:
        step = jnp.asarray(step, jnp.int32)
        index = jnp.searchsorted(boundaries, step % total_steps, side="right")
        base = values[index]
        if warmup_steps <= 0:
            return base
        ramp = (step + 1).astype(jnp.float32) / warmup_steps
        return jnp.where(step < warmup_steps, base * ramp, base)

    return schedule


def make_schedule(s: ScheduleSettings) -> Schedule:
    """The configured schedule; modern ones warm up linearly from 0 over warmup_steps."""
    if s.kind == "legacy":
        return legacy_lr_schedule(s.lr_values, s.lr_boundaries, s.warmup_steps, s.total_steps)
    if s.kind == "cosine":
        return optax.warmup_cosine_decay_schedule(0.0, s.peak_lr, s.warmup_steps, s.warmup_steps + s.decay_steps, s.final_lr)
    main = optax.constant_schedule(s.peak_lr) if s.kind == "constant" else optax.linear_schedule(s.peak_lr, s.final_lr, s.decay_steps)
    if s.warmup_steps <= 0:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, s.peak_lr, s.warmup_steps), main], [s.warmup_steps])


def is_decayed(path: tuple[Any, ...], _leaf: object) -> bool:
    """Decoupled weight decay applies to dense kernels only (not biases, norms or gates)."""
    return getattr(path[-1], "key", None) == "kernel"


def _decay_mask(params: Any) -> Any:
    return jax.tree_util.tree_map_with_path(is_decayed, params)


def _base_optimizer(settings: OptimizerSettings, schedule: Schedule) -> optax.GradientTransformation:
    kind, b1, b2, eps = settings.kind, settings.beta_1, settings.beta_2, settings.epsilon
    if kind == training_pb2.SGD:
        # Keras Nesterov SGD folds the LR into the velocity (v ← μv − lr·g; w ← w + μv − lr·g):
        # scaling by −lr *before* the trace reproduces it, also when the LR changes.
        return optax.chain(optax.scale_by_learning_rate(schedule), optax.trace(decay=settings.momentum, nesterov=True))
    if kind == training_pb2.RMSPROP:
        return optax.rmsprop(schedule, decay=RMSPROP_DECAY, eps=eps, centered=True)
    scale_by = {
        training_pb2.ADAM: lambda: optax.scale_by_adam(b1, b2, eps),
        training_pb2.ADAMW: lambda: optax.scale_by_adam(b1, b2, eps),
        training_pb2.NADAM: lambda: optax.scale_by_adam(b1, b2, eps, nesterov=True),
        training_pb2.NADAMW: lambda: optax.scale_by_adam(b1, b2, eps, nesterov=True),
        training_pb2.ADABELIEF: lambda: optax.scale_by_belief(b1, b2, eps),
    }
    if kind not in scale_by:  # resolve() rejects every other value
        raise ValueError(f"unsupported optimizer {kind}")
    parts = [scale_by[kind]()]
    if settings.weight_decay and not settings.weight_decay_unscaled:
        parts.append(optax.add_decayed_weights(settings.weight_decay, _decay_mask))
    parts.append(optax.scale_by_learning_rate(schedule))
    if settings.weight_decay and settings.weight_decay_unscaled:
        # tfa's decoupled decay: w ← w − wd·w after the LR-scaled step, not multiplied by the LR.
        parts.append(optax.add_decayed_weights(-settings.weight_decay, _decay_mask))
    return optax.chain(*parts)


def make_optimizer(settings: OptimizerSettings, schedule: Schedule) -> optax.GradientTransformation:
    """Clipping (when max_grad_norm > 0), the optimizer, and Lookahead when configured."""
    tx = _base_optimizer(settings, schedule)
    if settings.max_grad_norm > 0:
        tx = optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), tx)
    if settings.lookahead:
        tx = lookahead(tx, LOOKAHEAD_SYNC_PERIOD, LOOKAHEAD_SLOW_STEP)
    return tx


class LookaheadState(NamedTuple):
    inner: optax.OptState
    slow: Any  # the slow weights φ, checkpointed with the rest of the optimizer state
    # The field names are tree paths of saved checkpoints; `count` shadows tuple.count for mypy.
    count: jax.Array  # type: ignore[assignment]  # updates applied, 1-based after the first


def lookahead(inner: optax.GradientTransformation, sync_period: int, slow_step: float) -> optax.GradientTransformation:
    """tfa-style Lookahead over the model's own (fast) parameters.

    After every `sync_period`-th inner update: φ ← φ + slow_step·(w − φ), then w ← φ.
    Unlike `optax.lookahead` the params stay the fast weights (what is evaluated and
    exported); the slow weights live in the optimizer state.
    """

    def init(params: Any) -> LookaheadState:
        return LookaheadState(inner.init(params), jax.tree_util.tree_map(jnp.array, params), jnp.zeros((), jnp.int32))

    def update(grads: Any, state: LookaheadState, params: Any = None) -> tuple[Any, LookaheadState]:
        updates, inner_state = inner.update(grads, state.inner, params)
        fast = optax.apply_updates(params, updates)
        count = state.count + 1
        sync = count % sync_period == 0
        slow = jax.tree_util.tree_map(lambda p, w: jnp.where(sync, p + slow_step * (w - p), p), state.slow, fast)
        new_fast = jax.tree_util.tree_map(lambda p, w: jnp.where(sync, p, w), slow, fast)
        return jax.tree_util.tree_map(jnp.subtract, new_fast, params), LookaheadState(inner_state, slow, count)

    return optax.GradientTransformation(init, update)
