"""Agreement between the JAX processes of one job (one per host).

Every process runs the same sequence of jitted collectives, so any decision that changes
that sequence — stop after this step, one more validation batch — must be the same on all
of them, even when its input (a cancel or SIGTERM reaching one actor first, a shard with
fewer validation files) differs. These helpers make such decisions collectively; with one
process they are plain local computations and run no collective.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils

T = TypeVar("T")

# Stop reasons, in the order of precedence when processes disagree (a preemption wins).
STOP_REASONS = ("CANCELLED", "PREEMPTED")


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    """Joins this process to the job's JAX runtime (CPU collectives over gloo); call before any JAX computation."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def _gather(values: np.ndarray) -> np.ndarray:
    """[process_count, *values.shape]: every process's `values`, on every process."""
    if jax.process_count() == 1:
        return values[None]
    return np.asarray(multihost_utils.process_allgather(values))


def agree_stop(requested: bool, reason: str, checkpoint: bool) -> tuple[bool, str, bool]:
    """(stop, reason, checkpoint) agreed by all processes: stop if any process was asked to;
    checkpoint if any stopping process wants one; the highest-precedence reason wins."""
    code = (STOP_REASONS.index(reason) + 1 if requested else 0, int(requested and checkpoint))
    codes = _gather(np.asarray(code, np.int32))
    stop_code = int(codes[:, 0].max())
    if not stop_code:
        return False, "", False
    return True, STOP_REASONS[stop_code - 1], bool(codes[:, 1].max())


def preemption_reached(step: int) -> bool:
    """Whether all processes have reached the step at which to checkpoint for a preemption.

    With several processes `jax.distributed` owns SIGTERM: a notice to any of them reaches
    all, which agree on one step; call this at every step. A single process has no such
    service (the actor's own SIGTERM handler requests the stop).
    """
    return jax.process_count() > 1 and multihost_utils.reached_preemption_sync_point(step)


def while_all(items: Iterator[T]) -> Iterator[T]:
    """Yields from `items` while every process still has an item (the shortest shard ends it)."""
    for item in items:
        if not _gather(np.asarray(1, np.int32)).min():
            return
        yield item
    _gather(np.asarray(0, np.int32))  # tell the others this process ran out


def gather_json(value: Any) -> list[Any]:
    """Every process's JSON-serialisable `value`, indexed by process."""
    data = np.frombuffer(json.dumps(value, sort_keys=True).encode(), np.uint8)
    lengths = _gather(np.asarray(len(data), np.int32))
    padded = np.zeros(int(lengths.max()), np.uint8)
    padded[: len(data)] = data
    rows = _gather(padded)
    return [json.loads(bytes(row[:length])) for row, length in zip(rows, lengths)]
