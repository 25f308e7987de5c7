"""One training set-up: mesh → model variables → schedule and optimizer → step functions → sharded state.

The trainer, the tests and the benches build a job's training here and nowhere else, so
each runs the state a job runs: SWA weights and count, the FP16 loss scale, Lookahead's
slow weights, the compute dtype and the `init_from` weights, sharded by the table in
workers.training.sharding.
"""

from __future__ import annotations

import functools
import logging
from typing import NamedTuple

import jax
from jax.sharding import Mesh

from workers.config.resolve import ResolvedJob, check_devices
from workers.lc0net.jobs import initial_params
from workers.training.optim import Schedule, make_optimizer, make_schedule
from workers.training.sharding import describe, make_mesh, mesh_devices, state_bytes, state_shardings
from workers.training.state import ModelInit, TrainState, init_params, init_state
from workers.training.step import DYNAMIC_SCALE_PERIOD, StepFunctions, make_step_functions

log = logging.getLogger(__name__)


class Training(NamedTuple):
    """A job's compiled training: its mesh, the variables it starts from, its step functions
    and initial (sharded) state."""

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
    """The job's training set-up; `init` and `schedule` replace the job's own (tests pin them).

    Logs the mesh and the per-device bytes of the state once."""
    devices = mesh_devices(job.devices_per_host)
    mesh = make_mesh(check_devices(job, len(devices), jax.process_count()), devices)
    init = initial_variables(job) if init is None else init
    schedule = make_schedule(job.schedule) if schedule is None else schedule
    tx = make_optimizer(job.optimizer, schedule)
    make_state = functools.partial(init_state, tx=tx, swa=job.swa is not None, precision=job.precision)
    abstract = jax.eval_shape(make_state, init.params, batch_stats=init.batch_stats)
    shardings = state_shardings(abstract, mesh)
    log.info("sharding: %s", describe(mesh, state_bytes(abstract, shardings)))
    steps = make_step_functions(init.graphdef, tx, schedule, job, mesh, shardings, dynamic_scale_period)
    state = jax.jit(make_state, out_shardings=shardings)(init.params, batch_stats=init.batch_stats)
    return Training(mesh, init, steps, state)
