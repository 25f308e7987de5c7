"""The ResNet's lc0 `NetworkFormat`, its `min_version`, and the ModelConfig a residual file describes.

`network_format` and `model_config` are inverse: the structure is SE_WITH_HEADFORMAT with
SE and CLASSICAL_WITH_HEADFORMAT without; policy, value and moves-left formats and the
default activation come from the ModelConfig; widths come back from tensor sizes.
"""

from __future__ import annotations

from lc0train import model_pb2, net_pb2

from workers.lc0net.head_format import (
    check_head_formats,
    check_input_and_activation,
    config_heads,
    has_moves_left,
    input_and_activation,
    model_activation,
    set_head_formats,
    tensor_size,
)
from workers.lc0net.netfile import NetFileError, NetworkFormat, enum_name
from workers.model.dims import NUM_PLANES
from workers.model.resnet import ResNetDims

RESNET_NETWORKS = (NetworkFormat.NETWORK_SE_WITH_HEADFORMAT, NetworkFormat.NETWORK_CLASSICAL_WITH_HEADFORMAT)
# PolicyHead shares lc0's enum values (value and moves-left: head_format.py).
_POLICIES = (NetworkFormat.POLICY_CLASSICAL, NetworkFormat.POLICY_CONVOLUTION, NetworkFormat.POLICY_ATTENTION)
# The first lc0 minor version (0.x) reading each feature (lczero-training's net.py and
# lc0's release notes): residual nets with head formats 21, canonical inputs 25,
# hectoplies 26, canonical v2 27, moves-left 26, Mish and attention policy 29.
_BASE_MINOR = 21


def resnet_network_format(config: model_pb2.ModelConfig) -> net_pb2.NetworkFormat:
    """The format block lc0 needs to run a ResNet built from `config`."""
    dims = ResNetDims.from_config(config)
    input_format, activation = input_and_activation(config.input_type, dims.activation)
    network = RESNET_NETWORKS[0] if dims.se_channels else RESNET_NETWORKS[1]
    fmt = NetworkFormat(input=input_format, network=network, policy=dims.policy, default_activation=activation)
    set_head_formats(fmt, dims.value, dims.moves_left)
    return fmt


def resnet_min_version(config: model_pb2.ModelConfig) -> tuple[int, int, int]:
    """The oldest lc0 reading what `resnet_network_format(config)` describes."""
    dims = ResNetDims.from_config(config)
    minor = _BASE_MINOR
    input_type = config.input_type
    if input_type in (model_pb2.INPUT_112_WITH_CANONICALIZATION_V2, model_pb2.INPUT_112_WITH_CANONICALIZATION_V2_ARMAGEDDON):
        minor = 27
    elif input_type >= model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES:
        minor = 26
    elif input_type != model_pb2.INPUT_CLASSICAL_112_PLANE:
        minor = 25
    if dims.moves_left == model_pb2.MOVES_LEFT_V1:
        minor = max(minor, 26)
    if dims.activation == model_pb2.MISH or dims.policy == model_pb2.POLICY_ATTENTION:
        minor = max(minor, 29)
    return (0, minor, 0)


def check_resnet_supported(fmt: net_pb2.NetworkFormat) -> None:
    """Raises NetFileError naming the first format value our ResNet cannot represent."""
    net = enum_name(NetworkFormat.NetworkStructure, fmt.network)
    if fmt.policy not in _POLICIES:
        raise NetFileError(f"unsupported policy format {enum_name(NetworkFormat.PolicyFormat, fmt.policy)} in a {net} net")
    check_head_formats(fmt, net)
    if fmt.input_embedding != NetworkFormat.INPUT_EMBEDDING_NONE:
        embedding = enum_name(NetworkFormat.InputEmbeddingFormat, fmt.input_embedding)
        raise NetFileError(f"unsupported input embedding {embedding} in a {net} net (residual nets have none)")
    check_input_and_activation(fmt)


def resnet_model_config(fmt: net_pb2.NetworkFormat, sizes: dict[str, int], weights: net_pb2.Weights) -> model_pb2.ModelConfig:
    """The ModelConfig of a residual net; `sizes` counts the values of each tensor present."""
    check_resnet_supported(fmt)

    def size(path: str) -> int:
        return tensor_size(sizes, path)

    def per(path: str, unit: int, what: str) -> int:
        count = size(path)
        if count % unit or not count:
            raise NetFileError(f"tensor {path} has {count} values, not a positive multiple of {unit} ({what})")
        return count // unit

    filters = per("input.weights", NUM_PLANES * 9, f"{NUM_PLANES} input planes × 3×3")
    activation = model_activation(fmt)
    value, moves_left = config_heads(fmt)
    config = model_pb2.ModelConfig(
        body=model_pb2.BODY_RESNET,
        input_type=fmt.input,
        filters=filters,
        residual_blocks=len(weights.residual),
        default_activation=activation,
        policy=fmt.policy,
        value=value,
        moves_left=moves_left,
        value_embedding_size=per("value.weights", filters, f"{filters} filters × 1×1"),
        value_hidden_size=size("ip1_val_b"),
    )
    se = fmt.network == NetworkFormat.NETWORK_SE_WITH_HEADFORMAT
    if se and config.residual_blocks:
        channels = size("residual[0].se.b1")
        if not channels or filters % channels:
            raise NetFileError(f"tensor residual[0].se.b1 has {channels} values, which do not divide the {filters} filters")
        config.se_ratio = filters // channels
    if fmt.policy == NetworkFormat.POLICY_CLASSICAL:
        config.policy_channels = per("policy.weights", filters, f"{filters} filters × 1×1")
    elif fmt.policy == NetworkFormat.POLICY_ATTENTION:
        config.policy_embedding_size = size("ip_pol_b")
        config.policy_d_model = size("ip2_pol_b")
        config.pol_encoder_layers = len(weights.pol_encoder)
        if weights.pol_encoder:
            config.pol_encoder_heads = weights.pol_headcount
            config.pol_encoder_d_model = size("pol_encoder[0].mha.q_b")
            config.pol_encoder_dff = size("pol_encoder[0].ffn.dense1_b")
    if has_moves_left(fmt):
        config.moves_left_embedding_size = per("moves_left.weights", filters, f"{filters} filters × 1×1")
        config.moves_left_hidden_size = size("ip1_mov_b")
    try:
        ResNetDims.from_config(config)
    except ValueError as err:
        raise NetFileError(f"the tensors describe no valid residual network: {err}") from err
    return config
