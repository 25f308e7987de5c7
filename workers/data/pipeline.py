"""The training stream: V6 chunk files → shuffled, decoded, fixed-size batches.

Stream definition (a pure function of the sorted file list, `seed` and `shuffle_size`):

* Epoch `e` visits the files in the order `default_rng([seed, 0, e]).permutation(n_files)`.
* Consecutive files of that order form a *window*: files are added until it holds at least
  `shuffle_size` usable records (or the epoch's files run out).
* A window's records are emitted in the order `default_rng([seed, 1, e, start]).permutation`,
  where `start` is the index of its first file in the epoch's order.
* Batches are cut from the concatenated record sequence, so they may span windows and
  epochs; the batch size does not change which record comes next.

Hence the position `(epoch, window start, offset in the window)` — the `DataCursor` — pins
the stream exactly, and resuming re-reads one window instead of replaying history. Raw
uint8 records are kept in the window and each batch is decoded on its own (decoding a whole
window at once is far slower, from memory traffic).

With `prefetch > 0` one background thread cuts and decodes batches into a bounded queue
and a second one reads the next window while the current one is emitted, so at most two
windows (2 × shuffle_size × 8356 bytes) are in memory. With `prefetch == 0` everything
runs in the caller's thread.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from workers.data.files import ChunkError, read_chunk, u32_field
from workers.data.v6 import RECORD_SIZE, DecodedBatch, InputFormat, decode_records

logger = logging.getLogger(__name__)

_FILE_ORDER_STREAM = 0  # first word after the seed: keeps the two RNG streams apart
_RECORD_ORDER_STREAM = 1
_INPUT_FORMAT_OFFSET = 4
_POLL_S = 0.1


@dataclasses.dataclass(frozen=True)
class DataCursor:
    """Where the stream continues: the next record is `offset` into the window that starts at
    file `window_start` of epoch `epoch`. The other fields identify the stream it belongs to."""

    epoch: int
    window_start: int
    offset: int
    seed: int
    shuffle_size: int
    shuffle: bool
    num_files: int
    files_digest: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataCursor:
        """Rebuild a cursor from `to_json()` output; raises ValueError on a malformed dict."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        if set(data) != set(fields):
            raise ValueError(
                f"data cursor keys {sorted(data)} do not match the expected {sorted(fields)}"
            )
        for name, kind in fields.items():
            value = data[name]
            expected = {"int": int, "bool": bool, "str": str}[kind]
            if type(value) is not expected or (expected is int and value < 0):
                raise ValueError(f"data cursor field {name!r}: {value!r} is not a valid {kind}")
        return cls(**data)


@dataclasses.dataclass
class LoaderStats:
    """Counters of one stream. `files_read`/`records_read` include read-ahead and re-reads in
    later epochs; `positions_emitted` counts what was handed to the caller."""

    files_read: int = 0
    records_read: int = 0
    positions_emitted: int = 0
    skipped_files: dict[str, str] = dataclasses.field(default_factory=dict)
    format_mismatches: int = 0


