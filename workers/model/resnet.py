"""The legacy SE-ResNet (lc0 SE_WITH_HEADFORMAT / CLASSICAL_WITH_HEADFORMAT nets).

Body (fae46e6): input ConvBlock 3×3(F, BN with γ) → `residual_blocks` × [conv 3×3 → BN
(no γ) → act → conv 3×3 → BN (γ) → SE → + skip → act]; `se_ratio` 0 drops the SE (lc0's
CLASSICAL_WITH_HEADFORMAT; the legacy trainer always had it). SE as lc0 runs it: global average
pool → dense(F/se_ratio, act) → dense(2F) → split (γ′ first, β′ second) →
sigmoid(γ′)·x + β′. All convs 'same', no bias, glorot_normal.

Layout: NHWC inside (see workers/model/conv.py for the lc0 OIHW mapping); input planes are
`[B, 112, 8, 8]` (planes[b, p, rank, file]) as for the transformer.

Call convention: `net(planes, train=None)`; `train=None` follows each BN's
`use_running_average` (flip all with `net.train()` / `net.eval()`). Training mode updates
the `nnx.BatchStat` variables in place (`nnx.state(net, nnx.BatchStat)`).
"""

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike
from lc0train import model_pb2

from workers.model.activations import activation_fn
from workers.model.batchnorm import BatchNormSettings
from workers.model.conv import ConvBlock, ConvLayers
from workers.model.dims import DEFAULT_HEAD_HIDDEN, DEFAULT_MOVES_LEFT_CHANNELS, DEFAULT_VALUE_CHANNELS, NUM_PLANES
from workers.model.errors import ModelConfigError
from workers.model.legacy_heads import (
    AttentionPolicyHead,
    ClassicalPolicyHead,
    ConvPolicyHead,
    MovesLeftHead,
    ValueHead,
)

DEFAULT_POLICY_CHANNELS = 32
DEFAULT_POL_ENCODER_LAYERS = 1
DEFAULT_POL_ENCODER_HEADS = 2


class LegacyOutput(NamedTuple):
    """Outputs of a legacy net; the first three fields match `ModelOutput`'s names.

    `wdl_logits` is None for a classical value head (then `value` holds tanh q [B]);
    `moves_left` is None without a moves-left head.
    """

    policy_logits: jax.Array  # [B, 1858]
    wdl_logits: jax.Array | None  # [B, 3]
    moves_left: jax.Array | None  # [B]
    value: jax.Array | None = None  # [B], classical value head only


