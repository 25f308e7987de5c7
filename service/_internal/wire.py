"""Why protobuf bytes do not parse: the field path and byte offset where decoding fails.

The protobuf runtime only says "Error parsing message". `explain_undecodable` walks the wire
format against the message's descriptor to name what could not be parsed, e.g.
`spec.training (field 4) at byte 9: length 200 runs past the end (12 bytes left)`.
"""

from __future__ import annotations

from google.protobuf import descriptor
from google.protobuf.message import DecodeError

_MESSAGE = descriptor.FieldDescriptor.TYPE_MESSAGE
_STRING = descriptor.FieldDescriptor.TYPE_STRING
_FIXED_SIZES = {1: 8, 5: 4}  # wire types 1 (64-bit) and 5 (32-bit)


def explain_undecodable(data: bytes, message: descriptor.Descriptor) -> str:
    """Where and why `data` is not a valid `message` (a generic reason when the walk finds none)."""
    try:
        _walk(data, 0, len(data), message, "")
    except DecodeError as err:
        return str(err)
    return "the bytes do not parse (no single field could be blamed)"


def _walk(data: bytes, start: int, end: int, message: descriptor.Descriptor, prefix: str) -> None:
    pos = start
    while pos < end:
        tag_at = pos
        tag, pos = _varint(data, pos, end, f"{prefix or message.name}: tag at byte {tag_at}")
        number, wire_type = tag >> 3, tag & 7
        field = message.fields_by_number.get(number)
        name = f"{prefix}.{field.name}" if prefix and field else field.name if field else f"{prefix}#{number}"
        where = f"{name} (field {number}) at byte {tag_at}"
        if number == 0:
            raise DecodeError(f"{prefix or message.name}: field number 0 at byte {tag_at}")
        if wire_type == 0:
            _, pos = _varint(data, pos, end, where)
        elif wire_type in _FIXED_SIZES:
            pos += _FIXED_SIZES[wire_type]
            if pos > end:
                raise DecodeError(f"{where}: a {_FIXED_SIZES[wire_type]}-byte value runs past the end")
        elif wire_type == 2:
            length, pos = _varint(data, pos, end, where)
            if pos + length > end:
                raise DecodeError(f"{where}: length {length} runs past the end ({end - pos} bytes left)")
            if field is not None and field.type == _MESSAGE:
                _walk(data, pos, pos + length, field.message_type, name)
            elif field is not None and field.type == _STRING:
                try:
                    data[pos:pos + length].decode("utf-8")
                except UnicodeDecodeError as err:
                    raise DecodeError(f"{where}: the string is not valid UTF-8 ({err.reason} at its byte {err.start})") from None
            pos += length
        else:
            raise DecodeError(f"{where}: wire type {wire_type} is not supported (groups are not used by this API)")


def _varint(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < end and shift < 70:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise DecodeError(f"{where}: the varint is truncated or longer than 10 bytes")
