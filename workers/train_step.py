"""The jitted train and evaluation steps over the device mesh.

`train_step(state, sums, batch) -> (state, sums)` is pure: it applies one optimizer update
and adds this step's metrics to on-device running sums, so steps between reports transfer
nothing to the host. `eval_step(params, batch) -> metrics` computes per-batch means.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh

from workers import losses
from workers.config import LossWeights
from workers.sharding import batch_sharded, replicated
from workers.state import Params, TrainState

Metrics = dict[str, jax.Array]

TRAIN_METRICS = ("policy_loss", "value_loss", "moves_left_loss", "total_loss", "value_mse", "grad_norm")


class Batch(NamedTuple):
    """The arrays one step consumes; leading axis = positions, sharded along `data`."""

    planes: jax.Array  # [B, 112, 8, 8] float32
    policy: jax.Array  # [B, 1858], -1 = illegal
    result_wdl: jax.Array  # [B, 3]
    plies_left: jax.Array  # [B]

    @classmethod
    def from_decoded(cls, decoded: object) -> "Batch":
        """Selects the training arrays of a `workers.data.v6.DecodedBatch`."""
        return cls(*(np.asarray(getattr(decoded, name)) for name in cls._fields))


class StepFunctions(NamedTuple):
    train: Callable[[TrainState, Metrics, Batch], tuple[TrainState, Metrics]]
    evaluate: Callable[[Params, Batch], Metrics]
    zero_sums: Callable[[], Metrics]


def _forward(graphdef: nnx.GraphDef, params: Params, batch: Batch, weights: LossWeights) -> tuple[jax.Array, Metrics]:
    model = nnx.merge(graphdef, params)
    out = model(batch.planes)
    log_policy = losses.masked_log_policy(out.policy_logits, batch.policy)
    terms = {
        "policy_loss": losses.policy_cross_entropy(log_policy, batch.policy),
        "value_loss": losses.value_cross_entropy(out.wdl_logits, batch.result_wdl),
        "moves_left_loss": losses.moves_left_huber(out.moves_left, batch.plies_left),
    }
    total = weights.policy * terms["policy_loss"] + weights.value * terms["value_loss"] + weights.moves_left * terms["moves_left_loss"]
    metrics = {**terms, "total_loss": total, "value_mse": losses.value_mse(out.wdl_logits, batch.result_wdl)}
    targets = losses.Targets(batch.policy, batch.result_wdl, batch.plies_left)
    return total, {**metrics, **losses.evaluation_metrics(log_policy, out.wdl_logits, out.moves_left, targets)}


def make_step_functions(graphdef: nnx.GraphDef, tx: optax.GradientTransformation, weights: LossWeights, mesh: Mesh) -> StepFunctions:
    """Jits the steps once with explicit shardings: state replicated, batch split on `data`."""

    def train(state: TrainState, sums: Metrics, batch: Batch) -> tuple[TrainState, Metrics]:
        grad_fn = jax.value_and_grad(_forward, argnums=1, has_aux=True)
        (_, metrics), grads = grad_fn(graphdef, state.params, batch, weights)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {name: metrics[name] for name in TRAIN_METRICS[:-1]} | {"grad_norm": optax.global_norm(grads)}
        new_sums = {name: sums[name] + metrics[name] for name in TRAIN_METRICS} | {"count": sums["count"] + 1}
        return TrainState(step=state.step + 1, params=params, opt_state=opt_state), new_sums

    def evaluate(params: Params, batch: Batch) -> Metrics:
        return _forward(graphdef, params, batch, weights)[1]

    def zero_sums() -> Metrics:
        return {name: jnp.zeros((), jnp.float32) for name in (*TRAIN_METRICS, "count")}

    rep, data = replicated(mesh), batch_sharded(mesh)
    batch_shardings = Batch(data, data, data, data)
    return StepFunctions(
        train=jax.jit(train, in_shardings=(rep, rep, batch_shardings), out_shardings=(rep, rep), donate_argnums=(0, 1)),
        evaluate=jax.jit(evaluate, in_shardings=(rep, batch_shardings), out_shardings=rep),
        zero_sums=jax.jit(zero_sums, out_shardings=rep),
    )
