"""Reading tar headers one 512-byte block at a time, fast enough for archives of 100,000s of members.

Plain ustar/GNU headers (all an lc0 archive holds) are parsed here; a header chain with
extended records (pax `x`/`g`, GNU long names `L`/`K`) is handed to Python's tarfile, which
resolves it to the member that follows. Like tarfile's `ignore_zeros`, blocks that are not a
valid header (zeros, garbage) are skipped until the next valid one.
"""

from __future__ import annotations

import dataclasses
import tarfile
from typing import BinaryIO

BLOCK = 512
_EXTENDED = frozenset(b"xgLK")
_REGULAR = frozenset(b"0\x007")
_POSIX_MAGIC = b"ustar\x00"


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    """One member: where its header chain starts, its data, and where the next header starts."""

    offset: int
    name: str
    data: int
    size: int
    mtime: int
    regular: bool
    next: int


def next_header(handle: BinaryIO, pos: int, size: int) -> Header | str | None:
    """The first valid header at or after byte `pos` of a `size`-byte archive; None when no
    complete block is left, a reason string when an extended header chain cannot be read."""
    while pos + BLOCK <= size:
        handle.seek(pos)
        block = handle.read(BLOCK)
        if len(block) < BLOCK:
            return None
        if _checksum_ok(block):
            if block[156] in _EXTENDED:
                return _extended(handle, pos)
            try:
                return _plain(block, pos)
            except ValueError:  # a number field that is not octal: not a header after all
                pass
        pos += BLOCK
    return None


def _plain(block: bytes, pos: int) -> Header:
    name = _text(block[0:100])
    if block[257:263] == _POSIX_MAGIC and block[345] != 0:
        name = f"{_text(block[345:500])}/{name}"
    size = _number(block[124:136])
    data = pos + BLOCK
    return Header(pos, name, data, size, _number(block[136:148]), block[156] in _REGULAR,
                  data + -(-size // BLOCK) * BLOCK)


def _extended(handle: BinaryIO, pos: int) -> Header | str:
    handle.seek(pos)
    try:
        tar = tarfile.TarFile(fileobj=handle, mode="r")
    except tarfile.ReadError as exc:
        return f"unreadable extended tar header at byte {pos}: {exc}"
    info = tar.next()  # the member the extended chain describes (read when the TarFile opened)
    if info is None:
        return f"incomplete extended tar header at byte {pos}"
    return Header(pos, info.name, info.offset_data, info.size, int(info.mtime), info.isfile(), tar.offset)


def _checksum_ok(block: bytes) -> bool:
    field = block[148:156]
    try:
        stored = int(field.replace(b"\x00", b" ").strip() or b"x", 8)
    except ValueError:
        return False
    unsigned = sum(block) - sum(field) + 8 * 32
    if stored == unsigned:
        return True
    signed = unsigned - 256 * sum(1 for b in block if b > 127) + 256 * sum(1 for b in field if b > 127)
    return stored == signed


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or base-256 when the first byte's high bit is set."""
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\x00", 1)[0].strip()
    return int(text, 8) if text else 0


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
