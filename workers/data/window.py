"""The newest-chunk window over watched sources (legacy `dataset.num_chunks`).

`ChunkIndex` keeps every chunk the sources name (plain `*.gz` files and `*.gz` members of tar
archives, see `files.discover_chunks`) with its order key, newest = largest key:

* `SORT_TYPE_NUMBER` (default): natural sort of the file name, so lc0's `training.<game>.gz`
  sort by game number (``training.9.gz`` < ``training.10.gz``); the full address breaks ties.
* `SORT_TYPE_MTIME` (the legacy default): modification time (a tar member's own header time).
* `SORT_TYPE_NAME`: the chunk's full address as a string.

`poll()` brings the index up to date with work proportional to what changed: a directory is
listed again only when its modification time changed (or was too recent to trust), a tar
archive is walked on from where it was last read when it grew, and only a glob is expanded
again on every poll. A tar member still being written is not listed until it is complete.

The *anchor* is the newest chunk when new chunks were last counted (upstream's chunk-pool
anchor): `pending` is the number of chunks newer than it, and `reset_anchor()` moves it to the
newest chunk. The window of a cycle is the `num_chunks` newest chunks not newer than its
anchor, so it can be rebuilt exactly after a restart from the anchor alone.
"""

from __future__ import annotations

import dataclasses
import glob
import heapq
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lc0train import data_pb2
from workers.data.archives import TAR_SUFFIX, ArchiveListing, is_archive, list_archive, member_address

logger = logging.getLogger(__name__)

SortKey = tuple[Any, ...]
_DIGITS = re.compile(r"(\d+)")
_MEMBER_MARKER = TAR_SUFFIX + ":"
_RACY_S = 2.0  # a directory changed this recently may change again within its mtime resolution


def natural_key(path: str) -> SortKey:
    """Order key of a chunk address by natural sort of its file name, then the address.

    Digit runs compare as numbers: ("training.", 9, ".gz") < ("training.", 10, ".gz").
    """
    name = os.path.basename(path).rsplit(_MEMBER_MARKER, 1)[-1]  # a member at an archive's top level
    parts = _DIGITS.split(name)
    return (tuple(int(p) if i % 2 else sys.intern(p) for i, p in enumerate(parts)), path)


@dataclasses.dataclass(frozen=True)
class Anchor:
    """The newest chunk when new chunks were last counted (None: nothing counted yet)."""

    chunk: str | None = None
    mtime_ns: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Anchor:
        return cls(chunk=data.get("chunk"), mtime_ns=int(data.get("mtime_ns", 0)))


