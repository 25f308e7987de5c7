"""The train state: one immutable pytree holding everything an update changes."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from workers.model import build_model

Params = dict[str, Any]


@struct.dataclass
class TrainState:
    """`step` counts applied updates; `params` is the model's pure parameter dict."""

    step: jax.Array
    params: Params
    opt_state: optax.OptState


def init_params(model_config: Any, seed: int) -> tuple[nnx.GraphDef, Params]:
    """Builds the model once and returns its static graph and its parameters as plain arrays."""
    graphdef, variables = nnx.split(build_model(model_config, seed))
    return graphdef, nnx.to_pure_dict(variables)


def init_state(params: Params, tx: optax.GradientTransformation) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def parameter_count(params: Params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
