"""Batches of lc0's self-play fixtures for step-level tests (the set-up itself is workers.training.setup)."""

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

