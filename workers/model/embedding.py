"""BT4-style ("PE_DENSE") input embedding: planes [B,112,8,8] → tokens [B·64, E]."""

import jax
import jax.numpy as jnp
from flax import nnx

from workers.model.activations import activation_fn
from workers.model.dims import NUM_PIECE_PLANES, NUM_PLANES, NUM_SQUARES, NetDims
from workers.model.layers import Ffn, Layers


class Embedding(nnx.Module):
    """Dense piece preprocessing, square embedding, gating and a residual FFN.

    Tokens are squares s = 8·rank + file, features are the 112 planes (lc0's order), so
    the preprocessing input is flattened square-major: index 12·s + plane.
    """

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        e = dims.embedding
        self.dense = dims.embedding_dense
        self.preprocess = (
            layers.linear(NUM_SQUARES * NUM_PIECE_PLANES, NUM_SQUARES * self.dense, rngs=rngs)
            if self.dense
            else None
        )
        self.square = layers.linear(NUM_PLANES + self.dense, e, rngs=rngs)
        self.norm = layers.layer_norm(e, rngs=rngs)
        # Multiplicative gate (clamped at 0 in the forward pass, as the legacy trainer's
        # non-negativity constraint) and additive gate, one value per square and feature.
        self.mult_gate = nnx.Param(jnp.ones((NUM_SQUARES, e), layers.param_dtype))
        self.add_gate = nnx.Param(jnp.zeros((NUM_SQUARES, e), layers.param_dtype))
        self.ffn = Ffn(
            e,
            dims.embedding_dff,
            dims.ffn_activation,
            beta=dims.deepnorm_beta,
            layers=layers,
            rngs=rngs,
        )
        self.ffn_norm = layers.layer_norm(e, rngs=rngs)
        self.alpha = dims.deepnorm_alpha
        self.activation = dims.default_activation
        self.compute_dtype = layers.compute_dtype

    def __call__(self, planes_bchw: jax.Array) -> jax.Array:
        b = planes_bchw.shape[0]
        if self.compute_dtype is not None:
            planes_bchw = planes_bchw.astype(self.compute_dtype)
        planes_bsc = planes_bchw.reshape(b, NUM_PLANES, NUM_SQUARES).transpose(0, 2, 1)
        x_tc = planes_bsc.reshape(b * NUM_SQUARES, NUM_PLANES)
        if self.preprocess is not None:
            pieces_bf = planes_bsc[:, :, :NUM_PIECE_PLANES].reshape(b, -1)
            dense_td = self.preprocess(pieces_bf).reshape(b * NUM_SQUARES, self.dense)
            x_tc = jnp.concatenate([x_tc, dense_td], axis=1)
        x_te = self.norm(activation_fn(self.activation)(self.square(x_tc)))
        e = x_te.shape[-1]
        x_bse = x_te.reshape(b, NUM_SQUARES, e)
        mult_se = jax.nn.relu(self.mult_gate[...]).astype(x_bse.dtype)
        x_bse = x_bse * mult_se + self.add_gate[...].astype(x_bse.dtype)
        x_te = x_bse.reshape(b * NUM_SQUARES, e)
        return self.ffn_norm(x_te + self.alpha * self.ffn(x_te))
