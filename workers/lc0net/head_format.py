"""The value and moves-left entries of lc0's format block, shared by residual and attention bodies.

Our `ValueHead` enum has lc0's `ValueFormat` values; moves-left's enums differ. The value
format fixes the output format (classical: one tanh value, WDL: three logits).
"""

from __future__ import annotations

from lc0train import model_pb2, net_pb2

from workers.lc0net.netfile import NetFileError, NetworkFormat, enum_name

_MOVES_LEFT = {model_pb2.MOVES_LEFT_NONE: NetworkFormat.MOVES_LEFT_NONE, model_pb2.MOVES_LEFT_V1: NetworkFormat.MOVES_LEFT_V1}
_OUTPUTS = {NetworkFormat.VALUE_CLASSICAL: NetworkFormat.OUTPUT_CLASSICAL, NetworkFormat.VALUE_WDL: NetworkFormat.OUTPUT_WDL}


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
