"""The training stream (workers/data/pipeline.py) on small datasets built from real lc0 records.

Every written record gets a unique tag in its `plies_left` float (offset 8304), which the
decoder passes through, so tests can tell exactly which records a batch holds.
"""

from __future__ import annotations

import gc
import gzip
import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from workers.data.files import read_chunk
from workers.data.pipeline import ChunkStream
from workers.data.stream_state import DataCursor
from workers.data.v6 import DecodedBatch

DATA = Path(__file__).parent / "data" / "lc0-selfplay"
PLIES_LEFT = 8304
INPUT_FORMAT = 4
SIZES = [5, 17, 30, 8, 12, 40, 3, 25]  # 140 records; uneven so windows hold varying file counts
TOTAL = sum(SIZES)


@pytest.fixture(scope="module")
def real_records() -> np.ndarray:
    return np.concatenate([read_chunk(p) for p in sorted(DATA.glob("*.gz"))])


def write_chunk(path: Path, records: np.ndarray) -> Path:
    path.write_bytes(gzip.compress(records.tobytes(), compresslevel=1))
    return path


def tagged(real: np.ndarray, first_tag: int, count: int) -> np.ndarray:
    tags = np.arange(first_tag, first_tag + count)
    records = real[tags % len(real)].copy()
    records[:, PLIES_LEFT : PLIES_LEFT + 4] = tags.astype("<f4").view(np.uint8).reshape(count, 4)
    return records


@pytest.fixture
def dataset(tmp_path: Path, real_records: np.ndarray) -> list[Path]:
    """Files game_000.gz … with SIZES records, tagged 1…TOTAL in file order."""
    paths, tag = [], 1
    for i, size in enumerate(SIZES):
        paths.append(write_chunk(tmp_path / f"game_{i:03d}.gz", tagged(real_records, tag, size)))
        tag += size
    return paths


def stream(files: list[Path], **overrides: object) -> ChunkStream:
    options: dict[str, object] = {"batch_size": 10, "shuffle_size": 32, "seed": 7, "input_format": 1}
    options.update(overrides)
    return ChunkStream(files, **options)  # type: ignore[arg-type]


def tags(batch: DecodedBatch) -> list[int]:
    return batch.plies_left.astype(np.int64).tolist()


def take(source: ChunkStream, count: int) -> list[DecodedBatch]:
    return [next(source) for _ in range(count)]


