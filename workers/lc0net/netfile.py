"""Reading and writing lc0 network files: gzip-compressed `pblczero.Net` protobufs."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import TypeAlias

from google.protobuf import message as pb_message

from lc0train import net_pb2

from workers.lc0net.mapping import lc0_path_parts

MAGIC = 0x1C0
NetworkFormat = net_pb2.NetworkFormat
Layer: TypeAlias = net_pb2.Weights.Layer


class NetFileError(ValueError):
    """A file that is not an lc0 network, or one this trainer cannot represent."""


def read_net(path: Path) -> net_pb2.Net:
    """Parses a `.pb.gz` (or uncompressed `.pb`) lc0 network file."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise NetFileError(f"cannot read: {err.strerror}") from err
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise NetFileError(f"corrupt gzip stream: {err}") from err
    net = net_pb2.Net()
    try:
        net.ParseFromString(raw)
    except pb_message.DecodeError as err:
        raise NetFileError("not an lc0 network (not a pblczero.Net protobuf)") from err
    if net.magic != MAGIC:
        raise NetFileError(f"not an lc0 network (magic {net.magic:#x}, expected {MAGIC:#x})")
    return net


def write_net(net: net_pb2.Net, path: Path) -> None:
    """Writes `net` gzip-compressed, atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(gzip.compress(net.SerializeToString(), compresslevel=6))
    partial.replace(path)


def enum_name(enum_type: object, value: int) -> str:
    """`NETWORK_SE_WITH_HEADFORMAT` for a known value, the number otherwise."""
    try:
        return enum_type.Name(value)  # type: ignore[attr-defined]
    except ValueError:
        return f"unknown value {value}"


def find_layer(weights: net_pb2.Weights, path: str) -> Layer | None:
    """The populated Layer at `encoder[0].mha.q_w`, or None if any part is unset."""
    node = weights
    for name, index in lc0_path_parts(path):
        if index is None:
            if not node.HasField(name):
                return None
            node = getattr(node, name)
        elif isinstance(index, str):
            entries = [entry for entry in getattr(node, name) if entry.key == index]
            if not entries:
                return None
            node = entries[0].value
        else:
            repeated = getattr(node, name)
            if index >= len(repeated):
                return None
            node = repeated[index]
    return node


def new_layer(weights: net_pb2.Weights, path: str) -> Layer:
    """The Layer at `path`, created (with any repeated entries before it) if needed."""
    node = weights
    for name, index in lc0_path_parts(path):
        node = getattr(node, name)
        if isinstance(index, str):
            entries = [entry for entry in node if entry.key == index]
            node = (entries[0] if entries else node.add(key=index)).value
        elif index is not None:
            while len(node) <= index:
                node.add()
            node = node[index]
    return node


def populated_layers(message: pb_message.Message, prefix: str = "") -> list[str]:
    """Paths of every Layer set anywhere below `message` (for unused-tensor checks); head-map
    entries appear by key (`policy_heads.policy_head_map{next}.ip2_pol_w`)."""
    paths = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        values = value if field.is_repeated else [value]
        for i, item in enumerate(values):
            path = f"{prefix}{field.name}" + (f"[{i}]" if field.is_repeated else "")
            if field.is_repeated and field.message_type.name.endswith("HeadMap"):
                paths += populated_layers(item.value, f"{prefix}{field.name}{{{item.key}}}.")
            elif isinstance(item, net_pb2.Weights.Layer):
                paths.append(path)
            else:
                paths += populated_layers(item, path + ".")
    return paths
