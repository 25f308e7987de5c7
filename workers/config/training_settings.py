"""Resolution of the optimisation part of `training`: optimizer, LR schedule, precision, SWA.

Each `resolve_*` function reads the proto, records problems with their field paths and
returns a frozen settings object with every legacy default made explicit.
"""

from __future__ import annotations

import dataclasses

from lc0train import training_pb2
from workers.config.problems import Problems, optional

_DEFAULT_STATIC_LOSS_SCALE = 128.0
_WEIGHT_DECAY_OPTIMIZERS = (training_pb2.ADAMW, training_pb2.NADAMW, training_pb2.ADABELIEF)
_BETA_OPTIMIZERS = (training_pb2.ADAM, training_pb2.NADAM, training_pb2.ADAMW, training_pb2.NADAMW, training_pb2.ADABELIEF)


@dataclasses.dataclass(frozen=True)
class OptimizerSettings:
    kind: int
    momentum: float
    beta_1: float
    beta_2: float
    epsilon: float
    weight_decay: float
    weight_decay_unscaled: bool
    max_grad_norm: float
    lookahead: bool


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """`kind` is "legacy" (values/boundaries), "constant", "cosine" or "linear"."""

    kind: str
    warmup_steps: int
    total_steps: int
    lr_values: tuple[float, ...] = ()
    lr_boundaries: tuple[int, ...] = ()
    peak_lr: float = 0.0
    final_lr: float = 0.0
    decay_steps: int = 0


@dataclasses.dataclass(frozen=True)
class PrecisionSettings:
    """Compute dtype name and loss scaling (scale 1 and not dynamic unless FP16)."""

    compute_dtype: str
    loss_scale: float
    dynamic_loss_scale: bool


@dataclasses.dataclass(frozen=True)
class SwaSettings:
    steps: int
    max_n: int


def resolve_optimizer(t: training_pb2.TrainingConfig, problems: Problems) -> OptimizerSettings:
    kind = t.optimizer
    if kind == training_pb2.OPTIMIZER_UNSPECIFIED:
        problems.add("training.optimizer", "required: one of SGD, ADAM, NADAM, ADAMW, NADAMW, RMSPROP, ADABELIEF")
    if t.weight_decay and kind not in _WEIGHT_DECAY_OPTIMIZERS:
        problems.add("training.weight_decay", "requires optimizer ADAMW, NADAMW or ADABELIEF (decoupled weight decay)")
    if t.weight_decay_unscaled and not t.weight_decay:
        problems.add("training.weight_decay_unscaled", "requires training.weight_decay > 0")
    if kind != training_pb2.SGD and t.HasField("momentum"):
        problems.add("training.momentum", "requires optimizer SGD")
    if kind != training_pb2.SGD and t.new_optimizer:
        problems.add("training.new_optimizer", "requires optimizer SGD")
    if kind not in _BETA_OPTIMIZERS:
        for name in ("beta_1", "beta_2"):
            if t.HasField(name):
                problems.add(f"training.{name}", "requires an Adam-family or AdaBelief optimizer")
    if kind == training_pb2.SGD and t.HasField("epsilon"):
        problems.add("training.epsilon", "does not apply to optimizer SGD")
    settings = OptimizerSettings(
        kind=kind,
        momentum=optional(t, "momentum", 0.9),
        beta_1=optional(t, "beta_1", 0.9),
        beta_2=optional(t, "beta_2", 0.999),
        epsilon=optional(t, "epsilon", 1e-7),
        weight_decay=t.weight_decay,
        weight_decay_unscaled=t.weight_decay_unscaled,
        max_grad_norm=t.max_grad_norm,
        lookahead=t.lookahead_optimizer,
    )
    for name in ("momentum", "beta_1", "beta_2"):
        problems.unit_interval(f"training.{name}", getattr(settings, name))
    problems.positive("training.epsilon", settings.epsilon)
    problems.non_negative("training.weight_decay", settings.weight_decay)
    problems.non_negative("training.max_grad_norm", settings.max_grad_norm)
    return settings


