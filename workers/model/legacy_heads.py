"""Heads of the legacy residual nets (fae46e6 `tfprocess.py`), on NHWC body output.

* `ConvPolicyHead`: ConvBlock 3×3(F, BN without γ) → conv 3×3(80, bias) → the 80×64
  AlphaZero layout gathered to lc0's 1858 (`workers.data.conv_policy_map`).
* `ClassicalPolicyHead`: ConvBlock 1×1(policy_channels) → flatten channel-major → dense 1858.
* `AttentionPolicyHead`: tokens `[B·64, F]` (square order) → dense(policy_embedding_size,
  selu) → `pol_encoder_layers` post-LN encoder layers (α = 1, LN ε 1e-6, FFN selu) →
  Q, K (policy_d_model) → QKᵀ/√d plus promotion offsets, lc0's attention-policy layout.
* `ValueHead`: ConvBlock 1×1(C) → flatten channel-major → dense(hidden, act) → dense(3)
  WDL logits, or dense(1) → tanh for the classical value.
* `MovesLeftHead`: ConvBlock 1×1(C) → flatten → dense(hidden, act) → dense(1) → relu.

Every head takes `(x_bhwc, train=None)`; `train` reaches the BN layers (see batchnorm.py).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from lc0train import model_pb2

from workers.data.conv_policy_map import (
    NUM_CONV_POLICY_PLANES,
    conv_policy_gather_index,
)
from workers.data.policy_map import POLICY_MOVES
from workers.model.activations import activation_fn
from workers.model.conv import ConvBlock, ConvLayers, nhwc_to_channel_major
from workers.model.dims import NUM_SQUARES
from workers.model.heads import NUM_FROM_TO, NUM_PROMOTION_LOGITS, policy_gather_index

NUM_POLICY = len(POLICY_MOVES)
# The legacy (PE_MAP era) encoder LayerNorm epsilon, also what lc0 uses for these layers.
LEGACY_ENCODER_LN_EPS = 1e-6


@functools.cache
def _nhwc_conv_policy_index() -> np.ndarray:
    """Gather index into an NHWC-flattened [64·80] output (square-major, plane-minor)."""
    flat = conv_policy_gather_index()  # plane·64 + square
    plane, square = np.divmod(flat, NUM_SQUARES)
    index = (square * NUM_CONV_POLICY_PLANES + plane).astype(np.int32)
    index.flags.writeable = False
    return index


class ConvPolicyHead(nnx.Module):
    def __init__(self, filters: int, activation: int, *, layers: ConvLayers, rngs: nnx.Rngs):
        self.conv_block = ConvBlock(filters, filters, 3, activation, use_scale=False, layers=layers, rngs=rngs)
        self.conv = layers.conv(filters, NUM_CONV_POLICY_PLANES, 3, use_bias=True, rngs=rngs)

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        planes_bhwp = self.conv(self.conv_block(x_bhwc, train=train))
        # Same values as flattening NCHW and multiplying by the legacy 5120×1858 0/1 matrix.
        return jnp.take(planes_bhwp.reshape(planes_bhwp.shape[0], -1), _nhwc_conv_policy_index(), axis=1)


class ClassicalPolicyHead(nnx.Module):
    def __init__(self, filters: int, channels: int, activation: int, *, layers: ConvLayers, rngs: nnx.Rngs):
        self.conv_block = ConvBlock(filters, channels, 1, activation, use_scale=False, layers=layers, rngs=rngs)
        self.dense = layers.linear(channels * NUM_SQUARES, NUM_POLICY, rngs=rngs)

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        return self.dense(nhwc_to_channel_major(self.conv_block(x_bhwc, train=train)))


class PolicyEncoderLayer(nnx.Module):
    """x ← LN(x + MHA(x)); x ← LN(x + FFN(x)) on tokens [B·64, E] (legacy, α = 1)."""

    def __init__(
        self, features: int, d_model: int, heads: int, dff: int, activation: int,
        *, layers: ConvLayers, rngs: nnx.Rngs,
    ):
        if d_model % heads:
            raise ValueError(f"model.pol_encoder_d_model ({d_model}) must be divisible by model.pol_encoder_heads ({heads})")
        self.q = layers.linear(features, d_model, rngs=rngs)
        self.k = layers.linear(features, d_model, rngs=rngs)
        self.v = layers.linear(features, d_model, rngs=rngs)
        self.out = layers.linear(d_model, features, rngs=rngs)
        self.ln1 = nnx.LayerNorm(features, epsilon=LEGACY_ENCODER_LN_EPS, dtype=layers.compute_dtype,
                                 param_dtype=layers.param_dtype, rngs=rngs)
        self.ffn1 = layers.linear(features, dff, rngs=rngs)
        self.ffn2 = layers.linear(dff, features, rngs=rngs)
        self.ln2 = nnx.LayerNorm(features, epsilon=LEGACY_ENCODER_LN_EPS, dtype=layers.compute_dtype,
                                 param_dtype=layers.param_dtype, rngs=rngs)
        self.heads = heads
        self.depth = d_model // heads
        self.activation = activation

    def __call__(self, x_te: jax.Array) -> jax.Array:
        b = x_te.shape[0] // NUM_SQUARES

        def split(y_td: jax.Array) -> jax.Array:
            return y_td.reshape(b, NUM_SQUARES, self.heads, self.depth)

        q, k, v = split(self.q(x_te)), split(self.k(x_te)), split(self.v(x_te))
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) * (1.0 / math.sqrt(self.depth))
        weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(v.dtype)
        attended = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b * NUM_SQUARES, -1)
        x_te = self.ln1(x_te + self.out(attended))
        return self.ln2(x_te + self.ffn2(activation_fn(self.activation)(self.ffn1(x_te))))


class AttentionPolicyHead(nnx.Module):
    """lc0's attention policy on a residual body (token activation selu)."""

    def __init__(
        self, filters: int, embedding: int, d_model: int, encoder_layers: int, encoder_heads: int,
        encoder_d_model: int, encoder_dff: int, *, layers: ConvLayers, rngs: nnx.Rngs,
    ):
        selu = model_pb2.SELU
        self.embedding = layers.linear(filters, embedding, rngs=rngs)
        self.encoders = nnx.List([
            PolicyEncoderLayer(embedding, encoder_d_model, encoder_heads, encoder_dff, selu, layers=layers, rngs=rngs)
            for _ in range(encoder_layers)
        ])
        self.wq = layers.linear(embedding, d_model, rngs=rngs)
        self.wk = layers.linear(embedding, d_model, rngs=rngs)
        # Offsets per last-rank to-square for q, r, b, n (in that order), scaled like QKᵀ.
        self.promotion = layers.linear(d_model, 4, use_bias=False, rngs=rngs)
        self.d_model = d_model

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        del train  # no BN or dropout here
        b = x_bhwc.shape[0]
        x_te = jax.nn.selu(self.embedding(x_bhwc.reshape(b * NUM_SQUARES, -1)))
        for layer in self.encoders:
            x_te = layer(x_te)
        q_bsd = self.wq(x_te).reshape(b, NUM_SQUARES, self.d_model)
        k_bsd = self.wk(x_te).reshape(b, NUM_SQUARES, self.d_model)
        scale = 1.0 / math.sqrt(self.d_model)
        from_to = jnp.einsum("bqd,bkd->bqk", q_bsd, k_bsd) * scale
        offsets_bt4 = self.promotion(k_bsd[:, 56:].reshape(b * 8, self.d_model)).reshape(b, 8, 4)
        offsets_bt3 = offsets_bt4[..., :3] + offsets_bt4[..., 3:]
        # Legacy: (QKᵀ + √d·(o_p + o_n))/√d, i.e. the scaled from-to logit plus the raw offsets.
        promotions = from_to[:, 48:56, 56:, None] + offsets_bt3[:, None]
        raw = jnp.concatenate(
            [from_to.reshape(b, NUM_FROM_TO), promotions.reshape(b, NUM_PROMOTION_LOGITS)], axis=1
        )
        return jnp.take(raw, policy_gather_index(), axis=1)


