"""Upper bounds on the sizes a job asks one host to hold in memory.

A size far beyond any host (a `batch_size` of 2^30, a `shuffle_size` of 2^31−1) is refused at
submit, naming the memory it would need and the limit, instead of failing on the worker
after the job was accepted. The limits are generous: a large training host has hundreds of
GiB, and the legacy trainer's largest settings (batch 4096, shuffle 500 000) stay far below.
"""

from __future__ import annotations

from workers.config.problems import Problems
from workers.data.v6 import NUM_PLANES, NUM_POLICY, V7_RECORD_SIZE

GIB = 1024**3
# The loader holds about two shuffle windows of raw records (workers.data.pipeline).
MAX_SHUFFLE_BYTES = 64 * GIB
# One decoded batch on the host: float32 planes and policy, plus the raw records it came from.
MAX_BATCH_BYTES = 16 * GIB
MAX_PREFETCH_BATCHES = 64
# The window's chunk index (workers.data.window): bench/window.py measures about 470 bytes a chunk.
CHUNK_INDEX_BYTES = 512
MAX_WINDOW_BYTES = 16 * GIB
MAX_NUM_CHUNKS = MAX_WINDOW_BYTES // CHUNK_INDEX_BYTES
POSITION_BYTES = (NUM_PLANES * 64 + NUM_POLICY) * 4 + V7_RECORD_SIZE
MAX_SHUFFLE_SIZE = MAX_SHUFFLE_BYTES // (2 * V7_RECORD_SIZE)
MAX_BATCH_SIZE = MAX_BATCH_BYTES // POSITION_BYTES


def check_host_limits(batch_size: int, shuffle_size: int, prefetch_batches: int, num_chunks: int, problems: Problems) -> None:
    """Refuses sizes one host cannot hold; each message says how much memory the value needs."""
    if batch_size > MAX_BATCH_SIZE:
        problems.add("training.batch_size", f"{batch_size} positions need {_gib(batch_size * POSITION_BYTES)} of host memory "
                     f"per decoded batch ({POSITION_BYTES} bytes a position); the limit is {_gib(MAX_BATCH_BYTES)}, "
                     f"at most {MAX_BATCH_SIZE} positions")
    if shuffle_size > MAX_SHUFFLE_SIZE:
        problems.add("training.shuffle_size", f"{shuffle_size} records need {_gib(2 * shuffle_size * V7_RECORD_SIZE)} of host "
                     f"memory (two shuffle windows of {V7_RECORD_SIZE}-byte records); the limit is "
                     f"{_gib(MAX_SHUFFLE_BYTES)}, at most {MAX_SHUFFLE_SIZE} records")
    if prefetch_batches > MAX_PREFETCH_BATCHES:
        problems.add("dataset.prefetch_batches", f"{prefetch_batches} decoded batches held ahead exceed the limit of "
                     f"{MAX_PREFETCH_BATCHES}")
    if num_chunks > MAX_NUM_CHUNKS:
        problems.add("dataset.num_chunks", f"a window of {num_chunks} chunks needs {_gib(num_chunks * CHUNK_INDEX_BYTES)} of host "
                     f"memory for its index ({CHUNK_INDEX_BYTES} bytes a chunk); the limit is {_gib(MAX_WINDOW_BYTES)}, "
                     f"at most {MAX_NUM_CHUNKS} chunks")


def _gib(size: int) -> str:
    return f"{size / GIB:,.1f} GiB"