def resolve_schedule(t: training_pb2.TrainingConfig, problems: Problems) -> ScheduleSettings:
    problems.non_negative("training.warmup_steps", t.warmup_steps)
    which = t.WhichOneof("lr_schedule")
    if which is None:
        if not t.lr_values:
            problems.add("training.lr_values", "required: at least one learning rate (or one of constant_lr, cosine_decay, linear_decay)")
        elif len(t.lr_values) != len(t.lr_boundaries) + 1:
            problems.add("training.lr_values", f"needs len(lr_boundaries)+1 = {len(t.lr_boundaries) + 1} values, got {len(t.lr_values)}")
        if list(t.lr_boundaries) != sorted(t.lr_boundaries):
            problems.add("training.lr_boundaries", f"must be ascending (got {list(t.lr_boundaries)})")
        for i, value in enumerate(t.lr_values):
            problems.non_negative(f"training.lr_values[{i}]", value)
        return ScheduleSettings("legacy", t.warmup_steps, t.total_steps, tuple(t.lr_values), tuple(t.lr_boundaries))
    for name in ("lr_values", "lr_boundaries"):
        if getattr(t, name):
            problems.add(f"training.{name}", f"conflicts with training.{which}: use one schedule")
    if which == "constant_lr":
        problems.non_negative("training.constant_lr.lr", t.constant_lr.lr)
        return ScheduleSettings("constant", t.warmup_steps, t.total_steps, peak_lr=t.constant_lr.lr)
    decay = getattr(t, which)
    problems.positive(f"training.{which}.peak_lr", decay.peak_lr)
    problems.non_negative(f"training.{which}.final_lr", decay.final_lr)
    problems.non_negative(f"training.{which}.decay_steps", decay.decay_steps)
    decay_steps = decay.decay_steps or t.total_steps - t.warmup_steps
    if decay_steps <= 0:
        problems.add(f"training.{which}.decay_steps", f"warmup_steps {t.warmup_steps} leaves no steps to decay over within total_steps {t.total_steps}")
    kind = "cosine" if which == "cosine_decay" else "linear"
    return ScheduleSettings(kind, t.warmup_steps, t.total_steps, peak_lr=decay.peak_lr, final_lr=decay.final_lr, decay_steps=decay_steps)


def resolve_precision(t: training_pb2.TrainingConfig, problems: Problems) -> PrecisionSettings:
    scaling = t.WhichOneof("loss_scaling")
    if t.precision != training_pb2.FP16:
        if scaling is not None:
            problems.add(f"training.{scaling}", "requires precision FP16 (FP32 and BF16 need no loss scaling)")
        return PrecisionSettings("bfloat16" if t.precision == training_pb2.BF16 else "float32", 1.0, False)
    if scaling == "loss_scale":
        problems.positive("training.loss_scale", t.loss_scale)
    static = t.loss_scale if scaling == "loss_scale" else _DEFAULT_STATIC_LOSS_SCALE
    return PrecisionSettings("float16", static, bool(t.dynamic_loss_scale))


def resolve_swa(t: training_pb2.TrainingConfig, problems: Problems, warnings: list[str]) -> SwaSettings | None:
    if not t.swa:
        for name in ("swa_steps", "swa_max_n"):
            if getattr(t, name):
                problems.add(f"training.{name}", "requires training.swa")
        return None
    problems.positive("training.swa_steps", t.swa_steps, "required when training.swa is set (updates between SWA snapshots)")
    problems.non_negative("training.swa_max_n", t.swa_max_n)
    if t.swa_max_n == 0:
        warnings.append("training.swa_max_n: 0 (the legacy default) caps the averaging count at 0, so the SWA weights "
                        "are only the latest snapshot; set e.g. 10 for a running average")
    return SwaSettings(t.swa_steps, t.swa_max_n)


def resolve_batch_splits(t: training_pb2.TrainingConfig, problems: Problems) -> int:
    problems.non_negative("training.num_batch_splits", t.num_batch_splits)
    splits = t.num_batch_splits or 1
    if splits > 0 and t.batch_size > 0 and t.batch_size % splits:
        problems.add("training.num_batch_splits", f"{splits} must divide training.batch_size {t.batch_size}")
    return splits