class ValueHead(nnx.Module):
    """WDL logits [B, 3] (`wdl=True`) or the classical tanh value [B]."""

    def __init__(
        self, filters: int, channels: int, hidden: int, activation: int, *, wdl: bool,
        layers: ConvLayers, rngs: nnx.Rngs,
    ):
        self.conv_block = ConvBlock(filters, channels, 1, activation, use_scale=False, layers=layers, rngs=rngs)
        self.dense1 = layers.linear(channels * NUM_SQUARES, hidden, rngs=rngs)
        self.dense2 = layers.linear(hidden, 3 if wdl else 1, rngs=rngs)
        self.activation = activation
        self.wdl = wdl

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        flat = nhwc_to_channel_major(self.conv_block(x_bhwc, train=train))
        out = self.dense2(activation_fn(self.activation)(self.dense1(flat)))
        return out if self.wdl else jnp.tanh(out[:, 0])


class MovesLeftHead(nnx.Module):
    """Moves left [B] (plies, after relu)."""

    def __init__(self, filters: int, channels: int, hidden: int, activation: int, *, layers: ConvLayers, rngs: nnx.Rngs):
        self.conv_block = ConvBlock(filters, channels, 1, activation, use_scale=False, layers=layers, rngs=rngs)
        self.dense1 = layers.linear(channels * NUM_SQUARES, hidden, rngs=rngs)
        self.dense2 = layers.linear(hidden, 1, rngs=rngs)
        self.activation = activation

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        flat = nhwc_to_channel_major(self.conv_block(x_bhwc, train=train))
        return jax.nn.relu(self.dense2(activation_fn(self.activation)(self.dense1(flat)))[:, 0])

