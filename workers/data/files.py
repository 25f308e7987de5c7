"""Training-data inputs: finding chunk files, splitting them across processes, reading one.

A chunk is a gzip file of consecutive fixed-size V6 or V7 records (usually one game). Reading
a chunk checks everything that can be checked without decoding: the gzip stream itself, that
the decompressed length is a whole number of records of the first record's version, and that
every record has that version (a file mixing versions is corrupt).
"""

from __future__ import annotations

import glob
import logging
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workers.data.v6 import RECORD_SIZES

logger = logging.getLogger(__name__)

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer (CRC32, length) required


class ChunkError(Exception):
    """A chunk file that cannot be used; `reason` is a short human-readable cause."""

    def __init__(self, path: Path, reason: str) -> None:
        # Both values stay in `args` so the exception survives pickling (Ray, multiprocessing).
        super().__init__(path, reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def discover_chunks(specs: Sequence[str]) -> list[Path]:
    """Expand files, directories (recursive `*.gz`) and globs to a sorted, de-duplicated list.

    Raises ValueError naming the first spec that matches no file.
    """
    found: set[Path] = set()
    for spec in specs:
        matches = _expand(spec)
        if not matches:
            raise ValueError(
                f"data input {spec!r} matches no chunk files "
                "(expected a file, a directory holding *.gz files, or a glob)"
            )
        found.update(Path(os.path.abspath(p)) for p in matches)
    paths = sorted(found, key=str)
    logger.info("found %d chunk files in %d input(s)", len(paths), len(specs))
    return paths


def _expand(spec: str) -> list[Path]:
    """The files one spec names; directories (given or globbed) are searched recursively."""
    path = Path(spec).expanduser()
    if path.is_file():
        return [path]
    candidates = [path] if path.is_dir() else [Path(m) for m in glob.glob(str(path), recursive=True)]
    files: list[Path] = []
    for candidate in candidates:
        if candidate.is_dir():
            files.extend(p for p in candidate.rglob("*.gz") if p.is_file())
        elif candidate.is_file():
            files.append(candidate)
    return files


def shard_for_process(files: Sequence[Path], process_index: int, process_count: int) -> list[Path]:
    """The files process `process_index` of `process_count` reads (round-robin over `files`).

    Shards are disjoint and together cover every file; with fewer files than processes some
    shards are empty (ChunkStream then refuses to start). Raises ValueError for a bad index.
    """
    if process_count < 1:
        raise ValueError(f"process_count must be >= 1, got {process_count}")
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in [0, {process_count}), got {process_index}")
    return list(files[process_index::process_count])


def read_chunk(path: Path) -> np.ndarray:
    """Read one chunk as raw records, uint8 [n, size] (read-only): size 8356 for a V6 file, 8396
    for a V7 file (`v6.RECORD_SIZES`; the first record's version decides).

    Raises ChunkError for an unreadable, empty, corrupt or truncated file, a first record whose
    version is neither 6 nor 7, or a later record of another version than the first.
    """
    path = Path(path)
    try:
        compressed = path.read_bytes()
    except OSError as exc:
        raise ChunkError(path, f"unreadable: {exc.strerror or exc}") from exc
    if not compressed:
        raise ChunkError(path, "empty")
    try:
        data = _inflate(compressed)
    except (zlib.error, EOFError) as exc:
        raise ChunkError(path, f"gzip: {exc}") from exc
    if not data:
        raise ChunkError(path, "empty")
    if len(data) < 4:
        raise ChunkError(path, f"truncated: {len(data)} bytes hold no record")
    version = int.from_bytes(data[:4], "little")
    size = RECORD_SIZES.get(version)
    if size is None:
        raise ChunkError(path, f"bad version {version} in record 0")
    if len(data) % size:
        raise ChunkError(path, f"truncated: {len(data)} bytes is not a multiple of {size}")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)
    versions = u32_field(records, 0)
    bad = np.flatnonzero(versions != version)
    if bad.size:
        raise ChunkError(path, f"bad version {versions[bad[0]]} in record {bad[0]}")
    return records


def u32_field(records: np.ndarray, offset: int) -> np.ndarray:
    """A little-endian uint32 field of every raw record, as a strided view [n]."""
    return records[:, offset : offset + 4].view("<u4")[:, 0]


def f32_field(records: np.ndarray, offset: int, count: int = 1) -> np.ndarray:
    """`count` consecutive float32 values at `offset` of every raw record, as a view [n, count]."""
    return records[:, offset : offset + 4 * count].view("<f4")


def _inflate(compressed: bytes) -> bytes:
    """Decompress a gzip file, including several concatenated members (as `cat` makes)."""
    parts: list[bytes] = []
    rest = compressed
    while rest:
        member = zlib.decompressobj(_GZIP_WBITS)
        parts.append(member.decompress(rest))
        if not member.eof:
            raise EOFError("compressed data ends before the end-of-stream marker")
        # gzip tools may pad with zero bytes after the last member.
        rest = member.unused_data.lstrip(b"\0")
    return parts[0] if len(parts) == 1 else b"".join(parts)
