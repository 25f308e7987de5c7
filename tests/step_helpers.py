"""One compiled train step for a resolved job, and batches of lc0's self-play fixtures."""

from __future__ import annotations

from typing import NamedTuple

import jax
from jax.sharding import Mesh

from tests.helpers import DATA
from workers.config.resolve import ResolvedJob
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.training.optim import make_optimizer, make_schedule
from workers.training.sharding import make_mesh, replicated, to_global_batch
from workers.training.state import ModelInit, TrainState, init_params, init_state
from workers.training.step import Batch, StepFunctions, make_step_functions


class StepSetup(NamedTuple):
    mesh: Mesh
    init: ModelInit
    steps: StepFunctions
    state: TrainState


def step_setup(job: ResolvedJob, init: ModelInit | None = None) -> StepSetup:
    """The job's mesh, initial variables (fresh from its seed unless given), step functions and initial state."""
    mesh = make_mesh()
    init = init_params(job.model, job.seed) if init is None else init
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    steps = make_step_functions(init.graphdef, tx, job, mesh)
    state = jax.jit(lambda p, s: init_state(p, tx, batch_stats=s), out_shardings=replicated(mesh))(init.params, init.batch_stats)
    return StepSetup(mesh, init, steps, state)


def selfplay_batch(mesh: Mesh, game: int, count: int) -> Batch:
    """The first `count` positions of fixture game `game` (tests/data/lc0-selfplay) as a global batch."""
    records = decode_records(read_chunk(DATA / "lc0-selfplay" / f"game_{game:06d}.gz")[:count])
    return to_global_batch(mesh, Batch.from_decoded(records))
