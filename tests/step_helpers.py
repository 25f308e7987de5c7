"""Batches of lc0's self-play fixtures for step-level tests (the set-up itself is workers.training.setup),
and the order of a run's reports."""

from __future__ import annotations

from jax.sharding import Mesh

from tests.helpers import DATA
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.training.sharding import to_global_batch
from workers.training.step import Batch


def selfplay_batch(mesh: Mesh, game: int, count: int) -> Batch:
    """The first `count` positions of fixture game `game` (tests/data/lc0-selfplay) as a global batch."""
    records = decode_records(read_chunk(DATA / "lc0-selfplay" / f"game_{game:06d}.gz")[:count])
    return to_global_batch(mesh, Batch.from_decoded(records))


def split_checkpoints(kinds: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[int]]:
    """(the reports other than checkpoints in order, the checkpoint steps in order).

    A checkpoint is reported once Orbax has committed it, so only this is fixed: it comes
    after every other report of its step and of the steps before."""
    others = [k for k in kinds if k[0] != "checkpoint"]
    for index, (kind, step) in enumerate(kinds):
        if kind == "checkpoint":
            assert not any(s <= step for k, s in kinds[index + 1:] if k != "checkpoint"), (step, kinds)
    return others, [step for kind, step in kinds if kind == "checkpoint"]
