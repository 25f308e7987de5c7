"""Post-LN DeepNorm encoder tower with smolgen attention biases, on tokens [B·64, E].

The BT-era options (tf-214) live here too: RMSNorm instead of LayerNorm, no norm after
the attention residual (`skip_first_ln`), and blocks without q/k/v or other biases.
"""

import math

import jax
import jax.numpy as jnp
from flax import nnx

from workers.model.activations import activation_fn
from workers.model.dims import NUM_SQUARES, NetDims, SmolgenDims
from workers.model.layers import Ffn, Layers, deepnorm_init


class Smolgen(nnx.Module):
    """Per-position attention-logit biases [B, heads, 64, 64] generated from the tokens."""

    def __init__(
        self, embedding: int, heads: int, dims: SmolgenDims, *, layers: Layers, rngs: nnx.Rngs
    ):
        self.compress = layers.linear(embedding, dims.hidden_channels, use_bias=False, rngs=rngs)
        self.dense1 = layers.linear(
            NUM_SQUARES * dims.hidden_channels, dims.hidden_size, rngs=rngs
        )
        self.ln1 = layers.layer_norm(dims.hidden_size, rngs=rngs)
        self.dense2 = layers.linear(dims.hidden_size, dims.gen_size * heads, rngs=rngs)
        self.ln2 = layers.layer_norm(dims.gen_size * heads, rngs=rngs)
        self.heads = heads
        self.gen_size = dims.gen_size
        self.activation = dims.activation

    def __call__(self, x_te: jax.Array, weight_gen: nnx.Linear | None) -> jax.Array:
        if weight_gen is None:
            raise ValueError("smolgen needs the encoder's shared weight generator")
        act = activation_fn(self.activation)
        b = x_te.shape[0] // NUM_SQUARES
        compressed_bf = self.compress(x_te).reshape(b, -1)
        hidden_bh = self.ln1(act(self.dense1(compressed_bf)))
        gen_bg = self.ln2(act(self.dense2(hidden_bh)))
        bias_nk = weight_gen(gen_bg.reshape(b * self.heads, self.gen_size))
        return bias_nk.reshape(b, self.heads, NUM_SQUARES, NUM_SQUARES)


class MultiHeadAttention(nnx.Module):
    """Scaled dot-product attention with optional smolgen logit biases."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        e, d = dims.embedding, dims.d_model
        init = deepnorm_init(dims.deepnorm_beta)
        # The legacy attention body initialised q and k glorot-normal.
        qk_init = nnx.initializers.glorot_normal() if dims.map_embedding else None
        qkv_bias, out_bias = dims.qkv_bias, dims.other_bias
        self.q = layers.linear(e, d, use_bias=qkv_bias, kernel_init=qk_init, rngs=rngs)
        self.k = layers.linear(e, d, use_bias=qkv_bias, kernel_init=qk_init, rngs=rngs)
        self.v = layers.linear(e, d, use_bias=qkv_bias, kernel_init=init, rngs=rngs)
        self.out = layers.linear(d, e, use_bias=out_bias, kernel_init=init, rngs=rngs)
        self.smolgen = (
            Smolgen(e, dims.heads, dims.smolgen, layers=layers, rngs=rngs)
            if dims.smolgen is not None
            else None
        )
        self.heads = dims.heads
        self.head_depth = dims.head_depth

    def __call__(self, x_te: jax.Array, weight_gen: nnx.Linear | None) -> jax.Array:
        b = x_te.shape[0] // NUM_SQUARES

        def split_heads(y_td: jax.Array) -> jax.Array:
            return y_td.reshape(b, NUM_SQUARES, self.heads, self.head_depth).transpose(0, 2, 1, 3)

        q_bhsd = split_heads(self.q(x_te) * (1.0 / math.sqrt(self.head_depth)))
        k_bhsd = split_heads(self.k(x_te))
        v_bhsd = split_heads(self.v(x_te))
        logits_bhqk = jnp.einsum("bhqd,bhkd->bhqk", q_bhsd, k_bhsd)
        if self.smolgen is not None:
            logits_bhqk = logits_bhqk + self.smolgen(x_te, weight_gen)
        # Softmax in fp32 whatever the compute dtype (mixed precision keeps softmaxes exact).
        weights_bhqk = jax.nn.softmax(logits_bhqk.astype(jnp.float32), axis=-1).astype(v_bhsd.dtype)
        attended_bhsd = jnp.einsum("bhqk,bhkd->bhqd", weights_bhqk, v_bhsd)
        attended_td = attended_bhsd.transpose(0, 2, 1, 3).reshape(b * NUM_SQUARES, -1)
        return self.out(attended_td)


class EncoderBlock(nnx.Module):
    """x ← LN1(x + α·MHA(x)); x ← LN2(x + α·FFN(x)) (LN1 absent with `skip_first_ln`)."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        def norm() -> nnx.Module:
            return layers.norm(dims.embedding, epsilon=dims.encoder_norm_eps, rms=dims.rms_norm, rngs=rngs)

        self.mha = MultiHeadAttention(dims, layers=layers, rngs=rngs)
        self.ln1 = None if dims.skip_first_ln else norm()
        self.ffn = Ffn(
            dims.embedding,
            dims.dff,
            dims.ffn_activation,
            beta=dims.deepnorm_beta,
            layers=layers,
            rngs=rngs,
            use_bias=dims.other_bias,
        )
        self.ln2 = norm()
        self.alpha = dims.deepnorm_alpha
        # Active only in training mode (model.train()) and when given a `dropout` RNG stream.
        self.dropout = nnx.Dropout(dims.dropout_rate)

    def __call__(self, x_te: jax.Array, weight_gen: nnx.Linear | None, rngs: nnx.Rngs | None = None) -> jax.Array:
        x_te = x_te + self.alpha * self.dropout(self.mha(x_te, weight_gen), rngs=rngs)
        if self.ln1 is not None:
            x_te = self.ln1(x_te)
        return self.ln2(x_te + self.alpha * self.dropout(self.ffn(x_te), rngs=rngs))


class Encoder(nnx.Module):
    """The encoder blocks plus the smolgen weight generator they all share."""

    def __init__(self, dims: NetDims, *, layers: Layers, rngs: nnx.Rngs):
        self.smolgen_gen = (
            layers.linear(
                dims.smolgen.gen_size, NUM_SQUARES * NUM_SQUARES, use_bias=False, rngs=rngs
            )
            if dims.smolgen is not None
            else None
        )
        self.blocks = nnx.List(
            [EncoderBlock(dims, layers=layers, rngs=rngs) for _ in range(dims.layers)]
        )

    def __call__(self, x_te: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        for block in self.blocks:
            x_te = block(x_te, self.smolgen_gen, rngs)
        return x_te