class ChunkIndex:
    """Every chunk of the watched sources with its order key (see the module docstring)."""

    def __init__(self, specs: Sequence[str], order: int = data_pb2.SORT_TYPE_NUMBER,
                 anchor: Anchor | None = None) -> None:
        if not specs:
            raise ValueError("the chunk window needs at least one input path")
        if order not in data_pb2.SortType.values():
            raise ValueError(f"dataset.sort_type: {order} is not a SortType")
        self._specs = [str(Path(s).expanduser()) for s in specs]
        self._order = order
        self._keys: dict[str, SortKey] = {}  # chunk address -> its order key (computed once)
        self._dirs: dict[str, _DirState] = {}
        self._archives: dict[str, ArchiveListing] = {}
        self._files: set[str] = set()  # plain files named directly by a spec or a glob
        self.anchor = anchor or Anchor()
        self._anchor_key: SortKey | None = None if self.anchor.chunk is None else self._key_of(
            self.anchor.chunk, self.anchor.mtime_ns)
        self.pending = 0

    def __len__(self) -> int:
        return len(self._keys)

    def poll(self) -> int:
        """Bring the index up to date; returns how many chunks newer than the anchor arrived."""
        roots: list[str] = []
        for spec in self._specs:
            roots.extend([spec] if os.path.exists(spec) else sorted(glob.glob(spec, recursive=True)))
        seen_roots = {os.path.abspath(r) for r in roots}
        for vanished in [d for d in self._dirs if self._dirs[d].root and d not in seen_roots]:
            self._drop_dir(vanished)
        added: list[str] = []
        for root in seen_roots:
            self._poll_root(root, added)
        for path in [p for p in self._files if p not in seen_roots and not os.path.isfile(p)]:
            self._files.discard(path)
            self._remove(path)
        arrived = sum(1 for chunk in added if self._is_new(chunk))
        self.pending += arrived
        return arrived

    def reset_anchor(self) -> tuple[Anchor, int]:
        """Move the anchor to the newest chunk; returns it and how many chunks were pending."""
        used, self.pending = self.pending, 0
        if self._keys:
            newest, key = max(self._keys.items(), key=_second)
            self.anchor = Anchor(newest, key[0] if self._order == data_pb2.SORT_TYPE_MTIME else 0)
            self._anchor_key = key
        return self.anchor, used

    def move_anchor(self, anchor: Anchor) -> None:
        """Set the anchor to one chosen elsewhere (another process's) and recount `pending`."""
        self.anchor = anchor
        self._anchor_key = None if anchor.chunk is None else self._key_of(anchor.chunk, anchor.mtime_ns)
        self.recount()

    def window(self, num_chunks: int, anchor: Anchor | None = None) -> list[Path]:
        """The `num_chunks` newest chunks not newer than `anchor` (default: the index's), newest first."""
        anchor = anchor or self.anchor
        limit = None if anchor.chunk is None else self._key_of(anchor.chunk, anchor.mtime_ns)
        candidates: Iterable[tuple[str, SortKey]] = self._keys.items()
        if limit is not None:
            candidates = (item for item in self._keys.items() if item[1] <= limit)
        return [Path(c) for c, _ in heapq.nlargest(num_chunks, candidates, key=_second)]

    def recount(self) -> int:
        """Count the chunks newer than the anchor from scratch (after a restart); sets `pending`."""
        self.pending = sum(1 for chunk in self._keys if self._is_new(chunk))
        return self.pending

    def _is_new(self, chunk: str) -> bool:
        return self._anchor_key is None or self._key(chunk) > self._anchor_key

    def _key(self, chunk: str) -> SortKey:
        return self._keys[chunk]

    def _key_of(self, chunk: str, mtime_ns: int) -> SortKey:
        if self._order == data_pb2.SORT_TYPE_MTIME:
            return (mtime_ns, chunk)
        return (chunk,) if self._order == data_pb2.SORT_TYPE_NAME else natural_key(chunk)

    def _poll_root(self, root: str, added: list[str]) -> None:
        if os.path.isdir(root):
            if root not in self._dirs:
                self._dirs[root] = _DirState(root=True)
            self._poll_dir(root, added)
        elif is_archive(Path(root)):
            self._poll_archive(root, added)
        elif os.path.isfile(root) and root not in self._files:
            self._files.add(root)
            self._add(root, os.stat(root).st_mtime_ns, added)

    def _poll_dir(self, directory: str, added: list[str]) -> None:
        state = self._dirs[directory]
        try:
            mtime = os.stat(directory).st_mtime_ns
        except FileNotFoundError:
            self._drop_dir(directory)
            return
        if mtime != state.mtime_ns or state.listed_at - mtime / 1e9 < _RACY_S:
            state.mtime_ns, state.listed_at = mtime, time.time()
            self._relist(directory, state, added)
        for sub in list(state.subdirs):
            self._poll_dir(sub, added)
        for archive in state.archives:
            self._poll_archive(archive, added)

    def _relist(self, directory: str, state: _DirState, added: list[str]) -> None:
        files, subdirs, archives = set(), set(), set()
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir():
                    subdirs.add(entry.path)
                elif not entry.is_file():
                    continue
                elif entry.name.endswith(".gz"):
                    files.add(entry.path)
                    if entry.path not in self._keys:
                        mtime = entry.stat().st_mtime_ns if self._order == data_pb2.SORT_TYPE_MTIME else 0
                        self._add(entry.path, mtime, added)
                elif is_archive(Path(entry.name)):
                    archives.add(entry.path)
        for gone in state.files - files:
            self._remove(gone)
        for gone in state.subdirs - subdirs:
            self._drop_dir(gone)
        for gone in state.archives - archives:
            self._drop_archive(gone)
        for sub in subdirs - state.subdirs:
            self._dirs.setdefault(sub, _DirState())
        state.files, state.subdirs, state.archives = files, subdirs, archives

    def _poll_archive(self, archive: str, added: list[str]) -> None:
        previous = self._archives.get(archive)
        try:
            stat = os.stat(archive)
            if previous is not None and (previous.size, previous.inode) == (stat.st_size, stat.st_ino):
                return
            listing = list_archive(Path(archive), previous)
        except OSError as exc:
            logger.warning("cannot read archive %s: %s", archive, exc.strerror or exc)
            return
        if previous is not None and listing.inode != previous.inode:
            self._drop_archive(archive)
            previous = None
        self._archives[archive] = listing
        known = set() if previous is None else set(previous.members)
        for name, span in listing.members.items():
            if name not in known:
                self._add(member_address(archive, name), span.mtime * 10**9, added)
        for damage in listing.damage[len(previous.damage) if previous else 0 :]:
            logger.warning("archive %s: skipping damage at byte %d: %s", archive, damage.offset, damage.reason)

    def _add(self, chunk: str, mtime_ns: int, added: list[str]) -> None:
        self._keys[chunk] = self._key_of(chunk, mtime_ns)
        added.append(chunk)

    def _remove(self, chunk: str) -> None:
        if chunk in self._keys:
            if self._is_new(chunk):
                self.pending = max(self.pending - 1, 0)
            del self._keys[chunk]

    def _drop_dir(self, directory: str) -> None:
        state = self._dirs.pop(directory, None)
        if state is None:
            return
        for chunk in state.files:
            self._remove(chunk)
        for sub in state.subdirs:
            self._drop_dir(sub)
        for archive in state.archives:
            self._drop_archive(archive)

    def _drop_archive(self, archive: str) -> None:
        listing = self._archives.pop(archive, None)
        for name in listing.members if listing else ():
            self._remove(member_address(archive, name))


def _second(item: tuple[str, SortKey]) -> SortKey:
    return item[1]


@dataclasses.dataclass
class _DirState:
    """What a watched directory held when it was last listed."""

    root: bool = False
    mtime_ns: int = -1
    listed_at: float = 0.0
    files: set[str] = dataclasses.field(default_factory=set)
    subdirs: set[str] = dataclasses.field(default_factory=set)
    archives: set[str] = dataclasses.field(default_factory=set)
