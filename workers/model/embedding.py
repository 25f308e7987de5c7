"""Input embeddings, planes [B,112,8,8] → tokens [B·64, E]: BT4-style PE_DENSE, or the
legacy attention body's PE_MAP (`map_embedding.MapEmbedding`), chosen by `build_embedding`."""

import jax
import jax.numpy as jnp
from flax import nnx

from workers.model.activations import activation_fn
from workers.model.dims import NUM_PIECE_PLANES, NUM_PLANES, NUM_SQUARES, NetDims
from workers.model.gating import apply_gates, gate_params
from workers.model.layers import Ffn, Layers
from workers.model.map_embedding import MapEmbedding, square_features


def build_embedding(dims: NetDims, *, layers: Layers, rngs: nnx.Rngs) -> "Embedding | MapEmbedding":
    """The embedding `dims.embedding_style` selects."""
    if dims.map_embedding:
        return MapEmbedding(dims, layers=layers, rngs=rngs)
    return Embedding(dims, layers=layers, rngs=rngs)


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
        self.square = layers.linear(dims.embedding_inputs, e, rngs=rngs)
        self.norm = layers.layer_norm(e, rngs=rngs)
        # Per square and feature; the train step keeps mult_gate >= 0 (see gating.py).
        self.mult_gate, self.add_gate = gate_params(e, layers.param_dtype)
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
        planes_bsc = square_features(planes_bchw, self.compute_dtype)
        x_tc = planes_bsc.reshape(b * NUM_SQUARES, NUM_PLANES)
        if self.preprocess is not None:
            pieces_bf = planes_bsc[:, :, :NUM_PIECE_PLANES].reshape(b, -1)
            dense_td = self.preprocess(pieces_bf).reshape(b * NUM_SQUARES, self.dense)
            x_tc = jnp.concatenate([x_tc, dense_td], axis=1)
        x_te = self.norm(activation_fn(self.activation)(self.square(x_tc)))
        x_te = apply_gates(x_te, self.mult_gate[...], self.add_gate[...])
        return self.ffn_norm(x_te + self.alpha * self.ffn(x_te))
