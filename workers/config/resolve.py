"""Job resolution: validation of a `JobSpec` and its defaults made explicit.

The `JobSpec` proto is the schema. This module turns a spec into a frozen `ResolvedJob`
with every default filled in, or raises `ConfigError` listing each offending field path,
the value and the rule. The input message is never mutated.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, TypeVar


from google.protobuf.message import Message

from lc0train import data_pb2, model_pb2
from workers.model.dims import NetDims
from workers.model.head_layout import HeadLayout
from workers.model.resnet import ResNetDims
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
from workers.config.loss_settings import LossSettings, resolve_losses
from workers.config.problems import ConfigError, Problems, optional
from workers.config.spec import Spec

_M = TypeVar("_M", bound=Message)

_DEFAULT_MAX_TO_KEEP = 50
_DEFAULT_SHUFFLE_SIZE = 65_536
_DEFAULT_PREFETCH = 2
_DEFAULT_VALUE_CHANNELS = 32
_DEFAULT_MOVES_LEFT_CHANNELS = 8


@dataclasses.dataclass(frozen=True)
class ResolvedJob:
    """A validated job with every default made explicit; derived from, never written to, the spec."""

    spec: Spec
    model: model_pb2.ModelConfig
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
    hosts: int
    devices_per_host: int
    warnings: tuple[str, ...] = ()


def resolve(spec: Spec, source: str | None = None) -> ResolvedJob:
    """Validates `spec` and returns its resolved form, or raises ConfigError naming every bad field."""
    problems = Problems()
    warnings: list[str] = []
    model = _resolve_model(spec.model, problems)
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
    r = spec.resources
    problems.non_negative("resources.hosts", r.hosts)
    problems.non_negative("resources.devices_per_host", r.devices_per_host)
    job = dict(
        schedule=resolve_schedule(t, problems),
        optimizer=resolve_optimizer(t, problems),
        precision=resolve_precision(t, problems),
        swa=resolve_swa(t, problems, warnings),
        num_batch_splits=resolve_batch_splits(t, problems),
        losses=resolve_losses(t, problems, _has_moves_left_head(model), _head_layout(model, problems)),
    )
    if problems:
        raise ConfigError(problems, source)
    return ResolvedJob(
        spec=_copy(spec),
        model=model,
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
        hosts=r.hosts or 1,
        devices_per_host=r.devices_per_host,
        warnings=tuple(warnings),
        **job,
    )


def check_devices(job: ResolvedJob, device_count: int, process_count: int) -> None:
    """Device-dependent rules, checked once the JAX runtime (and its processes) are up."""
    problems = Problems()
    micro_batch = job.batch_size // job.num_batch_splits
    if micro_batch % device_count:
        problems.add("training.batch_size", f"the micro-batch of {micro_batch} (batch_size / num_batch_splits) is not divisible "
                     f"by the {device_count} devices of the mesh")
    if job.hosts != process_count:
        problems.add("resources.hosts", f"is {job.hosts} but {process_count} JAX processes are running")
    if problems:
        raise ConfigError(problems)


def _resolve_model(m: model_pb2.ModelConfig, problems: Problems) -> model_pb2.ModelConfig:
    model = _copy(m)
    if model.input_type == model_pb2.INPUT_TYPE_UNSPECIFIED:
        problems.add("model.input_type", "required (e.g. INPUT_CLASSICAL_112_PLANE)")
    for name in ("value_embedding_size", "moves_left_embedding_size", "value_hidden_size", "moves_left_hidden_size",
                 "policy_embedding_size", "policy_d_model"):
        problems.non_negative(f"model.{name}", getattr(model, name))
    model.value_embedding_size = model.value_embedding_size or _DEFAULT_VALUE_CHANNELS
    model.moves_left_embedding_size = model.moves_left_embedding_size or _DEFAULT_MOVES_LEFT_CHANNELS
    if model.body == model_pb2.BODY_RESNET:
        if model.default_activation == model_pb2.ACTIVATION_DEFAULT:
            model.default_activation = model_pb2.RELU  # the legacy trainer's default
        if model.dropout_rate:
            problems.add("model.dropout_rate", "requires body BODY_TRANSFORMER (the legacy trainer applied it to attention encoder layers)")
        for name in _TRANSFORMER_ONLY:
            if model.HasField(name) if name == "arc_encoding" else getattr(model, name):
                problems.add(f"model.{name}", "requires body BODY_TRANSFORMER")
        _check_dims(ResNetDims.from_config, model, problems)
        return model
    for name in ("embedding_size", "encoder_layers", "encoder_heads", "encoder_dff"):
        problems.positive(f"model.{name}", getattr(model, name))
    for name, allowed, built in _TRANSFORMER_HEADS:
        if getattr(model, name) not in allowed:
            problems.add(f"model.{name}", f"the transformer body has {built} only")
    for name in ("embedding_dense_sz", "embedding_dff", "encoder_d_model"):
        problems.non_negative(f"model.{name}", getattr(model, name))
    if model.default_activation == model_pb2.ACTIVATION_DEFAULT:
        model.default_activation = model_pb2.MISH
    for name in ("ffn_activation", "smolgen_activation"):
        if getattr(model, name) == model_pb2.ACTIVATION_DEFAULT:
            setattr(model, name, model.default_activation)
    model.embedding_dff = model.embedding_dff or model.encoder_dff
    model.encoder_d_model = model.encoder_d_model or model.embedding_size
    model.policy_embedding_size = model.policy_embedding_size or model.embedding_size
    model.policy_d_model = model.policy_d_model or model.embedding_size
    if model.encoder_heads > 0 and model.encoder_d_model % model.encoder_heads:
        problems.add("model.encoder_heads", f"{model.encoder_heads} must divide encoder_d_model {model.encoder_d_model}")
    if model.use_smolgen:
        for name in ("smolgen_hidden_channels", "smolgen_hidden_sz", "smolgen_gen_sz"):
            problems.positive(f"model.{name}", getattr(model, name), "required when model.use_smolgen is set")
    if not problems:
        _check_dims(NetDims.from_config, model, problems)
    return model


# Attention-body options that mean nothing to a residual body.
_TRANSFORMER_ONLY = ("embedding_style", "arc_encoding", "encoder_rms_norm", "skip_first_ln", "omit_qkv_biases", "omit_other_biases")
# The heads BTNet builds: (field, accepted values, what it has).
_TRANSFORMER_HEADS = (
    ("policy", (model_pb2.POLICY_DEFAULT, model_pb2.POLICY_ATTENTION), "an attention policy head"),
    ("value", (model_pb2.VALUE_DEFAULT, model_pb2.VALUE_WDL, model_pb2.VALUE_CLASSICAL), "a WDL or classical value head"),
    ("moves_left", (model_pb2.MOVES_LEFT_DEFAULT, model_pb2.MOVES_LEFT_V1, model_pb2.MOVES_LEFT_NONE), "a v1 moves-left head or none"),
)


def _check_dims(from_config: Callable[[model_pb2.ModelConfig], object], model: model_pb2.ModelConfig, problems: Problems) -> None:
    """The model's own dimension checks; their ValueErrors start with the field path."""
    try:
        from_config(model)
    except ValueError as err:
        path, _, reason = str(err).partition(" ")
        problems.add(path if path.startswith("model.") else "model", reason if path.startswith("model.") else str(err))


def _head_layout(model: model_pb2.ModelConfig, problems: Problems) -> HeadLayout:
    """The model's auxiliary heads; a bad multi-head field is reported and no heads assumed."""
    try:
        return HeadLayout.from_config(model)
    except ValueError as err:
        path, _, reason = str(err).partition(" ")
        problems.add(path, reason)
        return HeadLayout()


def _has_moves_left_head(model: model_pb2.ModelConfig) -> bool:
    return model.moves_left != model_pb2.MOVES_LEFT_NONE


def _check_data(d: data_pb2.DataConfig, problems: Problems) -> None:
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
