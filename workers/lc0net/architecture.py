"""BTNet's lc0 `NetworkFormat`, and the ModelConfig a network file describes.

Both directions live here so they stay inverse: `network_format` derives the format
block from a ModelConfig; `model_config` rebuilds the ModelConfig from a file's format
and tensor sizes. Our `Activation` enum has lc0's `ActivationFunction` values.
"""

from __future__ import annotations

from lc0train import model_pb2, net_pb2

from workers.lc0net.mapping import policy_slot
from workers.lc0net.netfile import NetFileError, NetworkFormat, enum_name
from workers.model.activations import resolve_activation
from workers.model.dims import NUM_SQUARES, NetDims
from workers.model.head_layout import AUX_POLICY_NAMES, AUX_VALUE_NAMES

# lc0 0.31 is the first release that reads the multi-head format with PE_DENSE embedding;
# 0.33 would read per-layer FLOAT16 encodings, which we never write.
MIN_VERSION = (0, 31, 0)
_DEFAULT_ACTIVATIONS = {
    model_pb2.MISH: NetworkFormat.DEFAULT_ACTIVATION_MISH,
    model_pb2.RELU: NetworkFormat.DEFAULT_ACTIVATION_RELU,
}
# What BTNet is, whatever its widths: (NetworkFormat field, value).
_FIXED = (
    ("network", NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT, NetworkFormat.NetworkStructure),
    ("input_embedding", NetworkFormat.INPUT_EMBEDDING_PE_DENSE, NetworkFormat.InputEmbeddingFormat),
    ("policy", NetworkFormat.POLICY_ATTENTION, NetworkFormat.PolicyFormat),
    ("value", NetworkFormat.VALUE_WDL, NetworkFormat.ValueFormat),
    ("output", NetworkFormat.OUTPUT_WDL, NetworkFormat.OutputFormat),
    ("moves_left", NetworkFormat.MOVES_LEFT_V1, NetworkFormat.MovesLeftFormat),
)


def require_transformer(config: model_pb2.ModelConfig) -> None:
    """Raises ValueError unless `config` builds a BTNet, the one body lc0 interop covers so far."""
    if config.body != model_pb2.BODY_TRANSFORMER:
        name = model_pb2.Body.Name(config.body) if config.body in model_pb2.Body.values() else str(config.body)
        raise ValueError(f"model.body {name}: lc0 network files are implemented for BODY_TRANSFORMER nets only")


def network_format(config: model_pb2.ModelConfig) -> net_pb2.NetworkFormat:
    """The format block lc0 needs to run a BTNet built from `config`."""
    require_transformer(config)
    dims = NetDims.from_config(config)
    if config.input_type not in NetworkFormat.InputFormat.values() or not config.input_type:
        raise ValueError(f"model.input_type {config.input_type} is not an lc0 input format")
    if dims.default_activation not in _DEFAULT_ACTIVATIONS:
        name = model_pb2.Activation.Name(dims.default_activation)
        raise ValueError(f"model.default_activation {name}: lc0 only supports MISH or RELU as the default activation")
    if not dims.embedding_dense:
        raise ValueError("model.embedding_dense_sz is 0: lc0's PE_DENSE embedding needs the dense preprocessing")
    fmt = NetworkFormat(
        input=config.input_type,
        default_activation=_DEFAULT_ACTIVATIONS[dims.default_activation],
        ffn_activation=dims.ffn_activation,
        smolgen_activation=dims.smolgen.activation if dims.smolgen else dims.default_activation,
    )
    for field, value, _ in _FIXED:
        setattr(fmt, field, value)
    return fmt


def check_supported(fmt: net_pb2.NetworkFormat) -> None:
    """Raises NetFileError naming the first format value BTNet cannot represent."""
    for field, expected, enum_type in _FIXED:
        value = getattr(fmt, field)
        if value != expected:
            raise NetFileError(
                f"unsupported {field} format {enum_name(enum_type, value)}: this trainer imports "
                f"{enum_name(enum_type, expected)} nets (BT-style transformers)"
            )
    if not fmt.input or fmt.input not in model_pb2.InputType.values():
        raise NetFileError(f"unsupported input format {enum_name(NetworkFormat.InputFormat, fmt.input)}")
    if fmt.default_activation not in _DEFAULT_ACTIVATIONS.values():
        raise NetFileError(f"unsupported default activation {fmt.default_activation}")


def _activation(value: int, default: int, field: str) -> int:
    if value == NetworkFormat.ACTIVATION_SOFTMAX or value not in model_pb2.Activation.values():
        raise NetFileError(f"unsupported {field} {enum_name(NetworkFormat.ActivationFunction, value)}")
    return resolve_activation(value, default)


def model_config(fmt: net_pb2.NetworkFormat, sizes: dict[str, int], layers: int, heads: int) -> model_pb2.ModelConfig:
    """The ModelConfig of a supported net; `sizes` counts the values of each tensor present."""
    check_supported(fmt)

    def size(path: str) -> int:
        if path not in sizes:
            raise NetFileError(f"missing tensor {path}")
        return sizes[path]

    default = {v: k for k, v in _DEFAULT_ACTIVATIONS.items()}[fmt.default_activation]
    if layers < 1 or heads < 1:
        raise NetFileError(f"the net has {layers} encoder layers and headcount {heads}: both must be positive")
    embedding = size("ip_emb_b")
    config = model_pb2.ModelConfig(
        input_type=fmt.input,
        embedding_size=embedding,
        embedding_dense_sz=_per_square(size("ip_emb_preproc_b"), "ip_emb_preproc_b"),
        embedding_dff=size("ip_emb_ffn.dense1_b"),
        encoder_layers=layers,
        encoder_heads=heads,
        encoder_d_model=size("encoder[0].mha.q_b"),
        encoder_dff=size("encoder[0].ffn.dense1_b"),
        default_activation=default,
        ffn_activation=_activation(fmt.ffn_activation, default, "ffn activation"),
        policy_embedding_size=size("policy_heads.ip_pol_b"),
        policy_d_model=size("policy_heads.vanilla.ip2_pol_b"),
        value_embedding_size=size("value_heads.winner.ip_val_b"),
        value_hidden_size=size("value_heads.winner.ip1_val_b"),
        moves_left_embedding_size=size("ip_mov_b"),
        moves_left_hidden_size=size("ip1_mov_b"),
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
    except ValueError as err:
        raise NetFileError(f"the tensors describe no valid BT network: {err}") from err
    return config


def _aux_heads(config: model_pb2.ModelConfig, sizes: dict[str, int]) -> None:
    """The auxiliary heads whose tensors the file holds (error and categorical outputs of q/st)."""
    config.aux_policy_heads.extend(key for key, name in AUX_POLICY_NAMES.items() if f"{policy_slot(name)}.ip2_pol_b" in sizes)
    values = [name for key, name in AUX_VALUE_NAMES.items() if f"value_heads.{name}.ip_val_b" in sizes]
    config.aux_value_heads.extend(key for key, name in AUX_VALUE_NAMES.items() if name in values)
    config.value_error_outputs = any(f"value_heads.{name}.ip_val_err_b" in sizes for name in values)
    config.categorical_value_buckets = next((sizes[f"value_heads.{n}.ip_val_cat_b"] for n in values if f"value_heads.{n}.ip_val_cat_b" in sizes), 0)


def _per_square(count: int, path: str) -> int:
    if count % NUM_SQUARES:
        raise NetFileError(f"tensor {path} has {count} values, not a multiple of {NUM_SQUARES} squares")
    return count // NUM_SQUARES
