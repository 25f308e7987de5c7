"""Tar archives of chunks, read in place (no extraction).

A chunk inside an archive is addressed as ``ARCHIVE.tar:MEMBER`` (the archive's path, a colon,
the member's normalised path inside it) wherever a chunk path appears: cursors, logs, stats.
Only regular ``*.gz`` members are chunks.

Listing an archive walks its tar headers once and records each member's data offset and size.
Damage does not stop the walk: bytes that are not a valid header are skipped up to the next
valid one and recorded as damage, and a member whose data runs past the end of the file (a
truncated archive, or one still being written) ends the walk as the *partial tail*. A listing
can be refreshed after the archive grew: the walk continues from where the last complete member
ended, so a member is listed only once all its bytes are there and nothing is listed twice.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from pathlib import Path
from typing import BinaryIO

from workers.data.tar_headers import next_header

TAR_SUFFIX = ".tar"
_SEPARATOR = ":"
_MARKER = TAR_SUFFIX + _SEPARATOR
_ZERO_CHECK_BYTES = 1 << 20  # a gap is read in pieces of this size to see whether it is all zeros


@dataclasses.dataclass(frozen=True, slots=True)
class Span:
    """Where a member's data lies in its archive, and the member's modification time (seconds)."""

    offset: int
    size: int
    mtime: int = 0


@dataclasses.dataclass(frozen=True)
class Damage:
    """Bytes of an archive that hold no usable member, `reason` says why."""

    offset: int
    reason: str


@dataclasses.dataclass
class ArchiveListing:
    """The chunks of one archive and its damage, as of `size` bytes (see the module docstring).

    `indexed_to` is where the last complete member (or the skipped damage after it) ends; a
    refresh continues there. `partial` describes the bytes after it when they are not (yet) a
    complete member: `partial_member` is that member's address name when its header was read.
    """

    archive: Path
    size: int = 0
    inode: int = 0
    members: dict[str, Span] = dataclasses.field(default_factory=dict)
    damage: list[Damage] = dataclasses.field(default_factory=list)
    indexed_to: int = 0
    partial: Damage | None = None
    partial_member: str | None = None

    def bad_entries(self, include_partial: bool) -> dict[str, str]:
        """Address names of the unusable parts (damage, and the partial tail when asked) -> reason.

        A damaged region is named ``<damaged at byte N>``; a truncated member keeps its own name.
        """
        entries = {damage_name(d.offset): d.reason for d in self.damage}
        if include_partial and self.partial is not None:
            entries[self.partial_member or damage_name(self.partial.offset)] = self.partial.reason
        return entries


def damage_name(offset: int) -> str:
    """The member name under which damage at byte `offset` of an archive is listed and skipped."""
    return f"<damaged at byte {offset}>"


def is_archive(path: Path) -> bool:
    """Whether `path` names a tar archive (by its suffix)."""
    return path.name.endswith(TAR_SUFFIX)


def member_path(archive: Path, member: str) -> Path:
    """The ``ARCHIVE.tar:MEMBER`` address of one member."""
    return Path(member_address(str(archive), member))


def member_address(archive: str, member: str) -> str:
    """`member_path` as a string (cheaper for indexes of millions of members)."""
    return f"{archive}{_SEPARATOR}{member}"


def split_member(path: Path | str) -> tuple[Path, str] | None:
    """(archive, member) of an ``ARCHIVE.tar:MEMBER`` address, None for a plain path.

    The archive is the shortest prefix ending in ``.tar`` that is an existing file (or, when
    none exists, the first such prefix, so errors name the missing archive).
    """
    text = str(path)
    if os.path.isfile(text):
        return None
    candidates = []
    at = text.find(_MARKER)
    while at >= 0:
        candidates.append(at + len(TAR_SUFFIX))
        at = text.find(_MARKER, at + 1)
    if not candidates:
        return None
    end = next((c for c in candidates if os.path.isfile(text[:c])), candidates[0])
    return Path(text[:end]), text[end + 1 :]


def list_archive(archive: Path, previous: ArchiveListing | None = None) -> ArchiveListing:
    """List `archive`'s chunks; continue `previous` when the archive only grew since.

    Raises OSError when the archive cannot be read.
    """
    archive = Path(archive)
    with open(archive, "rb") as handle:
        stat = os.fstat(handle.fileno())
        grew = previous is not None and previous.inode == stat.st_ino and previous.size <= stat.st_size
        listing = (dataclasses.replace(previous, members=dict(previous.members), damage=list(previous.damage))
                   if grew and previous is not None else ArchiveListing(archive, inode=stat.st_ino))
        listing.size = stat.st_size
        listing.partial = listing.partial_member = None
        _walk(handle, listing)
    return listing


def _walk(handle: BinaryIO, listing: ArchiveListing) -> None:
    """Extend `listing` with the members from `listing.indexed_to` on (see the module docstring)."""
    size, expected = listing.size, listing.indexed_to
    while True:
        header = next_header(handle, expected, size)
        if header is None:
            break
        if isinstance(header, str):
            listing.partial = Damage(expected, header)
            return
        if header.offset > expected and not _all_zeros(handle, expected, header.offset):
            listing.damage.append(Damage(expected, f"{header.offset - expected} bytes that are not a tar "
                                                   f"header skipped (bytes {expected}-{header.offset - 1})"))
        name = _normalise(header.name)
        chunk = header.regular and name.endswith(".gz")
        if header.data + header.size > size:
            listing.partial = Damage(header.offset, f"truncated: member {name!r} needs bytes up to "
                                                    f"{header.data + header.size}, the archive has {size}")
            listing.partial_member = name if chunk else None
            listing.indexed_to = header.offset
            return
        if chunk:
            listing.members[name] = Span(header.data, header.size, header.mtime)
        expected = listing.indexed_to = header.next
    _finish(handle, listing, expected, "")


def _finish(handle: BinaryIO, listing: ArchiveListing, expected: int, cause: str) -> None:
    """Record the bytes after the last member as the partial tail unless they are end-of-archive zeros."""
    listing.indexed_to = expected
    if expected < listing.size and not _all_zeros(handle, expected, listing.size):
        listing.partial = Damage(expected, cause or f"{listing.size - expected} bytes after the last "
                                                    f"member are not a complete tar header")


def _normalise(name: str) -> str:
    return posixpath.normpath(name).lstrip("/")


def _all_zeros(handle: BinaryIO, start: int, end: int) -> bool:
    handle.seek(start)
    remaining = end - start
    while remaining > 0:
        piece = handle.read(min(remaining, _ZERO_CHECK_BYTES))
        if not piece:
            return True
        if piece.count(0) != len(piece):
            return False
        remaining -= len(piece)
    return True


class ArchiveCache:
    """Listings of the archives one reader uses, refreshed when a member is not (yet) listed.

    Not thread-safe: each reading thread keeps its own.
    """

    def __init__(self) -> None:
        self._listings: dict[Path, ArchiveListing] = {}

    def listing(self, archive: Path, refresh: bool = False) -> ArchiveListing:
        """The listing of `archive`, walked further first when `refresh` (or never listed)."""
        known = self._listings.get(archive)
        if known is None or refresh:
            known = self._listings[archive] = list_archive(archive, known)
        return known

    def read_member(self, archive: Path, member: str) -> bytes:
        """The raw bytes of one member. Raises LookupError with the reason when the archive does
        not (or not yet) hold it completely, OSError when the archive cannot be read."""
        listing = self.listing(archive)
        if member not in listing.members:
            listing = self.listing(archive, refresh=True)
        span = listing.members.get(member)
        if span is None:
            bad = listing.bad_entries(include_partial=True)
            raise LookupError(bad.get(member, f"no member {member!r} in the archive"))
        with open(archive, "rb") as handle:
            handle.seek(span.offset)
            data = handle.read(span.size)
        if len(data) != span.size:
            raise LookupError(f"truncated: the archive ended {span.size - len(data)} bytes into the member")
        return data
