"""The global data position (workers/data/dealing.py): streams of several processes, their cursors
merged and dealt again over another process count, and cursors saved before the position existed.

Records are told apart by the tags of tests/test_pipeline.py (each record's `plies_left`).
Streams here take one record per batch, so a cursor says exactly which epoch a record came from.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from tests.test_pipeline import SIZES, TOTAL, dataset, real_records, stream, tags  # noqa: F401 (fixtures)
from workers.data.dealing import Dealing, merge
from workers.data.global_position import EpochRest, GlobalPosition, global_order
from workers.data.pipeline import ChunkStream
from workers.data.sampling import Sampling
from workers.data.stream_state import DataCursor

_ADDED_FIELDS = ("sampling", "process_index", "process_count", "origin", "shard_until")


def processes(files: list[Path], count: int, cursors: list[DataCursor] | None = None) -> list[ChunkStream]:
    return [stream(files, batch_size=1, prefetch=0, cursor=cursors, process_index=i, process_count=count) for i in range(count)]


def take_records(source: ChunkStream, count: int) -> list[int]:
    return [tags(next(source))[0] for _ in range(count)]


def take_until_epoch(source: ChunkStream, epoch: int) -> list[int]:
    """Records until the stream has emitted every record of the epochs before `epoch`."""
    records = []
    while source.cursor.epoch < epoch:
        records += take_records(source, 1)
    return records


def current_window_records(files: list[Path], cursor: DataCursor) -> set[int]:
    """Tags of every file of the window `cursor` is in (what a merge may read a second time)."""
    start = dataclasses.replace(cursor, offset=0)
    with stream(files, batch_size=1, prefetch=0, cursor=start, process_index=cursor.process_index,
                process_count=cursor.process_count) as again:
        window: list[int] = []
        while again.cursor.epoch == cursor.epoch and again.cursor.window_start == cursor.window_start:
            window += take_records(again, 1)
    return set(window)


def test_deals_split_each_epochs_unread_files_among_the_processes() -> None:
    origin = GlobalPosition(3, (EpochRest(4, (6, 9)), EpochRest(0, (1,))))
    for count in (1, 2, 3):
        for epoch, read in ((3, {0, 1, 2, 3, 6, 9}), (4, {1}), (5, set())):
            deals = [Dealing(7, True, 12, p, count, origin).epoch(epoch) for p in range(count)]
            dealt = np.concatenate([d.files for d in deals])
            order = global_order(7, True, epoch, 12)
            assert sorted(dealt.tolist()) == sorted(set(order.tolist()) - {int(order[i]) for i in read})
            assert [len(d.files) for d in deals] == [len(range(p, 12 - len(read), count)) for p in range(count)]
    # One process reads the global order itself: what a single-process stream always read.
    assert Dealing(7, True, 12, 0, 1).epoch(2).files.tolist() == global_order(7, True, 2, 12).tolist()


def test_global_position_json_round_trip_and_validation() -> None:
    position = GlobalPosition(2, (EpochRest(3, (5, 8)), EpochRest(0, (4,))))
    assert GlobalPosition.from_json(position.to_json()) == position
    for bad in ({"epoch": -1, "rests": []}, {"epoch": 0}, {"epoch": 0, "rests": [{"start": 1.5, "read": []}]}):
        with pytest.raises(ValueError, match="data position"):
            GlobalPosition.from_json(bad)


def test_the_same_process_count_resumes_each_process_exactly(dataset: list[Path]) -> None:  # noqa: F811
    straight = [take_records(s, 50) for s in processes(dataset, 2)]
    first = processes(dataset, 2)
    heads = [take_records(s, 20) for s in first]
    cursors = [DataCursor.from_json(s.cursor.to_json()) for s in first]
    tails = [take_records(s, 30) for s in processes(dataset, 2, cursors)]
    assert [h + t for h, t in zip(heads, tails)] == straight
    assert set(straight[0][:20]).isdisjoint(straight[1][:20])  # the two deals are disjoint


@pytest.mark.parametrize(("old", "new"), [(2, 1), (2, 3), (1, 2), (3, 2)])
def test_another_process_count_reads_the_rest_of_the_epoch_once(dataset: list[Path], old: int, new: int) -> None:  # noqa: F811
    first = processes(dataset, old)
    before = [r for s in first for r in take_records(s, 45 // old)]  # mid-window, mid-epoch
    cursors = [s.cursor for s in first]
    assert all(c.epoch == 0 and c.offset > 0 for c in cursors)
    after = [r for s in processes(dataset, new, cursors) for r in take_until_epoch(s, 1)]
    counts = collections.Counter(before + after)
    assert set(counts) == set(range(1, TOTAL + 1))  # nothing skipped
    replayed = {tag for tag, n in counts.items() if n > 1}
    assert max(counts.values()) <= 2
    # Only records of the windows the old processes were in are read again: what they had taken of them.
    windows = set().union(*(current_window_records(dataset, c) for c in cursors))
    assert replayed <= windows and len(replayed) <= sum(c.offset for c in cursors)


def test_processes_in_different_epochs_merge(dataset: list[Path]) -> None:  # noqa: F811
    first = processes(dataset, 2)
    before = []
    while first[0].cursor.epoch == first[1].cursor.epoch:  # the shares hold different record counts
        before += take_records(first[0], 1) + take_records(first[1], 1)
    cursors = [s.cursor for s in first]
    later = max(c.epoch for c in cursors)
    position = merge(cursors, len(dataset))
    assert position.epoch == later - 1 and position.rests[0].start < len(dataset)
    after = [r for s in processes(dataset, 3, cursors) for r in take_until_epoch(s, later + 1)]
    counts = collections.Counter(before + after)
    assert set(counts) == set(range(1, TOTAL + 1)) and min(counts.values()) >= 2  # two whole epochs, none skipped
    extra = sum(n - 2 for n in counts.values())
    assert extra <= sum(c.offset for c in cursors)


def test_cursors_saved_before_the_global_position_resume_as_they_were_dealt(dataset: list[Path]) -> None:  # noqa: F811
    # Before, process p of 2 streamed its shard dataset[p::2] alone: a one-process stream of the shard.
    shards = [stream(dataset[p::2], batch_size=1, prefetch=0) for p in range(2)]
    heads = [take_records(s, 20) for s in shards]
    old = [DataCursor.from_json({k: v for k, v in s.cursor.to_json().items() if k not in _ADDED_FIELDS}) for s in shards]
    expected = [take_until_epoch(s, 1) for s in shards]
    resumed = processes(dataset, 2, old)
    assert [take_until_epoch(s, 1) for s in resumed] == expected  # the rest of the epoch exactly as before
    assert resumed[0].cursor.shard_until == 0 and resumed[0].cursor.process_count == 2
    # From the next epoch on the global order is dealt: a disjoint, complete epoch again.
    epoch_1 = [take_until_epoch(s, 2) for s in resumed]
    assert sorted(epoch_1[0] + epoch_1[1]) == list(range(1, TOTAL + 1))
    # Merged onto one process: the rest of epoch 0, nothing skipped.
    after = take_until_epoch(processes(dataset, 1, old)[0], 1)
    assert set(sum(heads, []) + after) == set(range(1, TOTAL + 1))


def test_a_merge_keeps_what_an_earlier_merge_recorded_beyond_every_cursors_epoch(dataset: list[Path]) -> None:  # noqa: F811
    # A one-process run resumed from a merge of processes that had crossed into epoch 1: its cursor is
    # still in epoch 0, its origin says files at positions 0 and 1 of epoch 1 were read.
    with stream(dataset, batch_size=1, prefetch=0) as one:
        take_records(one, 1)
        cursor = dataclasses.replace(one.cursor, origin=GlobalPosition(0, (EpochRest(), EpochRest(2))))
    assert merge([cursor], len(dataset)).read_mask(1, len(dataset))[:2].all()
    # Dealt again over two processes, epoch 1 leaves those two files out.
    read_in_epoch_1 = [int(f) for f in global_order(7, True, 1, len(dataset))[:2]]
    starts = np.cumsum([0, *SIZES])
    done = {tag for f in read_in_epoch_1 for tag in range(starts[f] + 1, starts[f + 1] + 1)}
    resumed = processes(dataset, 2, [cursor])
    for source in resumed:
        take_until_epoch(source, 1)
    epoch_1 = [r for s in resumed for r in take_until_epoch(s, 2)]
    assert sorted(epoch_1) == sorted(set(range(1, TOTAL + 1)) - done)


def test_old_cursors_of_processes_in_different_epochs_keep_their_shards_until_the_furthest_epoch(
        dataset: list[Path]) -> None:  # noqa: F811
    shards = [stream(dataset[p::2], batch_size=1, prefetch=0) for p in range(2)]
    take_records(shards[0], 5)
    take_until_epoch(shards[1], 1)
    ahead = take_records(shards[1], 3)  # process 1 is 3 records into epoch 1, process 0 still in epoch 0
    old = [DataCursor.from_json({k: v for k, v in s.cursor.to_json().items() if k not in _ADDED_FIELDS}) for s in shards]
    assert [c.epoch for c in old] == [0, 1]
    resumed = processes(dataset, 2, old)
    take_until_epoch(resumed[0], 1)
    epoch_1 = take_until_epoch(resumed[0], 2) + ahead + take_until_epoch(resumed[1], 2)
    assert sorted(epoch_1) == list(range(1, TOTAL + 1))  # one whole epoch: nothing skipped, nothing twice


def test_a_changed_sampling_is_another_stream_and_old_cursors_without_it_resume(
        dataset: list[Path], caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    with stream(dataset, sampling=Sampling(2)) as sampled:
        next(sampled)
        cursor = sampled.cursor
    assert cursor.sampling == "sample=2"
    with caplog.at_level(logging.WARNING), stream(dataset, cursor=cursor) as unsampled:
        assert (unsampled.cursor.epoch, unsampled.cursor.window_start, unsampled.cursor.offset) == (1, 0, 0)
    assert "sampling 'sample=2' -> 'sample=1'" in caplog.text
    caplog.clear()
    old = DataCursor.from_json({k: v for k, v in cursor.to_json().items() if k not in _ADDED_FIELDS})
    with caplog.at_level(logging.WARNING), stream(dataset, cursor=old) as resumed:
        assert resumed.cursor.epoch == 0 and resumed.cursor.sampling == "sample=1"
    assert "different stream" not in caplog.text
