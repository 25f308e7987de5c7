"""One training set-up: mesh → model variables → schedule and optimizer → step functions → sharded state.

The trainer, the tests and the benches build a job's training here and nowhere else, so
each runs the state a job runs: SWA weights and count, the FP16 loss scale, Lookahead's
slow weights, the compute dtype and the `init_from` weights.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
from jax.sharding import Mesh

from workers.config.resolve import ResolvedJob, check_devices
from workers.lc0net.jobs import initial_params
from workers.training.optim import Schedule, make_optimizer, make_schedule
from workers.training.sharding import make_mesh, replicated
from workers.training.state import ModelInit, TrainState, init_params, init_state
from workers.training.step import DYNAMIC_SCALE_PERIOD, StepFunctions, make_step_functions


class Training(NamedTuple):
    """A job's compiled training: its mesh, the variables it starts from, its step functions
    and initial (replicated) state."""

    mesh: Mesh
    init: ModelInit
    steps: StepFunctions
    state: TrainState


def initial_variables(job: ResolvedJob) -> ModelInit:
    """The model built from the job's seed in its compute dtype, with the `init_from` weights when set."""
    graphdef, params, batch_stats = init_params(job.model, job.seed, job.precision.compute_dtype)
    params, batch_stats = initial_params(job.init_from, params, batch_stats)
    return ModelInit(graphdef, params, batch_stats)


def build_training(job: ResolvedJob, *, init: ModelInit | None = None, schedule: Schedule | None = None,
                   dynamic_scale_period: int = DYNAMIC_SCALE_PERIOD) -> Training:
    """The job's training set-up; `init` and `schedule` replace the job's own (tests pin them)."""
    mesh = make_mesh(job.devices_per_host)
    check_devices(job, mesh.size, jax.process_count())
    init = initial_variables(job) if init is None else init
    schedule = make_schedule(job.schedule) if schedule is None else schedule
    tx = make_optimizer(job.optimizer, schedule)
    steps = make_step_functions(init.graphdef, tx, schedule, job, mesh, dynamic_scale_period)
    make_state = functools.partial(init_state, tx=tx, swa=job.swa is not None, precision=job.precision)
    state = jax.jit(make_state, out_shardings=replicated(mesh))(init.params, batch_stats=init.batch_stats)
    return Training(mesh, init, steps, state)
