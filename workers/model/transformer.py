"""The BT4-style attention-body network lc0 runs (ATTENTIONBODY multi-head format)."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from lc0train import model_pb2

from workers.model.dims import NetDims
from workers.model.embedding import build_embedding
from workers.model.encoder import Encoder
from workers.model.heads import FlatHead, PolicyHead
from workers.model.layers import Layers


class ModelOutput(NamedTuple):
    """Raw network outputs for a batch of B positions (float32)."""

    policy_logits: jax.Array  # [B, 1858], lc0 policy order
    wdl_logits: jax.Array  # [B, 3], win / draw / loss logits (softmax belongs to the loss)
    moves_left: jax.Array  # [B], plies, after ReLU


class BTNet(nnx.Module):
    """PE_DENSE or PE_MAP embedding → post-LN encoder tower → policy, value and moves-left heads."""

    def __init__(
        self,
        config: model_pb2.ModelConfig,
        *,
        rngs: nnx.Rngs,
        param_dtype: DTypeLike = jnp.float32,
        compute_dtype: DTypeLike | None = None,
    ):
        dims = NetDims.from_config(config)
        layers = Layers(param_dtype=param_dtype, compute_dtype=compute_dtype)
        self.dims = dims
        self.embedding = build_embedding(dims, layers=layers, rngs=rngs)
        self.encoder = Encoder(dims, layers=layers, rngs=rngs)
        self.policy = PolicyHead(dims, layers=layers, rngs=rngs)
        self.value = FlatHead(
            dims.embedding,
            dims.value_channels,
            dims.value_hidden,
            3,
            dims.default_activation,
            layers=layers,
            rngs=rngs,
        )
        self.moves_left = FlatHead(
            dims.embedding,
            dims.moves_left_channels,
            dims.moves_left_hidden,
            1,
            dims.default_activation,
            layers=layers,
            rngs=rngs,
        )

    def __call__(self, planes_bchw: jax.Array, *, rngs: nnx.Rngs | None = None) -> ModelOutput:
        """planes_bchw: float32 [B, 112, 8, 8], planes[b, p, rank, file]; `rngs` feeds dropout in training."""
        x_te = self.encoder(self.embedding(planes_bchw), rngs)
        return ModelOutput(
            policy_logits=self.policy(x_te).astype(jnp.float32),
            wdl_logits=self.value(x_te).astype(jnp.float32),
            moves_left=jax.nn.relu(self.moves_left(x_te)[:, 0]).astype(jnp.float32),
        )
