"""Job configuration: textproto loading, `--set` overrides, validation and resolution.

The `JobSpec` proto is the schema. This module turns a spec into a frozen `ResolvedJob`
with every default filled in, or raises `ConfigError` listing each offending field path,
the value and the rule. The input message is never mutated.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence, TypeVar

from google.protobuf import descriptor, text_format
from google.protobuf.message import Message

from lc0train import data_pb2, job_pb2, model_pb2, training_pb2

Spec = job_pb2.JobSpec
_M = TypeVar("_M", bound=Message)

_DEFAULT_MAX_TO_KEEP = 50
_DEFAULT_SHUFFLE_SIZE = 65_536
_DEFAULT_PREFETCH = 2
_DEFAULT_VALUE_CHANNELS = 32
_DEFAULT_MOVES_LEFT_CHANNELS = 8
_ADAM_FAMILY = (training_pb2.ADAM, training_pb2.NADAM, training_pb2.ADAMW, training_pb2.NADAMW)
_DECOUPLED_DECAY = (training_pb2.ADAMW, training_pb2.NADAMW)


class ConfigError(ValueError):
    """One or more invalid fields; `problems` holds (field path, reason) pairs."""

    def __init__(self, problems: Sequence[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(f"{path}: {reason}" for path, reason in self.problems))


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Parses a JobSpec textproto and applies `field.path=value` overrides."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError([("<file>", f"cannot read config: {err.strerror}")], str(path)) from err
    spec = Spec()
    try:
        text_format.Parse(text, spec)
    except text_format.ParseError as err:
        # ParseError's message starts with "line:column : "; name the file in front of it.
        raise ConfigError([(f"line {err.GetLine()}", str(err).split(" : ", 1)[-1])], str(path)) from err
    for override in overrides:
        apply_override(spec, override)
    return spec


def apply_override(spec: Spec, override: str) -> None:
    """Sets one `a.b.c=value` field; repeated fields take `[v1, v2]` or a single value."""
    field_path, sep, value = override.partition("=")
    if not sep or not field_path:
        raise ConfigError([(override, "expected field.path=value")], "--set")
    message: Message = spec
    names = field_path.split(".")
    for i, name in enumerate(names):
        field = message.DESCRIPTOR.fields_by_name.get(name)
        walked = ".".join(names[: i + 1])
        if field is None:
            known = ", ".join(sorted(message.DESCRIPTOR.fields_by_name))
            raise ConfigError([(walked, f"no such field (known: {known})")], "--set")
        if i < len(names) - 1:
            if field.type != descriptor.FieldDescriptor.TYPE_MESSAGE or _is_repeated(field):
                raise ConfigError([(walked, "is not a message field")], "--set")
            message = getattr(message, name)
    if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
        raise ConfigError([(field_path, "is a message; set one of its fields")], "--set")
    literal = value.strip()
    if field.type == descriptor.FieldDescriptor.TYPE_STRING:
        items = [v.strip() for v in literal.strip("[]").split(",")] if _is_repeated(field) else [literal]
        literal = "[" + ", ".join(_quote(v) for v in items if v) + "]" if _is_repeated(field) else _quote(literal)
    if _is_repeated(field):
        message.ClearField(field.name)
        if not literal.startswith("["):
            literal = f"[{literal}]"
    try:
        text_format.Merge(f"{field.name}: {literal}", message)
    except text_format.ParseError as err:
        raise ConfigError([(field_path, f"bad value {value!r}: {str(err).split(' : ', 1)[-1]}")], "--set") from err


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    return field.label == descriptor.FieldDescriptor.LABEL_REPEATED


def _quote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    kind: int
    momentum: float
    beta_1: float
    beta_2: float
    epsilon: float
    weight_decay: float
    max_grad_norm: float


@dataclasses.dataclass(frozen=True)
class LossWeights:
    policy: float
    value: float
    moves_left: float


@dataclasses.dataclass(frozen=True)
class ResolvedJob:
    """A validated job with every default made explicit; derived from, never written to, the spec."""

    spec: Spec
    model: model_pb2.ModelConfig
    seed: int
    batch_size: int
    total_steps: int
    test_steps: int
    validation_steps: int
    checkpoint_steps: int
    train_avg_report_steps: int
    num_test_positions: int
    shuffle_size: int
    prefetch_batches: int
    lr_values: tuple[float, ...]
    lr_boundaries: tuple[int, ...]
    warmup_steps: int
    optimizer: OptimizerSettings
    loss_weights: LossWeights
    max_to_keep: int
    hosts: int
    devices_per_host: int


def resolve(spec: Spec, source: str | None = None) -> ResolvedJob:
    """Validates `spec` and returns its resolved form, or raises ConfigError naming every bad field."""
    problems: list[tuple[str, str]] = []
    model = _resolve_model(spec.model, problems)
    t = spec.training
    _positive(problems, "training.batch_size", t.batch_size)
    _positive(problems, "training.total_steps", t.total_steps)
    _positive(problems, "training.test_steps", t.test_steps)
    _positive(problems, "training.train_avg_report_steps", t.train_avg_report_steps)
    _non_negative(problems, "training.checkpoint_steps", t.checkpoint_steps)
    _non_negative(problems, "training.num_test_positions", t.num_test_positions)
    _non_negative(problems, "training.shuffle_size", t.shuffle_size)
    _non_negative(problems, "training.warmup_steps", t.warmup_steps)
    d = spec.dataset
    if d.input_validation:
        _positive(problems, "training.validation_steps", t.validation_steps, "required when dataset.input_validation is set")
    elif t.validation_steps:
        problems.append(("training.validation_steps", "requires dataset.input_validation"))
    _check_data(d, problems)
    _check_schedule(t, problems)
    optimizer = _resolve_optimizer(t, problems)
    max_to_keep = t.max_to_keep if t.HasField("max_to_keep") else _DEFAULT_MAX_TO_KEEP
    _positive(problems, "training.max_to_keep", max_to_keep)
    prefetch = d.prefetch_batches if d.HasField("prefetch_batches") else _DEFAULT_PREFETCH
    _positive(problems, "dataset.prefetch_batches", prefetch)
    r = spec.resources
    _non_negative(problems, "resources.hosts", r.hosts)
    _non_negative(problems, "resources.devices_per_host", r.devices_per_host)
    weights = LossWeights(
        policy=_optional(t, "policy_loss_weight", 1.0),
        value=_optional(t, "value_loss_weight", 1.0),
        moves_left=_optional(t, "moves_left_loss_weight", 1.0),
    )
    for name in ("policy", "value", "moves_left"):
        _non_negative(problems, f"training.{name}_loss_weight", getattr(weights, name))
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
        lr_values=tuple(t.lr_values),
        lr_boundaries=tuple(t.lr_boundaries),
        warmup_steps=t.warmup_steps,
        optimizer=optimizer,
        loss_weights=weights,
        max_to_keep=max_to_keep,
        hosts=r.hosts or 1,
        devices_per_host=r.devices_per_host,
    )


def check_devices(job: ResolvedJob, device_count: int, process_count: int) -> None:
    """Device-dependent rules, checked once the JAX runtime (and its processes) are up."""
    problems = []
    if job.batch_size % device_count:
        problems.append(("training.batch_size", f"{job.batch_size} is not divisible by the {device_count} devices of the mesh"))
    if job.hosts != process_count:
        problems.append(("resources.hosts", f"is {job.hosts} but {process_count} JAX processes are running"))
    if problems:
        raise ConfigError(problems)


def _resolve_model(m: model_pb2.ModelConfig, problems: list[tuple[str, str]]) -> model_pb2.ModelConfig:
    model = _copy(m)
    if model.input_type == model_pb2.INPUT_TYPE_UNSPECIFIED:
        problems.append(("model.input_type", "required (e.g. INPUT_CLASSICAL_112_PLANE)"))
    for name in ("embedding_size", "encoder_layers", "encoder_heads", "encoder_dff"):
        _positive(problems, f"model.{name}", getattr(model, name))
    for name in ("embedding_dense_sz", "embedding_dff", "encoder_d_model", "policy_embedding_size", "policy_d_model",
                 "value_embedding_size", "moves_left_embedding_size"):
        _non_negative(problems, f"model.{name}", getattr(model, name))
    if model.default_activation == model_pb2.ACTIVATION_DEFAULT:
        model.default_activation = model_pb2.MISH
    for name in ("ffn_activation", "smolgen_activation"):
        if getattr(model, name) == model_pb2.ACTIVATION_DEFAULT:
            setattr(model, name, model.default_activation)
    model.embedding_dff = model.embedding_dff or model.encoder_dff
    model.encoder_d_model = model.encoder_d_model or model.embedding_size
    model.policy_embedding_size = model.policy_embedding_size or model.embedding_size
    model.policy_d_model = model.policy_d_model or model.embedding_size
    model.value_embedding_size = model.value_embedding_size or _DEFAULT_VALUE_CHANNELS
    model.moves_left_embedding_size = model.moves_left_embedding_size or _DEFAULT_MOVES_LEFT_CHANNELS
    if model.encoder_heads > 0 and model.encoder_d_model % model.encoder_heads:
        problems.append(("model.encoder_heads", f"{model.encoder_heads} must divide encoder_d_model {model.encoder_d_model}"))
    if model.use_smolgen:
        for name in ("smolgen_hidden_channels", "smolgen_hidden_sz", "smolgen_gen_sz"):
            _positive(problems, f"model.{name}", getattr(model, name), "required when model.use_smolgen is set")
    return model


def _check_data(d: data_pb2.DataConfig, problems: list[tuple[str, str]]) -> None:
    if d.input:
        if d.input_train or d.input_test:
            problems.append(("dataset.input", "use either dataset.input with train_ratio or input_train/input_test, not both"))
        if not 0.0 < d.train_ratio < 1.0:
            problems.append(("dataset.train_ratio", f"must be in (0, 1) when dataset.input is set (got {d.train_ratio})"))
        return
    if not d.input_train:
        problems.append(("dataset.input_train", "required (or dataset.input with dataset.train_ratio)"))
    if not d.input_test:
        problems.append(("dataset.input_test", "required: the test cadence needs a test set (or use dataset.input with train_ratio)"))
    if d.train_ratio:
        problems.append(("dataset.train_ratio", "only applies to dataset.input"))


def _check_schedule(t: training_pb2.TrainingConfig, problems: list[tuple[str, str]]) -> None:
    if not t.lr_values:
        problems.append(("training.lr_values", "required: at least one learning rate"))
    elif len(t.lr_values) != len(t.lr_boundaries) + 1:
        problems.append(("training.lr_values", f"needs len(lr_boundaries)+1 = {len(t.lr_boundaries) + 1} values, got {len(t.lr_values)}"))
    if list(t.lr_boundaries) != sorted(t.lr_boundaries):
        problems.append(("training.lr_boundaries", f"must be ascending (got {list(t.lr_boundaries)})"))
    for i, value in enumerate(t.lr_values):
        if value < 0:
            problems.append((f"training.lr_values[{i}]", f"must be >= 0 (got {value})"))


def _resolve_optimizer(t: training_pb2.TrainingConfig, problems: list[tuple[str, str]]) -> OptimizerSettings:
    if t.optimizer == training_pb2.OPTIMIZER_UNSPECIFIED:
        problems.append(("training.optimizer", "required: one of SGD, ADAM, NADAM, ADAMW, NADAMW"))
    if t.weight_decay and t.optimizer not in _DECOUPLED_DECAY:
        problems.append(("training.weight_decay", "requires optimizer ADAMW or NADAMW (decoupled weight decay)"))
    if t.optimizer != training_pb2.SGD and t.HasField("momentum"):
        problems.append(("training.momentum", "requires optimizer SGD"))
    if t.optimizer not in _ADAM_FAMILY:
        for name in ("beta_1", "beta_2", "epsilon"):
            if t.HasField(name):
                problems.append((f"training.{name}", "requires an Adam-family optimizer"))
    settings = OptimizerSettings(
        kind=t.optimizer,
        momentum=_optional(t, "momentum", 0.9),
        beta_1=_optional(t, "beta_1", 0.9),
        beta_2=_optional(t, "beta_2", 0.999),
        epsilon=_optional(t, "epsilon", 1e-7),
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
    )
    for name in ("momentum", "beta_1", "beta_2"):
        if not 0.0 <= getattr(settings, name) < 1.0:
            problems.append((f"training.{name}", f"must be in [0, 1) (got {getattr(settings, name)})"))
    _positive(problems, "training.epsilon", settings.epsilon)
    _non_negative(problems, "training.weight_decay", settings.weight_decay)
    _non_negative(problems, "training.max_grad_norm", settings.max_grad_norm)
    return settings


def _optional(message: Message, name: str, default: float) -> float:
    return getattr(message, name) if message.HasField(name) else default


def _positive(problems: list[tuple[str, str]], path: str, value: float, rule: str = "") -> None:
    if value <= 0:
        problems.append((path, rule or f"must be > 0 (got {value})"))


def _non_negative(problems: list[tuple[str, str]], path: str, value: float) -> None:
    if value < 0:
        problems.append((path, f"must be >= 0 (got {value})"))


def _copy(message: _M) -> _M:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
