"""Learning-rate schedule and the Optax optimizer chain built from the resolved config."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from lc0train import training_pb2
from workers.config import OptimizerSettings, ResolvedJob

Schedule = Callable[[jax.Array], jax.Array]


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


def make_schedule(job: ResolvedJob) -> Schedule:
    return legacy_lr_schedule(job.lr_values, job.lr_boundaries, job.warmup_steps, job.total_steps)


def is_decayed(path: tuple[object, ...], _leaf: object) -> bool:
    """Decoupled weight decay applies to dense kernels only (not biases, norms or gates)."""
    return getattr(path[-1], "key", None) == "kernel"


def make_optimizer(settings: OptimizerSettings, schedule: Schedule) -> optax.GradientTransformation:
    """Clipping (when max_grad_norm > 0) followed by the configured optimizer."""
    kind = settings.kind
    if kind == training_pb2.SGD:
        base = optax.sgd(schedule, momentum=settings.momentum, nesterov=True)
    elif kind == training_pb2.ADAM:
        base = optax.adam(schedule, b1=settings.beta_1, b2=settings.beta_2, eps=settings.epsilon)
    elif kind == training_pb2.NADAM:
        base = optax.nadam(schedule, b1=settings.beta_1, b2=settings.beta_2, eps=settings.epsilon)
    elif kind in (training_pb2.ADAMW, training_pb2.NADAMW):
        base = optax.adamw(
            schedule,
            b1=settings.beta_1,
            b2=settings.beta_2,
            eps=settings.epsilon,
            weight_decay=settings.weight_decay,
            mask=lambda params: jax.tree_util.tree_map_with_path(is_decayed, params),
            nesterov=kind == training_pb2.NADAMW,
        )
    else:  # resolve() rejects every other value
        raise ValueError(f"unsupported optimizer {kind}")
    if settings.max_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(settings.max_grad_norm), base)
    return base
