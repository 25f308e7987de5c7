"""Training-data inputs: finding chunk files, splitting them across processes, reading one.

A chunk is a plain file or a member of a tar archive (``ARCHIVE.tar:MEMBER``, see
`workers.data.archives`); either is a gzip file of consecutive fixed-size V6 or V7 records (usually one game). Reading
a chunk checks everything that can be checked without decoding: the gzip stream itself, that
the decompressed length is a whole number of records of the first record's version, and that
every record has that version (a file mixing versions is corrupt).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
from isal import isal_zlib

from workers.data.archives import ArchiveCache, is_archive, member_path, split_member
from workers.data.v6 import RECORD_SIZES

logger = logging.getLogger(__name__)

# python-isal's stubs declare `error` as an instance; at run time it is the exception class.
_GZIP_ERROR = cast(type[Exception], isal_zlib.error)
_GZIP_WBITS = 16 + isal_zlib.MAX_WBITS  # gzip header and trailer (CRC32, length) required


class ChunkError(Exception):
    """A chunk file that cannot be used; `reason` is a short human-readable cause."""

    def __init__(self, path: Path, reason: str) -> None:
        # Both values stay in `args` so the exception survives pickling (Ray, multiprocessing).
        super().__init__(path, reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def discover_chunks(specs: Sequence[str], archives: ArchiveCache | None = None) -> list[Path]:
    """Expand files, directories (recursive `*.gz` and `*.tar`), globs, tar archives and
    ``ARCHIVE.tar:MEMBER`` addresses to a sorted, de-duplicated list of chunk paths.

    An archive contributes its `*.gz` members and, for each damaged region or truncated
    member, one entry that reading reports as bad (see `archives.ArchiveListing.bad_entries`),
    so damage is skipped and counted like a bad file. Raises ValueError naming the first spec
    that matches no chunk, OSError when an archive cannot be read.
    """
    archives = archives if archives is not None else ArchiveCache()
    found: set[Path] = set()
    for spec in specs:
        matches = _expand(spec, archives)
        if not matches:
            raise ValueError(
                f"data input {spec!r} matches no chunk files "
                "(expected a file, a directory holding *.gz or *.tar files, a glob, a .tar archive "
                "or ARCHIVE.tar:MEMBER)"
            )
        found.update(matches)
    paths = sorted(found, key=str)
    logger.info("found %d chunk files in %d input(s)", len(paths), len(specs))
    return paths


def _expand(spec: str, archives: ArchiveCache) -> list[Path]:
    """The chunks one spec names (absolute); directories (given or globbed) are searched recursively."""
    path = Path(spec).expanduser()
    if path.is_file():
        return archive_chunks(path, archives) if is_archive(path) else [Path(os.path.abspath(path))]
    member = split_member(path)
    if member is not None:
        archive, name = Path(os.path.abspath(member[0])), member[1]
        known = archive.is_file() and name in archives.listing(archive).members
        return [member_path(archive, name)] if known else []
    candidates = [path] if path.is_dir() else [Path(m) for m in glob.glob(str(path), recursive=True)]
    files: list[Path] = []
    for candidate in candidates:
        if candidate.is_dir():
            files.extend(Path(os.path.abspath(p)) for p in candidate.rglob("*.gz") if p.is_file())
            for tar in candidate.rglob("*.tar"):
                files.extend(archive_chunks(tar, archives) if tar.is_file() else [])
        elif candidate.is_file():
            files.extend(archive_chunks(candidate, archives) if is_archive(candidate)
                         else [Path(os.path.abspath(candidate))])
    return files


def archive_chunks(archive: Path, archives: ArchiveCache) -> list[Path]:
    """The chunk paths of one archive as a finished file: its members plus one bad entry for each
    damaged region and for a truncated last member (logged)."""
    archive = Path(os.path.abspath(archive))
    listing = archives.listing(archive, refresh=True)
    bad = listing.bad_entries(include_partial=True)
    for name, reason in bad.items():
        logger.warning("archive %s: %s: %s", archive, name, reason)
    return [member_path(archive, name) for name in [*listing.members, *bad]]


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


def read_chunk(path: Path, archives: ArchiveCache | None = None) -> np.ndarray:
    """Read one chunk (a file or ``ARCHIVE.tar:MEMBER``) as raw records, uint8 [n, size] (read-only): size 8356 for a V6 file, 8396
    for a V7 file (`v6.RECORD_SIZES`; the first record's version decides).

    Raises ChunkError for an unreadable, empty, corrupt or truncated file, a first record whose
    version is neither 6 nor 7, or a later record of another version than the first, and for a
    member that its archive does not hold completely. `archives` keeps archive listings between
    calls (without it each member read lists its archive again).
    """
    path = Path(path)
    compressed = _read_bytes(path, archives if archives is not None else ArchiveCache())
    if not compressed:
        raise ChunkError(path, "empty")
    try:
        data = _inflate(compressed)
    except (_GZIP_ERROR, EOFError) as exc:
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


def _read_bytes(path: Path, archives: ArchiveCache) -> bytes:
    member = split_member(path)
    try:
        return path.read_bytes() if member is None else archives.read_member(*member)
    except OSError as exc:
        raise ChunkError(path, f"unreadable: {exc.strerror or exc}") from exc
    except LookupError as exc:
        raise ChunkError(path, str(exc.args[0])) from exc


def u32_field(records: np.ndarray, offset: int) -> np.ndarray:
    """A little-endian uint32 field of every raw record, as a strided view [n]."""
    return records[:, offset : offset + 4].view("<u4")[:, 0]


def f32_field(records: np.ndarray, offset: int, count: int = 1) -> np.ndarray:
    """`count` consecutive float32 values at `offset` of every raw record, as a view [n, count]."""
    return records[:, offset : offset + 4 * count].view("<f4")


def _inflate(compressed: bytes) -> bytes:
    """Decompress a gzip file, including several concatenated members (as `cat` makes).

    ISA-L's inflate (python-isal, zlib-compatible, CRC and length checked) runs about twice as fast
    as zlib's here, and inflating is most of the loader's time (bench/loader.py)."""
    parts: list[bytes] = []
    rest = compressed
    while rest:
        member = isal_zlib.decompressobj(_GZIP_WBITS)
        parts.append(member.decompress(rest))
        if not member.eof:
            raise EOFError("compressed data ends before the end-of-stream marker")
        # gzip tools may pad with zero bytes after the last member.
        rest = member.unused_data.lstrip(b"\0")
    return parts[0] if len(parts) == 1 else b"".join(parts)