def assert_same_batches(left: list[DecodedBatch], right: list[DecodedBatch]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        for name, x, y in zip(DecodedBatch._fields, a, b, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=name)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_each_epoch_emits_every_record_once(dataset: list[Path], prefetch: int) -> None:
    with stream(dataset, batch_size=10, prefetch=prefetch) as source:
        epoch_1 = [t for b in take(source, TOTAL // 10) for t in tags(b)]
        assert source.cursor.epoch == 1 and source.cursor.window_start == source.cursor.offset == 0
        epoch_2 = [t for b in take(source, TOTAL // 10) for t in tags(b)]
    assert sorted(epoch_1) == sorted(epoch_2) == list(range(1, TOTAL + 1))
    assert epoch_1 != epoch_2  # reshuffled each epoch
    assert epoch_1 != sorted(epoch_1)


def test_batches_are_decoded_records(dataset: list[Path], real_records: np.ndarray) -> None:
    with stream(dataset, batch_size=4) as source:
        batch = next(source)
    assert batch.planes.shape == (4, 112, 8, 8) and batch.policy.shape == (4, 1858)
    rows = np.concatenate([read_chunk(p) for p in dataset])[np.array(tags(batch)) - 1]
    np.testing.assert_array_equal(batch.policy, rows[:, 8:7440].view("<f4"))


def test_same_seed_same_stream_other_seed_other_order(dataset: list[Path]) -> None:
    with stream(dataset, seed=3) as a, stream(dataset, seed=3, prefetch=0) as b, stream(dataset, seed=4) as c:
        first, second, other = take(a, 20), take(b, 20), take(c, 20)
    assert_same_batches(first, second)
    assert [tags(x) for x in first] != [tags(x) for x in other]


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("split", [3, 11, 23])  # mid-window, mid-epoch, second epoch
def test_resume_from_cursor_continues_exactly(dataset: list[Path], prefetch: int, split: int) -> None:
    with stream(dataset, batch_size=7, prefetch=prefetch) as straight:
        expected = take(straight, 2 * split)
    with stream(dataset, batch_size=7, prefetch=prefetch) as first:
        head = take(first, split)
        saved = json.dumps(first.cursor.to_json())
    cursor = DataCursor.from_json(json.loads(saved))
    with stream(dataset, batch_size=7, prefetch=prefetch, cursor=cursor) as resumed:
        tail = take(resumed, split)
    assert_same_batches(head + tail, expected)


def test_resume_reads_only_one_window(dataset: list[Path]) -> None:
    with stream(dataset, batch_size=7, prefetch=0) as straight:
        take(straight, 30)  # 210 records: into the second epoch
        cursor = straight.cursor
        assert straight.stats.files_read > len(dataset)
    with stream(dataset, batch_size=7, prefetch=0, cursor=cursor) as resumed:
        next(resumed)
        # shuffle_size 32 < the 140 records, so a window is a few of the 8 files.
        assert 1 <= resumed.stats.files_read < len(dataset)


def test_batch_size_does_not_change_record_order(dataset: list[Path]) -> None:
    with stream(dataset, batch_size=5) as small, stream(dataset, batch_size=20) as large:
        assert [t for b in take(small, 12) for t in tags(b)] == [t for b in take(large, 3) for t in tags(b)]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_repeat_false_is_one_pass(dataset: list[Path], prefetch: int) -> None:
    source = stream(dataset, batch_size=16, repeat=False, prefetch=prefetch)
    batches = list(source)
    assert len(batches) == TOTAL // 16  # only full batches
    assert len({t for b in batches for t in tags(b)}) == 16 * len(batches)
    with pytest.raises(StopIteration):
        next(source)
    source.close()


def test_no_shuffle_keeps_file_and_record_order(dataset: list[Path]) -> None:
    with stream(dataset[::-1], batch_size=10, shuffle=False, repeat=False) as source:
        assert [t for b in source for t in tags(b)] == list(range(1, TOTAL + 1))


def test_bad_files_are_skipped_and_counted(
    dataset: list[Path], tmp_path: Path, real_records: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    bad_version = tagged(real_records, 1000, 4)
    bad_version[2, :4] = np.array([7], "<u4").view(np.uint8)
    bad = {
        tmp_path / "bad_empty.gz": b"",
        tmp_path / "bad_gzip.gz": b"\x1f\x8b not really",
        tmp_path / "bad_truncated.gz": gzip.compress(tagged(real_records, 2000, 3).tobytes()[:-5]),
        tmp_path / "bad_version.gz": gzip.compress(bad_version.tobytes()),
    }
    for path, content in bad.items():
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING), stream([*dataset, *bad], batch_size=10, repeat=False) as source:
        emitted = sorted(t for b in source for t in tags(b))
        stats = source.stats
    assert emitted == list(range(1, TOTAL + 1))
    assert set(stats.skipped_files) == {str(p) for p in bad}
    assert stats.skipped_files[str(tmp_path / "bad_version.gz")] == "bad version 7 in record 2"
    assert stats.files_read == len(dataset) and stats.records_read == TOTAL
    assert stats.positions_emitted == TOTAL
    for path in bad:
        assert any(str(path) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("repeat", [True, False])
def test_no_usable_record_raises_instead_of_looping(tmp_path: Path, prefetch: int, repeat: bool) -> None:
    files = [tmp_path / "a.gz", tmp_path / "b.gz"]
    for path in files:
        path.write_bytes(b"")
    source = stream(files, repeat=repeat, prefetch=prefetch)
    with source, pytest.raises(ValueError, match="none of the 2 chunk files holds a usable record"):
        next(source)


def test_format_mismatches_are_dropped_and_counted(
    dataset: list[Path], tmp_path: Path, real_records: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    mixed = tagged(real_records, 1000, 12)
    mixed[::3, 4:8] = np.array([INPUT_FORMAT], "<u4").view(np.uint8)  # 4 of 12 records
    mixed_path = write_chunk(tmp_path / "mixed.gz", mixed)
    with caplog.at_level(logging.WARNING), stream([*dataset, mixed_path], batch_size=4) as source:
        records = [t for b in take(source, 2 * (TOTAL + 8) // 4) for t in tags(b)]  # two epochs
        stats = source.stats
    kept = set(range(1, TOTAL + 1)) | {1000 + i for i in range(12) if i % 3}
    assert set(records) == kept and len(records) == 2 * len(kept)
    assert stats.format_mismatches >= 8  # 4 per read; read-ahead may have started a third epoch
    assert len([r for r in caplog.records if "mixed.gz" in r.getMessage()]) == 1  # once per file


def test_only_other_formats_raises(dataset: list[Path]) -> None:
    source = stream(dataset, input_format=INPUT_FORMAT)
    with source, pytest.raises(ValueError, match=f"{TOTAL} records of another input format"):
        next(source)


def test_cursor_json_round_trip_and_validation(dataset: list[Path]) -> None:
    with stream(dataset) as source:
        next(source)
        cursor = source.cursor
    data = json.loads(json.dumps(cursor.to_json()))
    assert DataCursor.from_json(data) == cursor
    with pytest.raises(ValueError, match="keys"):
        DataCursor.from_json({**data, "extra": 1})
    with pytest.raises(ValueError, match="'offset'"):
        DataCursor.from_json({**data, "offset": -1})
    with pytest.raises(ValueError, match="'shuffle'"):
        DataCursor.from_json({**data, "shuffle": 1})


def test_cursor_of_another_stream_starts_next_epoch(
    dataset: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    with stream(dataset, seed=1) as source:
        take(source, 3)
        cursor = source.cursor
    with caplog.at_level(logging.WARNING), stream(dataset[:-1], seed=1, cursor=cursor) as resumed:
        assert (resumed.cursor.epoch, resumed.cursor.window_start, resumed.cursor.offset) == (1, 0, 0)
    assert "num_files 8 -> 7" in caplog.text


def test_close_stops_threads(dataset: list[Path]) -> None:
    source = stream(dataset, prefetch=2)
    next(source)
    source.close()
    source.close()  # idempotent
    assert not [t for t in threading.enumerate() if t.name.startswith("chunk-")]
    with pytest.raises(RuntimeError, match="closed"):
        next(source)


def test_abandoned_stream_stops_its_threads(dataset: list[Path]) -> None:
    source = stream(dataset, prefetch=2)
    next(source)
    del source
    gc.collect()
    assert not [t for t in threading.enumerate() if t.name.startswith("chunk-")]


def test_file_longer_than_window_slack(tmp_path: Path, real_records: np.ndarray) -> None:
    # 5000 records in one file overflow the window's preallocated shuffle_size + 4096 rows.
    big = write_chunk(tmp_path / "big.gz", tagged(real_records, 1, 5000))
    with stream([big], batch_size=1000, shuffle_size=1, repeat=False) as source:
        assert sorted(t for b in source for t in tags(b)) == list(range(1, 5001))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"shuffle_size": 0}, "shuffle_size must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"input_format": 6}, "input_format 6 is not an lc0 input format"),
    ],
)
def test_invalid_arguments(dataset: list[Path], overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stream(dataset, **overrides)


def test_no_files() -> None:
    with pytest.raises(ValueError, match="at least one chunk file"):
        stream([])
