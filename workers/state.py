"""The train state: one immutable pytree holding everything an update changes.

On-disk (Orbax) it is saved whole, so a resumed run continues exactly: step, params,
optimizer state (Lookahead's slow weights included), SWA weights and count, loss scale.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from workers.model import BTNet
from workers.training_settings import PrecisionSettings

Params = dict[str, Any]


@struct.dataclass
class LossScale:
    """FP16 loss scale; `good_steps` counts consecutive finite steps (dynamic scaling)."""

    scale: jax.Array
    good_steps: jax.Array


@struct.dataclass
class TrainState:
    """`step` counts updates; `swa_params`/`swa_count` and `loss_scale` are None when unused."""

    step: jax.Array
    params: Params
    opt_state: optax.OptState
    swa_params: Params | None = None
    swa_count: jax.Array | None = None
    loss_scale: LossScale | None = None


def init_params(model_config: Any, seed: int, compute_dtype: str = "float32") -> tuple[nnx.GraphDef, Params]:
    """Builds the model once and returns its static graph and its FP32 parameters as plain arrays."""
    model = BTNet(model_config, rngs=nnx.Rngs(params=seed), compute_dtype=jnp.dtype(compute_dtype))
    graphdef, variables = nnx.split(model)
    return graphdef, nnx.to_pure_dict(variables)


def init_state(params: Params, tx: optax.GradientTransformation, *, swa: bool = False, precision: PrecisionSettings | None = None) -> TrainState:
    loss_scale = None
    if precision is not None and precision.compute_dtype == "float16":
        loss_scale = LossScale(jnp.asarray(2.0**15 if precision.dynamic_loss_scale else precision.loss_scale, jnp.float32), jnp.zeros((), jnp.int32))
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        swa_params=jax.tree_util.tree_map(jnp.array, params) if swa else None,
        swa_count=jnp.zeros((), jnp.float32) if swa else None,
        loss_scale=loss_scale,
    )


def parameter_count(params: Params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
