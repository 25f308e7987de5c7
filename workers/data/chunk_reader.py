"""Reading a stream's chunk files: bad files skipped once, foreign input formats dropped, and
files read ahead in parallel threads while the caller takes them in order.

Inflating gzip is most of the loader's time (docs/data_pipeline.md). ISA-L releases the GIL
while it inflates, so `read_threads` reader threads inflate that many files at once on as many
cores. The order of what the caller gets never depends on the thread count, so batches and
cursors are the same with any number of threads.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from workers.data.archives import ArchiveCache
from workers.data.files import ChunkError, read_chunk, u32_field
from workers.data.stream_state import StatsRecorder
from workers.data.v6 import V7_RECORD_SIZE

logger = logging.getLogger(__name__)

T = TypeVar("T")

_INPUT_FORMAT_OFFSET = 4
MAX_AUTO_READ_THREADS = 8


def auto_read_threads() -> int:
    """The reader threads used when a job leaves `dataset.reader_threads` at 0: one per CPU this
    process may use, at most `MAX_AUTO_READ_THREADS`."""
    return max(1, min(MAX_AUTO_READ_THREADS, len(os.sched_getaffinity(0))))


class ChunkReader:
    """Reads chunk files for one stream; `read` is safe to call from several threads."""

    def __init__(self, input_format: int, stats: StatsRecorder, read_threads: int = 1) -> None:
        if read_threads < 1:
            raise ValueError(f"read_threads must be >= 1, got {read_threads}")
        self._input_format = input_format
        self._stats = stats
        self._lock = threading.Lock()  # guards the two sets; the archive cache has its own
        self._bad_files: set[Path] = set()
        self._format_warned: set[Path] = set()
        self._archives = ArchiveCache()
        self._read_ahead = 2 * read_threads
        self._pool = ThreadPoolExecutor(read_threads, thread_name_prefix="chunk-read") if read_threads > 1 else None

    def read(self, path: Path) -> np.ndarray:
        """The usable records of one file; none for a bad file (warned about once)."""
        with self._lock:
            known_bad = path in self._bad_files
        if known_bad:
            return np.empty((0, V7_RECORD_SIZE), np.uint8)
        try:
            rows = read_chunk(path, self._archives)
        except ChunkError as exc:
            with self._lock:
                first = path not in self._bad_files
                self._bad_files.add(path)
            if first:
                logger.warning("skipping chunk %s: %s", path, exc.reason)
                self._stats.add(skipped=(str(path), exc.reason))
            return np.empty((0, V7_RECORD_SIZE), np.uint8)
        formats = u32_field(rows, _INPUT_FORMAT_OFFSET)
        keep = formats == self._input_format
        mismatches = len(rows) - int(np.count_nonzero(keep))
        self._stats.add(files_read=1, records_read=len(rows), format_mismatches=mismatches)
        if not mismatches:
            return rows
        with self._lock:
            first = path not in self._format_warned
            self._format_warned.add(path)
        if first:
            logger.warning("dropping %d of %d records of %s: input format %s, expected %d", mismatches,
                           len(rows), path, sorted(set(formats[~keep].tolist())), self._input_format)
        kept: np.ndarray = rows[keep]
        return kept

    def in_order(self, load: Callable[[int], T], indices: Iterable[int]) -> Generator[T, None, None]:
        """`load(i)` for each of `indices`, in that order, computed up to 2 x read_threads ahead in
        the reader threads. Closing the iterator early cancels what was not started."""
        if self._pool is None:
            yield from map(load, indices)
            return
        pending: collections.deque[Future[T]] = collections.deque()
        remaining = iter(indices)
        try:
            for index in remaining:
                pending.append(self._pool.submit(load, index))
                if len(pending) >= self._read_ahead:
                    break
            while pending:
                result = pending.popleft().result()
                following = next(remaining, None)
                if following is not None:
                    pending.append(self._pool.submit(load, following))
                yield result
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        """Stops the reader threads (a file being read is finished first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
