"""Which files each process reads, and where a resumed stream starts for any process count.

**Dealing.** In epoch `e`, process `p` of `n` reads every n-th of the epoch's unread positions
(`GlobalPosition`, in the global order of `workers.data.global_position`) from the p-th on, as
its own stream of windows (`pipeline.py`). One process reads exactly the global order, as a
single-process stream always did. Epochs up to a cursor's `shard_until` are dealt as before
the global position existed (the file shard `files[p::n]` in its own seeded order), so a
checkpoint of that time resumes exactly.

**Resuming** (`start_cursor`) from the cursors every process saved:

* the same process count: each process goes on from its own cursor, exactly where it stopped;
* another count: the cursors are *merged* into the `GlobalPosition` of what was read (every file
  before each process's current window, earlier epochs whole) and the rest is dealt again over
  the new processes, each starting at its first window. Files read are not read again and no
  file is skipped; the windows the old processes were in count as unread, so the records
  already taken from them (at most one window per old process) are read a second time;
* cursors of another stream (files, seed, shuffle or sampling changed): the next epoch after the
  furthest cursor starts, as a new pass.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workers.data.global_position import FILE_ORDER_STREAM, GlobalPosition, global_order
from workers.data.stream_state import DataCursor, files_digest

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EpochDeal:
    """One process's files of one epoch, in reading order."""

    files: np.ndarray  # indices into the sorted file list
    window_keys: np.ndarray  # record-order RNG key of a window that starts at each file
    sample_index: np.ndarray  # the file index the sampling RNG is seeded with


@dataclasses.dataclass(frozen=True)
class Dealing:
    """How process `process_index` of `process_count` is dealt files in each epoch (module docstring)."""

    seed: int
    shuffle: bool
    num_files: int
    process_index: int
    process_count: int
    origin: GlobalPosition = GlobalPosition()
    shard_until: int = -1

    @classmethod
    def of(cls, cursor: DataCursor, num_files: int) -> Dealing:
        return cls(cursor.seed, cursor.shuffle, num_files, cursor.process_index, cursor.process_count,
                   cursor.origin, cursor.shard_until)

    def epoch(self, epoch: int) -> EpochDeal:
        """This process's files of `epoch` (a permutation of all files: callers keep what they reuse)."""
        p, n, count = self.process_index, self.process_count, self.num_files
        if epoch <= self.shard_until:
            shard = np.arange(p, count, n)
            order = np.arange(len(shard))
            if self.shuffle:
                order = np.random.default_rng([self.seed, FILE_ORDER_STREAM, epoch]).permutation(order)
            return EpochDeal(shard[order], np.arange(len(shard)), order)
        unread = np.flatnonzero(~self.origin.read_mask(epoch, count))
        mine = unread[p::n]
        files = global_order(self.seed, self.shuffle, epoch, count)[mine]
        return EpochDeal(files, mine, files)


def merge(cursors: Sequence[DataCursor], num_files: int) -> GlobalPosition:
    """The global position of what the processes of `cursors` (one each, all of one stream) have read."""
    first = min(c.epoch for c in cursors)
    # An earlier merge may have recorded reads in epochs beyond every cursor's own (processes that
    # had crossed into the next epoch): those count too.
    last = max(max(c.epoch for c in cursors), max(c.origin.epoch + len(c.origin.rests) - 1 for c in cursors))
    read = np.zeros((last - first + 1, num_files), bool)
    for cursor in cursors:
        dealing = Dealing.of(cursor, num_files)
        for epoch in range(first, last + 1):
            read[epoch - first] |= cursor.origin.read_mask(epoch, num_files)
        for epoch in range(first, cursor.epoch + 1):
            files = dealing.epoch(epoch).files
            done = files if epoch < cursor.epoch else files[: cursor.window_start]
            positions = np.argsort(global_order(cursor.seed, cursor.shuffle, epoch, num_files))[done]
            read[epoch - first, positions] = True
    return GlobalPosition.of_masks(first, read)


def start_cursor(saved: Sequence[DataCursor], fresh: DataCursor, files: Sequence[Path]) -> DataCursor:
    """Where this process's stream starts, given every process's saved cursor of the last run
    (`saved[i]` of process i; empty for a new stream) and `fresh`, the start of a new stream
    (this process's index and count, the stream's identity). `files` is the sorted file list.
    A single cursor of a multi-process stream is taken as this process's own."""
    if not saved:
        return fresh
    n_saved = len(saved)
    own_only = n_saved == 1 and saved[0].process_count > 1  # a process's own cursor of a multi-process stream
    until = max(c.epoch for c in saved)
    cursors = list(saved) if own_only else [_upgraded(c, i, n_saved, fresh, files, until) for i, c in enumerate(saved)]
    expected = fresh.identity()
    changed = sorted({f"{name} {value!r} -> {expected[name]!r}" for c in cursors for name, value in c.identity().items()
                      if value != expected[name] and not (name == "sampling" and value is None)})
    if changed:
        epoch = max(c.epoch for c in cursors) + 1
        log.warning("data cursor belongs to a different stream (%s); starting epoch %d from its beginning "
                    "instead of resuming mid-epoch", ", ".join(changed), epoch)
        return dataclasses.replace(fresh, epoch=epoch, origin=GlobalPosition(epoch))
    if own_only or n_saved == fresh.process_count:
        own = cursors[0 if own_only else fresh.process_index]
        if (own.process_index, own.process_count) != (fresh.process_index, fresh.process_count):
            raise ValueError(f"data cursor of process {own.process_index} of {own.process_count} given to process "
                             f"{fresh.process_index} of {fresh.process_count}")
        return dataclasses.replace(own, sampling=fresh.sampling)
    position = merge(cursors, fresh.num_files)
    log.info("data position of %d processes merged (epoch %d, %d files of the epochs begun read) and dealt "
             "over %d processes", n_saved, position.epoch, position.files_read(), fresh.process_count)
    return dataclasses.replace(fresh, epoch=position.epoch, origin=position)


def _upgraded(cursor: DataCursor, index: int, count: int, fresh: DataCursor, files: Sequence[Path], until: int) -> DataCursor:
    """A cursor in today's form: one saved before dealing was recorded was process `index` of `count`
    reading the shard `files[index::count]`, dealt that way up to epoch `until`, the furthest any
    process of that run had reached (a process behind goes on with its shard into the epoch the
    others are already reading by shards)."""
    if cursor.process_count:
        if (cursor.process_index, cursor.process_count) != (index, count):
            raise ValueError(f"data cursor {index} of {count} says it is process {cursor.process_index} "
                             f"of {cursor.process_count}")
        return cursor
    if count == 1:  # one process always read the global order
        return dataclasses.replace(cursor, process_index=0, process_count=1)
    shard = files[index::count]
    if (cursor.num_files, cursor.files_digest) != (len(shard), files_digest(shard)):
        return cursor  # another stream: reported by the identity check
    return dataclasses.replace(cursor, num_files=fresh.num_files, files_digest=fresh.files_digest,
                               process_index=index, process_count=count, shard_until=until)