@dataclasses.dataclass(frozen=True)
class ResNetDims:
    filters: int
    blocks: int
    se_channels: int  # 0: no SE (lc0 CLASSICAL_WITH_HEADFORMAT; the legacy trainer required SE)
    policy: int  # model_pb2.PolicyHead, DEFAULT resolved
    value: int  # model_pb2.ValueHead, DEFAULT resolved
    moves_left: int  # model_pb2.MovesLeftHead, DEFAULT resolved
    policy_channels: int
    value_channels: int
    moves_left_channels: int
    value_hidden: int
    moves_left_hidden: int
    policy_embedding: int
    policy_d_model: int
    pol_encoder_layers: int
    pol_encoder_heads: int
    pol_encoder_d_model: int
    pol_encoder_dff: int
    activation: int
    bn: BatchNormSettings

    @classmethod
    def from_config(cls, config: model_pb2.ModelConfig) -> "ResNetDims":
        """Resolves every default of a residual net; raises ModelConfigError naming each bad field."""
        f = config.filters
        problems = _transformer_only(config)
        if f <= 0 or config.residual_blocks < 0:
            problems.append(("model.filters", f"({f}) must be positive and model.residual_blocks ({config.residual_blocks}) >= 0"))
        elif config.se_ratio < 0 or (config.se_ratio and f % config.se_ratio):
            problems.append(("model.se_ratio", f"({config.se_ratio}) must be 0 (no SE) or divide model.filters ({f})"))
        if config.policy not in _POLICIES:
            problems.append(("model.policy", f"{config.policy} is not supported on a residual body"))
        try:
            bn = BatchNormSettings.from_config(config)
        except ModelConfigError as err:
            problems += err.problems
        if problems:
            raise ModelConfigError(*problems)
        dims = cls(
            filters=f,
            blocks=config.residual_blocks,
            se_channels=f // config.se_ratio if config.se_ratio else 0,
            policy=config.policy or model_pb2.POLICY_CONVOLUTION,
            value=config.value or model_pb2.VALUE_WDL,
            moves_left=config.moves_left or model_pb2.MOVES_LEFT_V1,
            policy_channels=config.policy_channels or DEFAULT_POLICY_CHANNELS,
            value_channels=config.value_embedding_size or DEFAULT_VALUE_CHANNELS,
            moves_left_channels=config.moves_left_embedding_size or DEFAULT_MOVES_LEFT_CHANNELS,
            value_hidden=config.value_hidden_size or DEFAULT_HEAD_HIDDEN,
            moves_left_hidden=config.moves_left_hidden_size or DEFAULT_HEAD_HIDDEN,
            policy_embedding=config.policy_embedding_size or f,
            policy_d_model=config.policy_d_model or f,
            pol_encoder_layers=(
                config.pol_encoder_layers if config.HasField("pol_encoder_layers") else DEFAULT_POL_ENCODER_LAYERS
            ),
            pol_encoder_heads=config.pol_encoder_heads or DEFAULT_POL_ENCODER_HEADS,
            pol_encoder_d_model=config.pol_encoder_d_model or f,
            pol_encoder_dff=config.pol_encoder_dff or int(1.5 * f),
            activation=config.default_activation or model_pb2.RELU,  # the legacy trainer's default
            bn=bn,
        )
        widths = {"policy_channels": dims.policy_channels, "value_embedding_size": dims.value_channels,
                  "moves_left_embedding_size": dims.moves_left_channels, "value_hidden_size": dims.value_hidden,
                  "moves_left_hidden_size": dims.moves_left_hidden, "policy_embedding_size": dims.policy_embedding,
                  "policy_d_model": dims.policy_d_model}
        bad = [(f"model.{name}", f"is {value}: it must be positive") for name, value in widths.items() if value <= 0]
        if bad:
            raise ModelConfigError(*bad)
        return dims


_POLICIES = (model_pb2.POLICY_DEFAULT, model_pb2.POLICY_CONVOLUTION, model_pb2.POLICY_CLASSICAL, model_pb2.POLICY_ATTENTION)
# Attention-body options that mean nothing to a residual body.
_TRANSFORMER_ONLY = ("embedding_style", "arc_encoding", "encoder_rms_norm", "skip_first_ln", "omit_qkv_biases", "omit_other_biases")


def _transformer_only(config: model_pb2.ModelConfig) -> list[tuple[str, str]]:
    """The attention-body options a residual config sets."""
    problems = []
    if config.dropout_rate:
        problems.append(("model.dropout_rate", "requires body BODY_TRANSFORMER (the legacy trainer applied it to attention encoder layers)"))
    for name in _TRANSFORMER_ONLY:
        if config.HasField(name) if name == "arc_encoding" else getattr(config, name):
            problems.append((f"model.{name}", "requires body BODY_TRANSFORMER"))
    return problems


class SqueezeExcite(nnx.Module):
    def __init__(self, filters: int, se_channels: int, activation: int, *, layers: ConvLayers, rngs: nnx.Rngs):
        self.dense1 = layers.linear(filters, se_channels, rngs=rngs)
        self.dense2 = layers.linear(se_channels, 2 * filters, rngs=rngs)
        self.activation = activation
        self.filters = filters

    def __call__(self, x_bhwc: jax.Array) -> jax.Array:
        pooled_bc = jnp.mean(x_bhwc, axis=(1, 2))
        gb = self.dense2(activation_fn(self.activation)(self.dense1(pooled_bc)))
        gamma, beta = gb[:, : self.filters], gb[:, self.filters :]
        return jax.nn.sigmoid(gamma)[:, None, None, :] * x_bhwc + beta[:, None, None, :]


