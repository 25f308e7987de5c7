"""Job resolution: validation of a `JobSpec` and its defaults made explicit.

The `JobSpec` proto is the schema. This module turns a spec into a frozen `ResolvedJob`
with every default filled in, or raises `ConfigError` listing each offending field path,
the value and the rule. The input message is never mutated. Code after `resolve()` reads
the `ResolvedJob` only; its `spec` is kept to write `spec.textproto`.

The model's defaults and rules live with the model (`workers.model.resolved`); the rules
that need files (can lc0 run the net, does `init_from` hold the same architecture) live
with the lc0 interop (`workers.lc0net.jobs`); both are run from here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message

from lc0train import data_pb2, model_pb2
from workers.lc0net.jobs import export_problem, init_from_problem
from workers.model.errors import ModelConfigError
from workers.model.head_layout import HeadLayout
from workers.model.resolved import ResolvedModel
from workers.config.training_settings import (
    OptimizerSettings,
    PrecisionSettings,
    ScheduleSettings,
    SwaSettings,
    resolve_batch_splits,
    resolve_optimizer,
    resolve_precision,
    resolve_schedule,
    resolve_swa,
)
from workers.config.accelerators import Placement, resolve_placement
from workers.config.continuous_settings import ContinuousSettings, resolve_continuous
from workers.config.host_limits import check_host_limits
from workers.config.loss_settings import LossSettings, resolve_losses
from workers.config.mesh_settings import MeshSettings, resolve_mesh
from workers.config.sampling_settings import resolve_sampling
from workers.data.sampling import KEEP_ALL, Sampling
from workers.config.problems import ConfigError, Problems, optional
from workers.config.spec import Spec

_M = TypeVar("_M", bound=Message)

DATA_PATH_FIELDS = ("input_train", "input_test", "input_validation", "input")  # DataConfig's chunk sources
_DEFAULT_MAX_TO_KEEP = 50
_DEFAULT_SHUFFLE_SIZE = 65_536
_DEFAULT_PREFETCH = 2


@dataclasses.dataclass(frozen=True)
class ResolvedJob:
    """A validated job with every default made explicit; derived from, never written to, the spec."""

    spec: Spec  # as submitted: only written to spec.textproto
    model: ResolvedModel
    dataset: data_pb2.DataConfig
    export_nets: bool  # write lc0 nets at each checkpoint
    init_from: Path | None  # weights to start from when the job has no checkpoint
    seed: int
    batch_size: int
    num_batch_splits: int
    total_steps: int
    test_steps: int
    validation_steps: int
    checkpoint_steps: int
    train_avg_report_steps: int
    num_test_positions: int
    shuffle_size: int
    prefetch_batches: int
    schedule: ScheduleSettings
    optimizer: OptimizerSettings
    precision: PrecisionSettings
    swa: SwaSettings | None
    losses: LossSettings
    max_to_keep: int
    hosts: int  # placement.hosts
    devices_per_host: int
    placement: Placement  # what each host reserves (CPU, GPUs, one TPU slice)
    mesh: MeshSettings
    warnings: tuple[str, ...] = ()
    sampling: Sampling = KEEP_ALL  # the train stream's; test streams use its `sample` only
    continuous: ContinuousSettings | None = None  # None: a fixed run to the next multiple of total_steps


def resolve(spec: Spec, source: str | None = None) -> ResolvedJob:
    """Validates `spec` and returns its resolved form, or raises ConfigError naming every bad field."""
    problems = Problems()
    problems.finite_fields(spec)
    warnings: list[str] = []
    model = _resolve_model(spec.model, problems)
    heads = model.heads if model else HeadLayout()
    init_from = Path(spec.init_from.path) if spec.init_from.path else None
    if model is not None and not problems:
        _check_lc0_interop(spec, model, init_from, problems)
    t = spec.training
    for name in ("batch_size", "total_steps", "test_steps", "train_avg_report_steps"):
        problems.positive(f"training.{name}", getattr(t, name))
    for name in ("checkpoint_steps", "num_test_positions", "shuffle_size"):
        problems.non_negative(f"training.{name}", getattr(t, name))
    d = spec.dataset
    if d.input_validation:
        problems.positive("training.validation_steps", t.validation_steps, "required when dataset.input_validation is set")
    elif t.validation_steps:
        problems.add("training.validation_steps", "requires dataset.input_validation")
    _check_data(d, problems)
    max_to_keep = int(optional(t, "max_to_keep", _DEFAULT_MAX_TO_KEEP))
    problems.positive("training.max_to_keep", max_to_keep)
    prefetch = int(optional(d, "prefetch_batches", _DEFAULT_PREFETCH))
    problems.positive("dataset.prefetch_batches", prefetch)
    check_host_limits(t.batch_size, t.shuffle_size or _DEFAULT_SHUFFLE_SIZE, prefetch, d.num_chunks, problems)
    r = spec.resources
    problems.non_negative("resources.hosts", r.hosts)
    problems.non_negative("resources.devices_per_host", r.devices_per_host)
    placement = resolve_placement(r, problems)
    schedule, optimizer = resolve_schedule(t, problems), resolve_optimizer(t, problems)
    precision, swa = resolve_precision(t, problems), resolve_swa(t, problems, warnings)
    num_batch_splits = resolve_batch_splits(t, problems)
    whole_splits = t.batch_size > 0 and num_batch_splits > 0 and t.batch_size % num_batch_splits == 0
    devices_per_host = placement.tpu.devices_per_host if placement.tpu is not None else r.devices_per_host  # 0: unknown (CPU)
    mesh = resolve_mesh(r.mesh, placement.hosts, devices_per_host, t.batch_size // num_batch_splits if whole_splits else 0, problems)
    losses = resolve_losses(t, problems, spec.model.moves_left != model_pb2.MOVES_LEFT_NONE, heads)
    sampling = resolve_sampling(d, problems)
    continuous = resolve_continuous(spec, problems)
    if problems or model is None:
        raise ConfigError(problems, source)
    return ResolvedJob(
        spec=_copy(spec),
        model=model,
        dataset=_copy(d),
        export_nets=_exports(spec),
        init_from=init_from,
        seed=spec.seed,
        batch_size=t.batch_size,
        total_steps=t.total_steps,
        test_steps=t.test_steps,
        validation_steps=t.validation_steps,
        checkpoint_steps=t.checkpoint_steps,
        train_avg_report_steps=t.train_avg_report_steps,
        num_test_positions=t.num_test_positions,
        shuffle_size=t.shuffle_size or _DEFAULT_SHUFFLE_SIZE,
        prefetch_batches=prefetch,
        max_to_keep=max_to_keep,
        hosts=placement.hosts,
        devices_per_host=r.devices_per_host,
        placement=placement,
        mesh=mesh,
        warnings=tuple(warnings),
        schedule=schedule,
        optimizer=optimizer,
        precision=precision,
        swa=swa,
        num_batch_splits=num_batch_splits,
        losses=losses,
        sampling=sampling,
        continuous=continuous,
    )


def check_devices(job: ResolvedJob, device_count: int, process_count: int) -> tuple[int, int]:
    """Device-dependent rules, checked once the JAX runtime (and its processes) are up; the
    mesh's (data, fsdp) axis sizes over the job's `device_count` devices."""
    problems = Problems()
    mesh = job.mesh.check(device_count, problems)
    micro_batch = job.batch_size // job.num_batch_splits
    if micro_batch % device_count:
        problems.add("training.batch_size", f"the micro-batch of {micro_batch} (batch_size / num_batch_splits) is not divisible "
                     f"by the {device_count} devices of the mesh")
    if job.hosts != process_count:
        problems.add("resources.hosts", f"is {job.hosts} but {process_count} JAX processes are running")
    if problems:
        raise ConfigError(problems)
    assert mesh is not None
    return mesh


def _resolve_model(m: model_pb2.ModelConfig, problems: Problems) -> ResolvedModel | None:
    """The model's typed dimensions and heads, or None with every bad field reported."""
    if m.input_type == model_pb2.INPUT_TYPE_UNSPECIFIED:
        problems.add("model.input_type", "required (e.g. INPUT_CLASSICAL_112_PLANE)")
    try:
        return ResolvedModel.from_config(m)
    except ModelConfigError as err:
        problems.extend(err.problems)
        return None