class _StatsRecorder:
    """LoaderStats shared by the reading thread and the caller, behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = LoaderStats()

    def file_read(self, records: int, mismatches: int) -> None:
        with self._lock:
            self._stats.files_read += 1
            self._stats.records_read += records
            self._stats.format_mismatches += mismatches

    def file_skipped(self, path: str, reason: str) -> None:
        with self._lock:
            self._stats.skipped_files[path] = reason

    def emitted(self, positions: int) -> None:
        with self._lock:
            self._stats.positions_emitted += positions

    def snapshot(self) -> LoaderStats:
        with self._lock:
            return dataclasses.replace(self._stats, skipped_files=dict(self._stats.skipped_files))


class _StreamClosed(Exception):
    """Raised inside the background threads when the stream is closed mid-read."""


@dataclasses.dataclass(frozen=True)
class _Window:
    epoch: int
    start: int  # index of the first file in the epoch's file order
    end: int  # one past the last file
    rows: np.ndarray  # uint8 [n, RECORD_SIZE], file order
    order: np.ndarray  # emission order, a permutation of range(n)


class _Source:
    """Builds windows and batches; owns the stream definition from the module docstring."""

    def __init__(
        self,
        files: list[Path],
        *,
        shuffle_size: int,
        seed: int,
        input_format: int,
        repeat: bool,
        shuffle: bool,
        stats: _StatsRecorder,
        stop: threading.Event,
    ) -> None:
        self._files = files
        self._shuffle_size = shuffle_size
        self._seed = seed
        self._input_format = input_format
        self._repeat = repeat
        self._shuffle = shuffle
        self._stats = stats
        self._stop = stop
        # Touched only by the one thread that loads windows.
        self._bad_files: set[Path] = set()
        self._format_warned: set[Path] = set()
        digest = hashlib.sha256("\n".join(p.name for p in files).encode()).hexdigest()[:16]
        self.identity = {
            "seed": seed,
            "shuffle_size": shuffle_size,
            "shuffle": shuffle,
            "num_files": len(files),
            "files_digest": digest,
        }

    def cursor(self, epoch: int, window_start: int, offset: int) -> DataCursor:
        return DataCursor(epoch, window_start, offset, **self.identity)

    def resume_point(self, cursor: DataCursor | None) -> DataCursor:
        """The cursor to start from. A cursor saved for another stream (files, seed or
        shuffle settings changed) cannot be honoured: warn and start its next epoch."""
        if cursor is None:
            return self.cursor(0, 0, 0)
        changed = [
            f"{name} {getattr(cursor, name)!r} -> {value!r}"
            for name, value in self.identity.items()
            if getattr(cursor, name) != value
        ]
        if changed:
            logger.warning(
                "data cursor belongs to a different stream (%s); starting epoch %d from its "
                "beginning instead of resuming mid-epoch",
                ", ".join(changed),
                cursor.epoch + 1,
            )
            return self.cursor(cursor.epoch + 1, 0, 0)
        if cursor.window_start >= len(self._files):
            raise ValueError(
                f"data cursor window_start {cursor.window_start} is out of range for "
                f"{len(self._files)} files"
            )
        return self.cursor(cursor.epoch, cursor.window_start, cursor.offset)

    def batches(
        self, start: DataCursor, batch_size: int, executor: ThreadPoolExecutor | None
    ) -> Generator[tuple[DecodedBatch, DataCursor], None, None]:
        """Full batches from `start` on, each with the cursor just after it."""
        pieces: list[np.ndarray] = []
        have = 0
        skip = start.offset
        for window in self._windows(start.epoch, start.window_start, executor):
            size = len(window.order)
            offset, skip = min(skip, size), 0  # min(): a file shrank since the cursor was saved
            while offset < size:
                take = min(batch_size - have, size - offset)
                pieces.append(window.rows[window.order[offset : offset + take]])
                offset += take
                have += take
                if have == batch_size:
                    raw = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
                    pieces, have = [], 0
                    yield decode_records(raw), self._cursor_after(window, offset)

    def _windows(
        self, epoch: int, start: int, executor: ThreadPoolExecutor | None
    ) -> Iterator[_Window]:
        """Windows in stream order; with an executor, the next one loads in the background."""

        def submit(epoch: int, start: int) -> Callable[[], _Window]:
            if executor is None:
                return functools.partial(self._load_window, epoch, start)
            return executor.submit(self._load_window, epoch, start).result

        pending: Callable[[], _Window] | None = submit(epoch, start)
        barren_files = 0  # consecutive files that gave no usable record
        while pending is not None:
            window = pending()
            nxt = self._cursor_after(window, len(window.order))
            more = self._repeat or nxt.epoch == window.epoch
            pending = submit(nxt.epoch, nxt.window_start) if more else None
            barren_files = 0 if len(window.order) else barren_files + window.end - window.start
            if barren_files >= len(self._files):
                raise ValueError(self._no_data_message())
            yield window

    def _cursor_after(self, window: _Window, offset: int) -> DataCursor:
        if offset < len(window.order):
            return self.cursor(window.epoch, window.start, offset)
        if window.end < len(self._files):
            return self.cursor(window.epoch, window.end, 0)
        return self.cursor(window.epoch + 1, 0, 0)

    def _file_order(self, epoch: int) -> np.ndarray:
        if not self._shuffle:
            return np.arange(len(self._files))
        rng = np.random.default_rng([self._seed, _FILE_ORDER_STREAM, epoch])
        return rng.permutation(len(self._files))

    def _load_window(self, epoch: int, start: int) -> _Window:
        if start == 0:
            logger.info("data epoch %d: %d chunk files", epoch, len(self._files))
        order = self._file_order(epoch)
        parts: list[np.ndarray] = []
        count = 0
        end = start
        while end < len(order) and count < self._shuffle_size:
            if self._stop.is_set():
                raise _StreamClosed
            rows = self._read(self._files[order[end]])
            end += 1
            parts.append(rows)
            count += len(rows)
        rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if self._shuffle:
            rng = np.random.default_rng([self._seed, _RECORD_ORDER_STREAM, epoch, start])
            emit_order = rng.permutation(len(rows))
        else:
            emit_order = np.arange(len(rows))
        return _Window(epoch, start, end, rows, emit_order)

    def _read(self, path: Path) -> np.ndarray:
        """The usable records of one file; none for a bad file (warned about once)."""
        if path in self._bad_files:
            return np.empty((0, RECORD_SIZE), np.uint8)
        try:
            rows = read_chunk(path)
        except ChunkError as exc:
            logger.warning("skipping chunk %s: %s", path, exc.reason)
            self._bad_files.add(path)
            self._stats.file_skipped(str(path), exc.reason)
            return np.empty((0, RECORD_SIZE), np.uint8)
        formats = u32_field(rows, _INPUT_FORMAT_OFFSET)
        keep = formats == self._input_format
        mismatches = len(rows) - int(np.count_nonzero(keep))
        self._stats.file_read(len(rows), mismatches)
        if mismatches:
            if path not in self._format_warned:
                self._format_warned.add(path)
                logger.warning(
                    "dropping %d of %d records of %s: input format %s, expected %d",
                    mismatches,
                    len(rows),
                    path,
                    sorted(set(formats[~keep].tolist())),
                    self._input_format,
                )
            rows = rows[keep]
        return rows

    def _no_data_message(self) -> str:
        stats = self._stats.snapshot()
        message = (
            f"none of the {len(self._files)} chunk files holds a usable record: "
            f"{len(stats.skipped_files)} unreadable or corrupt, {stats.format_mismatches} "
            f"records of another input format than {self._input_format}"
        )
        for path, reason in list(stats.skipped_files.items())[:1]:
            message += f" (e.g. {path}: {reason})"
        return message


_END = object()


@dataclasses.dataclass(frozen=True)
class _Failure:
    error: BaseException


class _Prefetcher:
    """Runs a generator in a daemon thread, handing its items over a bounded queue."""

    def __init__(self, items: Generator[Any, None, None], depth: int, stop: threading.Event):
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = stop
        self._thread = threading.Thread(
            target=self._run, args=(items,), name="chunk-stream-batches", daemon=True
        )
        self._thread.start()

    def get(self) -> Any:
        """The next item; StopIteration at the end; re-raises the generator's exception."""
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise StopIteration from None
        if item is _END:
            raise StopIteration
        if isinstance(item, _Failure):
            raise item.error
        return item

    def join(self) -> None:
        self._thread.join()

    def _run(self, items: Generator[Any, None, None]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_END)
        except _StreamClosed:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put(_Failure(exc))
        finally:
            items.close()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False