class ResidualBlock(nnx.Module):
    def __init__(self, dims: ResNetDims, *, layers: ConvLayers, rngs: nnx.Rngs):
        f = dims.filters
        self.conv1 = layers.conv(f, f, 3, use_bias=False, rngs=rngs)
        self.bn1 = layers.batch_norm(f, use_scale=False)
        self.conv2 = layers.conv(f, f, 3, use_bias=False, rngs=rngs)
        self.bn2 = layers.batch_norm(f, use_scale=True)
        self.se = SqueezeExcite(f, dims.se_channels, dims.activation, layers=layers, rngs=rngs) if dims.se_channels else None
        self.activation = dims.activation

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        act = activation_fn(self.activation)
        y = act(self.bn1(self.conv1(x_bhwc), train=train))
        y = self.bn2(self.conv2(y), train=train)
        if self.se is not None:
            y = self.se(y)
        return act(y + x_bhwc)


class ResNet(nnx.Module):
    """Legacy SE-ResNet body with convolution / classical / attention policy heads."""

    def __init__(
        self,
        dims: ResNetDims,
        *,
        rngs: nnx.Rngs,
        param_dtype: DTypeLike = jnp.float32,
        compute_dtype: DTypeLike | None = None,
    ):
        layers = ConvLayers(bn=dims.bn, param_dtype=param_dtype, compute_dtype=compute_dtype)
        f, act = dims.filters, dims.activation
        self.dims = dims
        self.input_block = ConvBlock(NUM_PLANES, f, 3, act, use_scale=True, layers=layers, rngs=rngs)
        self.blocks = nnx.List([ResidualBlock(dims, layers=layers, rngs=rngs) for _ in range(dims.blocks)])
        self.policy: ConvPolicyHead | ClassicalPolicyHead | AttentionPolicyHead
        match dims.policy:
            case model_pb2.POLICY_CONVOLUTION:
                self.policy = ConvPolicyHead(f, act, layers=layers, rngs=rngs)
            case model_pb2.POLICY_CLASSICAL:
                self.policy = ClassicalPolicyHead(f, dims.policy_channels, act, layers=layers, rngs=rngs)
            case model_pb2.POLICY_ATTENTION:
                self.policy = AttentionPolicyHead(
                    f, dims.policy_embedding, dims.policy_d_model, dims.pol_encoder_layers,
                    dims.pol_encoder_heads, dims.pol_encoder_d_model, dims.pol_encoder_dff,
                    layers=layers, rngs=rngs,
                )
            case other:
                raise ValueError(f"model.policy {other} is not supported on a residual body")
        self.value = ValueHead(
            f, dims.value_channels, dims.value_hidden, act,
            wdl=dims.value == model_pb2.VALUE_WDL, layers=layers, rngs=rngs,
        )
        self.moves_left = (
            MovesLeftHead(f, dims.moves_left_channels, dims.moves_left_hidden, act, layers=layers, rngs=rngs)
            if dims.moves_left == model_pb2.MOVES_LEFT_V1
            else None
        )

    def __call__(self, planes_bchw: jax.Array, *, train: bool | None = None) -> LegacyOutput:
        """planes_bchw: float32 [B, 112, 8, 8], planes[b, p, rank, file]."""
        x = self.input_block(jnp.transpose(planes_bchw, (0, 2, 3, 1)), train=train)
        for block in self.blocks:
            x = block(x, train=train)
        value = self.value(x, train=train).astype(jnp.float32)
        wdl = self.dims.value == model_pb2.VALUE_WDL
        return LegacyOutput(
            policy_logits=self.policy(x, train=train).astype(jnp.float32),
            wdl_logits=value if wdl else None,
            moves_left=None if self.moves_left is None else self.moves_left(x, train=train).astype(jnp.float32),
            value=None if wdl else value,
        )
