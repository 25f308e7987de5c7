"""The training stream: V6 and V7 chunk files → shuffled, decoded, fixed-size batches.

Stream definition (a pure function of the sorted file list, `seed`, `shuffle_size` and the
process's place; with one process the files of an epoch are simply the epoch's global order):

* Epoch `e` deals this process its files: every n-th file of the global order
  `default_rng([seed, 0, e]).permutation(n_files)` not read yet (`workers.data.dealing`).
* Consecutive files of that deal form a *window*: files are added until it holds at least
  `shuffle_size` usable records (or the epoch's files run out).
* A window's records are emitted in the order `default_rng([seed, 1, e, start]).permutation`,
  where `start` is the global position of its first file.
* Batches are cut from the concatenated record sequence (spanning windows and epochs).

So `(epoch, window start, offset in the window)`, the `DataCursor`, pins the stream exactly and
resuming re-reads one window; the cursors of all processes merge into a global position that
another process count resumes from (`dealing.start_cursor`). Windows keep raw uint8 records
in V7-sized rows (V6 records padded by `v6.pad_to_v7`, keeping version 6), so files of both
versions mix in one window and decode into the same `DecodedBatch` (V6 records: q_st/d_st NaN,
future moves NO_MOVE). Each batch is decoded on its own (decoding a whole window at once is far
slower). With `prefetch > 0` one thread cuts and decodes batches into a bounded queue while
another reads the next window, so about two windows (2 x shuffle_size x 8396 bytes) are held;
with `prefetch == 0` everything runs in the caller.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from workers.data.archives import ArchiveCache
from workers.data.dealing import Dealing, EpochDeal, start_cursor
from workers.data.files import ChunkError, read_chunk, u32_field
from workers.data.sampling import KEEP_ALL, Sampling
from workers.data.stream_state import DataCursor, LoaderStats, StatsRecorder, files_digest
from workers.data.v6 import RECORD_SIZE, V6_PADDING, V7_RECORD_SIZE, DecodedBatch, InputFormat, decode_records

logger = logging.getLogger(__name__)

_RECORD_ORDER_STREAM = 1  # second seed word: apart from the file-order RNG (0, global_position.py)
_INPUT_FORMAT_OFFSET = 4
_POLL_S = 0.1
_WINDOW_SLACK = 4096  # records beyond shuffle_size that a window's last file may add (lc0 games are shorter)
_Batches = Generator[tuple[DecodedBatch, "DataCursor"], None, None]


class _StreamClosed(Exception):
    """Raised inside the background threads when the stream is closed mid-read."""


@dataclasses.dataclass(frozen=True)
class _Window:
    epoch: int
    start: int  # index of the first file in the epoch's file order
    end: int  # one past the last file
    rows: np.ndarray  # uint8 [n, V7_RECORD_SIZE] (V6 records padded), in file order
    order: np.ndarray  # emission order, a permutation of range(n)
    usable: int  # records its files held before sampling


@dataclasses.dataclass(frozen=True)
class _StreamSpec:
    files: tuple[Path, ...]  # sorted
    shuffle_size: int
    seed: int
    input_format: int
    repeat: bool
    shuffle: bool
    sampling: Sampling = KEEP_ALL
    process_index: int = 0
    process_count: int = 1

    def fresh_cursor(self) -> DataCursor:
        """The start of a new stream: what its cursors record to recognise it and its process."""
        return DataCursor(0, 0, 0, self.seed, self.shuffle_size, self.shuffle, len(self.files),
                          files_digest(self.files), self.sampling.describe(), self.process_index, self.process_count)


class _Source:
    """Builds windows and batches following the stream definition of the module docstring."""

    def __init__(self, spec: _StreamSpec, start: DataCursor, stats: StatsRecorder, stop: threading.Event) -> None:
        self._spec = spec
        self._start = start
        self._dealing = Dealing.of(start, len(spec.files))
        self._deals: dict[int, EpochDeal] = {}  # of the epochs in use (the window thread reads ahead)
        self._stats = stats
        self._stop = stop
        # Touched only by the one thread that loads windows.
        self._bad_files: set[Path] = set()
        self._format_warned: set[Path] = set()
        self._archives = ArchiveCache()

    def cursor(self, epoch: int, window_start: int, offset: int) -> DataCursor:
        return dataclasses.replace(self._start, epoch=epoch, window_start=window_start, offset=offset)

    def _deal(self, epoch: int) -> EpochDeal:
        deal = self._deals.get(epoch)
        if deal is None:
            deal = self._dealing.epoch(epoch)
            self._deals = {e: d for e, d in self._deals.items() if e >= epoch - 1} | {epoch: deal}
        return deal

    def check_start(self) -> None:
        """Raises ValueError when the start cursor lies outside its epoch's files."""
        start = self._start
        dealt = len(self._deal(start.epoch).files)
        if start.window_start and start.window_start >= dealt:
            raise ValueError(f"data cursor window_start {start.window_start} is out of range "
                             f"for the {dealt} files of epoch {start.epoch}")

    def batches(self, start: DataCursor, batch_size: int, executor: ThreadPoolExecutor | None) -> _Batches:
        """Full batches from `start` on, each with the cursor just after it."""
        pieces: list[np.ndarray] = []
        have, skip = 0, start.offset
        for window in self._windows(start.epoch, start.window_start, executor):
            size = len(window.order)
            offset, skip = min(skip, size), 0  # min(): the files changed since the cursor was saved
            while offset < size:
                take = min(batch_size - have, size - offset)
                pieces.append(window.rows[window.order[offset : offset + take]])
                offset += take
                have += take
                if have == batch_size:
                    raw = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
                    pieces, have = [], 0
                    yield decode_records(raw), self._cursor_after(window, offset)

    def _windows(self, epoch: int, start: int, executor: ThreadPoolExecutor | None) -> Iterator[_Window]:
        """Windows in stream order; with an executor the next one loads while this one is used."""

        def submit(at: DataCursor) -> Callable[[], _Window]:
            load = functools.partial(self._load_window, at.epoch, at.window_start)
            return load if executor is None else executor.submit(load).result

        pending: Callable[[], _Window] | None = submit(self.cursor(epoch, start, 0))
        barren_files = 0  # consecutive files that gave no usable record
        while pending is not None:
            window = pending()
            barren_files = 0 if window.usable else barren_files + window.end - window.start
            if barren_files >= len(self._spec.files):
                raise ValueError(self._no_data_message())
            after = self._cursor_after(window, len(window.order))
            pending = submit(after) if self._spec.repeat or after.epoch == window.epoch else None
            yield window

    def _cursor_after(self, window: _Window, offset: int) -> DataCursor:
        if offset < len(window.order):
            return self.cursor(window.epoch, window.start, offset)
        if window.end < len(self._deal(window.epoch).files):
            return self.cursor(window.epoch, window.end, 0)
        return self.cursor(window.epoch + 1, 0, 0)

    def _load_window(self, epoch: int, start: int) -> _Window:
        spec = self._spec
        deal = self._deal(epoch)
        file_order = deal.files
        if start == 0:
            logger.debug("data epoch %d: %d of %d chunk files dealt", epoch, len(file_order), len(spec.files))
        # Filled in place so loading never holds the window twice; untouched pages cost no memory.
        buffer = np.empty((spec.shuffle_size + _WINDOW_SLACK, V7_RECORD_SIZE), np.uint8)
        count, end, usable = 0, start, 0
        while end < len(file_order) and count < spec.shuffle_size:
            if self._stop.is_set():
                raise _StreamClosed
            rows = self._read(spec.files[file_order[end]])
            usable += len(rows)
            rows = spec.sampling.select(rows, spec.seed, epoch, int(deal.sample_index[end]))
            end += 1
            if count + len(rows) > len(buffer):  # a file longer than any game: grow once
                buffer = np.concatenate([buffer[:count], np.empty((len(rows), V7_RECORD_SIZE), np.uint8)])
            buffer[count : count + len(rows), : rows.shape[1]] = rows
            if rows.shape[1] == RECORD_SIZE:  # V6: the same padding as v6.pad_to_v7, in place
                buffer[count : count + len(rows), RECORD_SIZE:] = V6_PADDING
            count += len(rows)
        rows = buffer[:count]
        order = np.arange(len(rows))
        if spec.shuffle and len(order):
            key = int(deal.window_keys[start])
            order = np.random.default_rng([spec.seed, _RECORD_ORDER_STREAM, epoch, key]).permutation(order)
        return _Window(epoch, start, end, rows, order, usable)

    def _read(self, path: Path) -> np.ndarray:
        """The usable records of one file; none for a bad file (warned about once)."""
        if path in self._bad_files:
            return np.empty((0, V7_RECORD_SIZE), np.uint8)
        try:
            rows = read_chunk(path, self._archives)
        except ChunkError as exc:
            logger.warning("skipping chunk %s: %s", path, exc.reason)
            self._bad_files.add(path)
            self._stats.add(skipped=(str(path), exc.reason))
            return np.empty((0, V7_RECORD_SIZE), np.uint8)
        formats = u32_field(rows, _INPUT_FORMAT_OFFSET)
        keep = formats == self._spec.input_format
        mismatches = len(rows) - int(np.count_nonzero(keep))
        self._stats.add(files_read=1, records_read=len(rows), format_mismatches=mismatches)
        if not mismatches:
            return rows
        if path not in self._format_warned:
            self._format_warned.add(path)
            logger.warning("dropping %d of %d records of %s: input format %s, expected %d", mismatches,
                           len(rows), path, sorted(set(formats[~keep].tolist())), self._spec.input_format)
        kept: np.ndarray = rows[keep]
        return kept

    def _no_data_message(self) -> str:
        stats = self._stats.snapshot()
        example = "".join(f" (e.g. {p}: {r})" for p, r in list(stats.skipped_files.items())[:1])
        count = len(self._spec.files)
        which = (f"none of the {count} chunk files holds" if self._spec.process_count == 1 else
                 f"process {self._spec.process_index} read {count} chunk files in a row without")
        return (f"{which} a usable record: "
                f"{len(stats.skipped_files)} unreadable or corrupt{example}, {stats.format_mismatches} "
                f"records of another input format than {self._spec.input_format}")


