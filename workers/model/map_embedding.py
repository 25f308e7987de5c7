"""The legacy attention body's input embedding (lc0 PE_MAP, fae46e6 `embedding`).

Token i (square i, a1 = 0) gets its 112 plane values, followed by row i of the arc
table when `arc_encoding` is on (176 features, what lc0's PE_MAP expects), then
dense(E) → default activation → input gates. No norm and no FFN, unlike PE_DENSE.
"""

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from workers.model.activations import activation_fn
from workers.model.arc_encoding import arc_table
from workers.model.dims import NUM_PLANES, NUM_SQUARES, NetDims
from workers.model.gating import apply_gates, gate_params
from workers.model.layers import Layers


def square_features(planes_bchw: jax.Array, compute_dtype: DTypeLike | None) -> jax.Array:
    """Planes [B, 112, 8, 8] as per-square features [B, 64, 112] in the compute dtype."""
    if compute_dtype is not None:
        planes_bchw = planes_bchw.astype(compute_dtype)
    b = planes_bchw.shape[0]
    return planes_bchw.reshape(b, NUM_PLANES, NUM_SQUARES).transpose(0, 2, 1)


class MapEmbedding(nnx.Module):
    """[planes ‖ arc table] → dense → activation → G_mult ⊙ x + G_add."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        e = dims.embedding
        self.square = layers.linear(dims.embedding_inputs, e, rngs=rngs)
        self.mult_gate, self.add_gate = gate_params(e, layers.param_dtype)
        self.arc_encoding = dims.arc_encoding
        self.activation = dims.default_activation
        self.compute_dtype = layers.compute_dtype

    def __call__(self, planes_bchw: jax.Array) -> jax.Array:
        b = planes_bchw.shape[0]
        x_bsc = square_features(planes_bchw, self.compute_dtype)
        if self.arc_encoding:
            arc_bsc = jnp.broadcast_to(jnp.asarray(arc_table(), x_bsc.dtype), (b, NUM_SQUARES, NUM_SQUARES))
            x_bsc = jnp.concatenate([x_bsc, arc_bsc], axis=-1)
        x_te = activation_fn(self.activation)(self.square(x_bsc.reshape(b * NUM_SQUARES, -1)))
        return apply_gates(x_te, self.mult_gate[...], self.add_gate[...])