def _shutdown(
    stop: threading.Event,
    prefetcher: _Prefetcher | None,
    executor: ThreadPoolExecutor | None,
    items: Generator[Any, None, None],
) -> None:
    stop.set()
    if prefetcher is not None:
        prefetcher.join()  # the thread closes `items` itself
    else:
        items.close()
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


class ChunkStream:
    """Iterator of full `DecodedBatch`es over V6 chunk files; see the module docstring.

    Bad files are skipped (logged, counted in `stats`); records of another input format are
    dropped and counted. Raises ValueError when no file holds a usable record. Pass each
    process its own shard (`files.shard_for_process`).
    """

    def __init__(
        self,
        files: Sequence[Path],
        *,
        batch_size: int,
        shuffle_size: int,
        seed: int,
        input_format: int,
        repeat: bool = True,
        shuffle: bool = True,
        cursor: DataCursor | None = None,
        prefetch: int = 2,
    ) -> None:
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("shuffle_size", shuffle_size, 1),
            ("seed", seed, 0),
            ("prefetch", prefetch, 0),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not files:
            raise ValueError("ChunkStream needs at least one chunk file")
        if input_format not in set(InputFormat):
            raise ValueError(
                f"input_format {input_format} is not an lc0 input format "
                f"({', '.join(str(int(f)) for f in InputFormat)})"
            )
        self._batch_size = batch_size
        self._stats = _StatsRecorder()
        self._closed = False
        self._exhausted = False
        stop = threading.Event()
        source = _Source(
            sorted((Path(f) for f in files), key=str),
            shuffle_size=shuffle_size,
            seed=seed,
            input_format=int(input_format),
            repeat=repeat,
            shuffle=shuffle,
            stats=self._stats,
            stop=stop,
        )
        self._cursor = source.resume_point(cursor)
        logger.info(
            "data stream over %d files: batch %d, shuffle window %d records, from epoch %d "
            "window %d offset %d",
            len(files),
            batch_size,
            shuffle_size,
            self._cursor.epoch,
            self._cursor.window_start,
            self._cursor.offset,
        )
        executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="chunk-stream-windows")
            if prefetch
            else None
        )
        self._items = source.batches(self._cursor, batch_size, executor)
        self._prefetcher = _Prefetcher(self._items, prefetch, stop) if prefetch else None
        # The background threads hold no reference to `self`, so an abandoned stream is
        # collected and its threads stopped; close() runs the same finalizer.
        self._finalizer = weakref.finalize(
            self, _shutdown, stop, self._prefetcher, executor, self._items
        )

    @property
    def cursor(self) -> DataCursor:
        """Position just after the last batch handed out (not after what was read ahead)."""
        return self._cursor

    @property
    def stats(self) -> LoaderStats:
        """A snapshot of the counters."""
        return self._stats.snapshot()

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> DecodedBatch:
        if self._closed:
            raise RuntimeError("ChunkStream is closed")
        if self._exhausted:
            raise StopIteration
        try:
            if self._prefetcher is not None:
                batch, cursor = self._prefetcher.get()
            else:
                batch, cursor = next(self._items)
        except Exception:
            self._exhausted = True
            raise
        self._cursor = cursor
        self._stats.emitted(self._batch_size)
        return batch

    def close(self) -> None:
        """Stop the background threads and release the windows; idempotent."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
