"""The BT4-style attention-body network lc0 runs (ATTENTIONBODY multi-head format)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from workers.model.dims import NetDims
from workers.model.embedding import build_embedding
from workers.model.encoder import Encoder
from workers.model.head_layout import HeadLayout
from workers.model.heads import AttentionPolicy, FlatHead, PolicyHead, ValueHead, ValueOutput
from workers.model.layers import Layers


class ModelOutput(NamedTuple):
    """Raw network outputs for a batch of B positions (float32).

    `wdl_logits` is None for a classical value head (then `value` holds tanh q [B]), as in
    the ResNet's `LegacyOutput`; `moves_left` is None without a moves-left head.
    """

    policy_logits: jax.Array  # [B, 1858], lc0 policy order
    wdl_logits: jax.Array | None  # [B, 3], win / draw / loss logits (softmax belongs to the loss)
    moves_left: jax.Array | None  # [B], plies, after ReLU
    # BT-era auxiliary heads (empty unless configured): policy logits [B, 1858] by slot name
    # (optimistic_st, soft, opponent, next) and value outputs by name (q, st).
    aux_policy: dict[str, jax.Array] = {}
    aux_value: dict[str, ValueOutput] = {}
    value: jax.Array | None = None  # [B], classical value head only


class BTNet(nnx.Module):
    """PE_DENSE or PE_MAP embedding → post-LN encoder tower → policy, value (WDL or classical)
    and optional moves-left heads, plus the auxiliary heads of `model.aux_*` (docs/losses.md)."""

    def __init__(
        self,
        dims: NetDims,
        heads: HeadLayout,
        *,
        rngs: nnx.Rngs,
        param_dtype: DTypeLike = jnp.float32,
        compute_dtype: DTypeLike | None = None,
    ):
        layers = Layers(param_dtype=param_dtype, compute_dtype=compute_dtype)
        self.dims = dims
        self.embedding = build_embedding(dims, layers=layers, rngs=rngs)
        self.encoder = Encoder(dims, layers=layers, rngs=rngs)
        self.policy = PolicyHead(dims, layers=layers, rngs=rngs)
        self.value = ValueHead(dims, error_output=False, categorical_buckets=0, layers=layers, rngs=rngs, wdl=dims.wdl_value)
        self.moves_left = FlatHead(
            dims.embedding,
            dims.moves_left_channels,
            dims.moves_left_hidden,
            1,
            dims.default_activation,
            layers=layers,
            rngs=rngs,
        ) if dims.moves_left_head else None

        self.aux_policy = nnx.Dict({name: AttentionPolicy(dims, layers=layers, rngs=rngs) for name in heads.aux_policy})
        self.aux_value = nnx.Dict({
            name: ValueHead(dims, error_output=heads.error_outputs, categorical_buckets=heads.categorical_buckets, layers=layers, rngs=rngs)
            for name in heads.aux_value
        })

    def __call__(self, planes_bchw: jax.Array, *, rngs: nnx.Rngs | None = None) -> ModelOutput:
        """planes_bchw: float32 [B, 112, 8, 8], planes[b, p, rank, file]; `rngs` feeds dropout in training."""
        x_te = self.encoder(self.embedding(planes_bchw), rngs)
        tokens_tp = self.policy.embed(x_te)
        value = self.value(x_te).astype(jnp.float32)
        wdl = self.dims.wdl_value
        return ModelOutput(
            policy_logits=self.policy.logits(tokens_tp).astype(jnp.float32),
            wdl_logits=value if wdl else None,
            moves_left=None if self.moves_left is None else jax.nn.relu(self.moves_left(x_te)[:, 0]).astype(jnp.float32),
            aux_policy={name: head.logits(tokens_tp).astype(jnp.float32) for name, head in self.aux_policy.items()},
            aux_value={name: head.outputs(x_te) for name, head in self.aux_value.items()},
            value=None if wdl else jnp.tanh(value[:, 0]),
        )
