"""The train state: one immutable pytree holding everything an update changes.

On-disk (Orbax) it is saved whole, so a resumed run continues exactly: step, params,
optimizer state (Lookahead's slow weights included), SWA weights and count, loss scale.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from workers.model import build_model
from workers.config.training_settings import PrecisionSettings

Params = dict[str, Any]


@struct.dataclass
class LossScale:
    """FP16 loss scale; `good_steps` counts consecutive finite steps (dynamic scaling)."""

    scale: jax.Array
    good_steps: jax.Array


@struct.dataclass
class TrainState:
    """`step` counts updates; `batch_stats` holds normalisation statistics ({} without batch norm);
    the SWA fields and `loss_scale` are None when unused."""

    step: jax.Array
    params: Params
    opt_state: optax.OptState
    batch_stats: Params = struct.field(default_factory=dict)
    swa_params: Params | None = None
    swa_batch_stats: Params | None = None
    swa_count: jax.Array | None = None
    loss_scale: LossScale | None = None

    if TYPE_CHECKING:  # struct.dataclass adds it at run time

        def replace(self, **changes: Any) -> TrainState: ...


class ModelInit(NamedTuple):
    """The static graph of a freshly built model and its variables as plain arrays."""

    graphdef: nnx.GraphDef
    params: Params  # nnx.Param, trained
    batch_stats: Params  # nnx.BatchStat, updated by the forward pass in training mode


def init_params(model_config: Any, seed: int, compute_dtype: str = "float32") -> ModelInit:
    """Builds the model once; parameters are FP32 whatever the compute dtype."""
    model = build_model(model_config, seed, jnp.dtype(compute_dtype))
    graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)  # type: ignore[misc]  # flax types split() as a variadic tuple
    return ModelInit(graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats))


def init_state(params: Params, tx: optax.GradientTransformation, *, batch_stats: Params | None = None, swa: bool = False,
               precision: PrecisionSettings | None = None) -> TrainState:
    batch_stats = batch_stats or {}
    loss_scale = None
    if precision is not None and precision.compute_dtype == "float16":
        loss_scale = LossScale(jnp.asarray(2.0**15 if precision.dynamic_loss_scale else precision.loss_scale, jnp.float32), jnp.zeros((), jnp.int32))
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        opt_state=tx.init(params),
        batch_stats=batch_stats,
        swa_params=jax.tree_util.tree_map(jnp.array, params) if swa else None,
        swa_batch_stats=jax.tree_util.tree_map(jnp.array, batch_stats) if swa else None,
        swa_count=jnp.zeros((), jnp.float32) if swa else None,
        loss_scale=loss_scale,
    )


def param_path(path: tuple[Any, ...]) -> str:
    """A parameter's tree path as "/"-joined keys (`encoder/blocks/0/mha/q/kernel`)."""
    return "/".join(str(getattr(key, "key", key)) for key in path)


def parameter_count(params: Params) -> int:
    return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))
