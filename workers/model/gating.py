"""Input gating of the attention-body embedding and the projection that keeps it valid.

`y = x ⊙ G_mult + G_add` per square and feature. The legacy trainer kept G_mult
non-negative with a Keras NonNeg constraint: after every optimizer update the stored
value is projected to max(G_mult, 0). The forward pass uses the gate as stored (as lc0
does); `project_gates` is the post-update projection the train step applies.
"""

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from workers.model.dims import NUM_SQUARES

MULT_GATE = "mult_gate"


def gate_params(embedding: int, dtype: DTypeLike) -> tuple[nnx.Param, nnx.Param]:
    """(G_mult initialised to 1, G_add initialised to 0), each [64 squares, embedding]."""
    return (
        nnx.Param(jnp.ones((NUM_SQUARES, embedding), dtype)),
        nnx.Param(jnp.zeros((NUM_SQUARES, embedding), dtype)),
    )


def apply_gates(x_te: jax.Array, mult_se: jax.Array, add_se: jax.Array) -> jax.Array:
    """Tokens [B·64, E] gated per square and feature."""
    e = x_te.shape[-1]
    x_bse = x_te.reshape(-1, NUM_SQUARES, e)
    x_bse = x_bse * mult_se.astype(x_bse.dtype) + add_se.astype(x_bse.dtype)
    return x_bse.reshape(-1, e)


def project_gates(params: dict) -> dict:
    """`params` with every multiplicative gate projected onto G ≥ 0 (the NonNeg constraint)."""

    def project(path: tuple, leaf: jax.Array) -> jax.Array:
        last = path[-1]
        name = getattr(last, "key", getattr(last, "name", None))
        return jnp.maximum(leaf, 0) if name == MULT_GATE else leaf

    return jax.tree_util.tree_map_with_path(project, params)
