"""The entries of lc0's format block shared by residual and attention bodies: input format,
default activation, value and moves-left.

Our `ValueHead` enum has lc0's `ValueFormat` values; moves-left's enums differ. The value
format fixes the output format (classical: one tanh value, WDL: three logits).
"""

from __future__ import annotations

from lc0train import model_pb2, net_pb2

from workers.lc0net.netfile import NetFileError, NetworkFormat, enum_name

_DEFAULT_ACTIVATIONS = {
    model_pb2.MISH: NetworkFormat.DEFAULT_ACTIVATION_MISH,
    model_pb2.RELU: NetworkFormat.DEFAULT_ACTIVATION_RELU,
}
_MOVES_LEFT = {model_pb2.MOVES_LEFT_NONE: NetworkFormat.MOVES_LEFT_NONE, model_pb2.MOVES_LEFT_V1: NetworkFormat.MOVES_LEFT_V1}
_OUTPUTS = {NetworkFormat.VALUE_CLASSICAL: NetworkFormat.OUTPUT_CLASSICAL, NetworkFormat.VALUE_WDL: NetworkFormat.OUTPUT_WDL}


def input_and_activation(input_type: int, activation: int) -> tuple[int, int]:
    """lc0's (input format, default activation) for a model; ValueError names the field lc0 cannot run."""
    if not input_type or input_type not in NetworkFormat.InputFormat.values():
        raise ValueError(f"model.input_type {input_type} is not an lc0 input format")
    if activation not in _DEFAULT_ACTIVATIONS:
        name = model_pb2.Activation.Name(activation)
        raise ValueError(f"model.default_activation {name}: lc0 only supports MISH or RELU as the default activation")
    return input_type, _DEFAULT_ACTIVATIONS[activation]


def check_input_and_activation(fmt: net_pb2.NetworkFormat) -> None:
    """Raises NetFileError naming a file's input format or default activation we cannot run."""
    if not fmt.input or fmt.input not in model_pb2.InputType.values():
        raise NetFileError(f"unsupported input format {enum_name(NetworkFormat.InputFormat, fmt.input)}")
    if fmt.default_activation not in _DEFAULT_ACTIVATIONS.values():
        raise NetFileError(f"unsupported default activation {enum_name(NetworkFormat.DefaultActivation, fmt.default_activation)}")


def model_activation(fmt: net_pb2.NetworkFormat) -> int:
    """Our `Activation` for a checked file's default activation."""
    return {v: k for k, v in _DEFAULT_ACTIVATIONS.items()}[fmt.default_activation]


def tensor_size(sizes: dict[str, int], path: str) -> int:
    """The number of values of tensor `path`; NetFileError when the file lacks it."""
    if path not in sizes:
        raise NetFileError(f"missing tensor {path}")
    return sizes[path]


def set_head_formats(fmt: net_pb2.NetworkFormat, value: int, moves_left: int) -> None:
    """Writes value, output and moves_left for resolved (non-DEFAULT) `model.value` / `model.moves_left`."""
    fmt.value = value
    fmt.output = _OUTPUTS[value]
    fmt.moves_left = _MOVES_LEFT[moves_left]


def check_head_formats(fmt: net_pb2.NetworkFormat, net: str) -> None:
    """Raises NetFileError naming a value, output or moves_left format we cannot represent."""
    if fmt.value not in _OUTPUTS:
        raise NetFileError(f"unsupported value format {enum_name(NetworkFormat.ValueFormat, fmt.value)} in a {net} net")
    if fmt.output != _OUTPUTS[fmt.value]:
        raise NetFileError(
            f"output format {enum_name(NetworkFormat.OutputFormat, fmt.output)} does not match value format "
            f"{enum_name(NetworkFormat.ValueFormat, fmt.value)}"
        )
    if fmt.moves_left not in _MOVES_LEFT.values():
        raise NetFileError(f"unsupported moves_left format {enum_name(NetworkFormat.MovesLeftFormat, fmt.moves_left)} in a {net} net")


def config_heads(fmt: net_pb2.NetworkFormat) -> tuple[int, int]:
    """(model.value, model.moves_left) of a checked format block."""
    return fmt.value, {v: k for k, v in _MOVES_LEFT.items()}[fmt.moves_left]


def has_moves_left(fmt: net_pb2.NetworkFormat) -> bool:
    """True when the file holds a moves-left head."""
    return fmt.moves_left == NetworkFormat.MOVES_LEFT_V1