def _exports(spec: Spec) -> bool:
    """Whether the job writes lc0 nets: when asked, and always for a continuous job (it publishes them)."""
    return spec.export.enabled or spec.HasField("continuous")


def _check_lc0_interop(spec: Spec, model: ResolvedModel, init_from: Path | None, problems: Problems) -> None:
    """Refuses, before the job starts, a net lc0 cannot run and `init_from` weights of another architecture."""
    if _exports(spec) and (reason := export_problem(model)):
        problems.add("export.enabled", reason)
    if init_from is not None and (reason := init_from_problem(init_from, model)):
        problems.add("init_from.path", reason)


def _check_data(d: data_pb2.DataConfig, problems: Problems) -> None:
    problems.non_negative("dataset.num_chunks", d.num_chunks)
    if not d.num_chunks and d.allow_less_chunks:
        problems.add("dataset.allow_less_chunks", "only applies with dataset.num_chunks")
    for name in DATA_PATH_FIELDS:
        for i, value in enumerate(getattr(d, name)):
            if not value.strip():
                problems.add(f"dataset.{name}[{i}]", "empty path (name a file, a directory or a glob)")
    if d.input:
        if d.input_train or d.input_test:
            problems.add("dataset.input", "use either dataset.input with train_ratio or input_train/input_test, not both")
        if not 0.0 < d.train_ratio < 1.0:
            problems.add("dataset.train_ratio", f"must be in (0, 1) when dataset.input is set (got {d.train_ratio})")
        return
    if not d.input_train:
        problems.add("dataset.input_train", "required (or dataset.input with dataset.train_ratio)")
    if not d.input_test:
        problems.add("dataset.input_test", "required: the test cadence needs a test set (or use dataset.input with train_ratio)")
    if d.train_ratio:
        problems.add("dataset.train_ratio", "only applies to dataset.input")


def _copy(message: _M) -> _M:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