_END = object()


class _Prefetcher:
    """Runs a generator in a daemon thread, handing its items (or its exception) over a bounded queue."""

    def __init__(self, items: Generator[Any, None, None], depth: int, stop: threading.Event) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = stop
        self.thread = threading.Thread(target=self._run, args=(items,), name="chunk-stream", daemon=True)
        self.thread.start()

    def get(self) -> Any:
        """The next item; StopIteration at the end (and ever after); raises the generator's exception."""
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self.thread.is_alive() and self._queue.empty():
                    raise StopIteration from None
        if item is _END:
            raise StopIteration
        if isinstance(item, Exception):
            raise item
        return item

    def _run(self, items: Generator[Any, None, None]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(_END)
        except _StreamClosed:
            return
        except Exception as exc:  # handed to the consumer, raised there
            self._put(exc)
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


def _shutdown(stop: threading.Event, prefetcher: _Prefetcher | None, executor: ThreadPoolExecutor | None,
              items: _Batches) -> None:
    stop.set()
    if prefetcher is not None:
        prefetcher.thread.join()  # the thread closes `items` itself
    else:
        items.close()
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)


class ChunkStream:
    """Iterator of full `DecodedBatch`es over V6 and V7 chunk files (see the module docstring).

    Bad files are skipped (logged once, listed in `stats`); records of another input format are
    dropped and counted. `sampling` (the legacy down-sampling and diff focus, `workers.data.sampling`)
    filters each file's records as it is read, before they enter a window. Raises ValueError when no
    file holds a usable record. In a multi-process run every process passes all the files and its
    `process_index` of `process_count`; it reads its own deal of them (`workers.data.dealing`).
    `cursor` is where to resume: this stream's own cursor, or the cursors every process of the
    last run saved (`cursor[i]` of process i, any count of them; see `dealing.start_cursor`).
    """

    def __init__(self, files: Sequence[Path], *, batch_size: int, shuffle_size: int, seed: int,
                 input_format: int, repeat: bool = True, shuffle: bool = True,
                 cursor: DataCursor | Sequence[DataCursor] | None = None, prefetch: int = 2,
                 sampling: Sampling = KEEP_ALL, process_index: int = 0, process_count: int = 1) -> None:
        for name, value, low in (("batch_size", batch_size, 1), ("shuffle_size", shuffle_size, 1),
                                 ("seed", seed, 0), ("prefetch", prefetch, 0), ("process_count", process_count, 1)):
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
        if not 0 <= process_index < process_count:
            raise ValueError(f"process_index must be in [0, {process_count}), got {process_index}")
        if len(files) < process_count:
            raise ValueError(f"ChunkStream needs at least one chunk file per process: {len(files)} files, "
                             f"{process_count} processes")
        if input_format not in {int(f) for f in InputFormat}:
            raise ValueError(f"input_format {input_format} is not an lc0 input format "
                             f"({', '.join(str(int(f)) for f in InputFormat)})")
        spec = _StreamSpec(tuple(sorted((Path(f) for f in files), key=str)), shuffle_size, seed,
                           int(input_format), repeat, shuffle, sampling, process_index, process_count)
        saved = [] if cursor is None else [cursor] if isinstance(cursor, DataCursor) else list(cursor)
        self._cursor = start_cursor(saved, spec.fresh_cursor(), spec.files)
        self._batch_size = batch_size
        self._stats = StatsRecorder()
        stop = threading.Event()
        source = _Source(spec, self._cursor, self._stats, stop)
        source.check_start()
        logger.info("data stream over %d files: batch %d, shuffle window %d records, from epoch %d window "
                    "%d offset %d", len(files), batch_size, shuffle_size, self._cursor.epoch,
                    self._cursor.window_start, self._cursor.offset)
        executor = ThreadPoolExecutor(1, thread_name_prefix="chunk-window") if prefetch else None
        self._items = source.batches(self._cursor, batch_size, executor)
        self._prefetcher = _Prefetcher(self._items, prefetch, stop) if prefetch else None
        # The threads hold no reference to `self`: an abandoned stream is collected and its
        # threads stopped by this finalizer, which close() also runs.
        self._finalizer = weakref.finalize(self, _shutdown, stop, self._prefetcher, executor, self._items)

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
        if not self._finalizer.alive:
            raise RuntimeError("ChunkStream is closed")
        batch, cursor = self._prefetcher.get() if self._prefetcher else next(self._items)
        self._cursor = cursor
        self._stats.add(positions_emitted=self._batch_size)
        return batch

    def close(self) -> None:
        """Stop the background threads and release the windows; idempotent."""
        self._finalizer()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
