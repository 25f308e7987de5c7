"""Import of legacy lczero-training YAML configs (fae46e6 and tf-214 lineages) as a JobSpec.

One table, `RULES`, maps each legacy `section.key` to the proto field it lands in and the value
conversion. Keys without a home in our protos are listed in `UNSUPPORTED` (always an error),
`DEFAULT_ONLY` (accepted only with the value that is our behaviour, so nothing is lost) or
`NOOP` (legacy no-ops, accepted with a warning). Every problem of a file is collected and
raised as one `ConfigError` naming each YAML path.

Lineage: a `training.loss_weights` dict marks a tf-214 config. It then also gets the tf-214
semantics that have no key of their own: the KL policy loss, q taken from the root
(`value_q_source: ROOT`), always-dynamic FP16 loss scaling and the PE_DENSE embedding width
(`embedding_dense_sz`, default 128).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable

import yaml
from google.protobuf import text_format
from google.protobuf.message import Message

from lc0train import job_pb2, model_pb2, training_pb2
from workers.config import ConfigError
from workers.lc0net.architecture import network_format


class _Bad(Exception):
    """A value the rule cannot convert; the message is the reason."""


# ---- value conversions -------------------------------------------------------------------

def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise _Bad(f"expected an integer, got {v!r}")
    return int(v)


def _float(v: Any) -> float:
    # PyYAML reads `1e-7` (no dot) as a string; the legacy trainer passed such values on as
    # numbers in practice, so numeric strings are accepted.
    if isinstance(v, bool):
        raise _Bad(f"expected a number, got {v!r}")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise _Bad(f"expected a number, got {v!r}") from None
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _Bad(f"expected a finite number, got {v!r}")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {v!r}")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise _Bad(f"expected a string, got {v!r}")
    return v


def _paths(v: Any) -> list[str]:
    items = v if isinstance(v, list) else [v]
    return [_str(item) for item in items]


def _list(conv: Callable[[Any], Any]) -> Callable[[Any], list]:
    def convert(v: Any) -> list:
        if not isinstance(v, list):
            raise _Bad(f"expected a list, got {v!r}")
        return [conv(item) for item in v]
    return convert


def _choice(options: dict[str, int]) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if not isinstance(v, str) or v not in options:
            raise _Bad(f"unknown value {v!r} (expected one of {', '.join(options)})")
        return options[v]
    return convert


INPUT_TYPES = {
    "classic": model_pb2.INPUT_CLASSICAL_112_PLANE,
    "frc_castling": model_pb2.INPUT_112_WITH_CASTLING_PLANE,
    "canonical": model_pb2.INPUT_112_WITH_CANONICALIZATION,
    "canonical_100": model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES,
    "canonical_armageddon": model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES_ARMAGEDDON,
    "canonical_v2": model_pb2.INPUT_112_WITH_CANONICALIZATION_V2,
    "canonical_v2_armageddon": model_pb2.INPUT_112_WITH_CANONICALIZATION_V2_ARMAGEDDON,
}
ACTIVATIONS = {"relu": model_pb2.RELU, "mish": model_pb2.MISH, "tanh": model_pb2.TANH, "sigmoid": model_pb2.SIGMOID,
               "selu": model_pb2.SELU, "swish": model_pb2.SWISH, "relu_2": model_pb2.RELU_2, "none": model_pb2.NONE}
POLICIES = {"convolution": model_pb2.POLICY_CONVOLUTION, "classical": model_pb2.POLICY_CLASSICAL, "attention": model_pb2.POLICY_ATTENTION}
VALUES = {"wdl": model_pb2.VALUE_WDL, "classical": model_pb2.VALUE_CLASSICAL}
MOVES_LEFT = {"v1": model_pb2.MOVES_LEFT_V1, "none": model_pb2.MOVES_LEFT_NONE}
# tf-214 `embedding_style`: 'new' is PE_DENSE (our default), 'old' the PE_MAP embedding.
EMBEDDING_STYLES = {"new": model_pb2.EMBEDDING_STYLE_DEFAULT, "old": model_pb2.EMBEDDING_MAP}
# fae46e6 defaults of an attention body that our ModelConfig does not share.
_FAE46E6_ENCODER_HEADS = 2
_SMOLGEN_DEFAULTS = {"smolgen_hidden_channels": 16, "smolgen_hidden_sz": 128, "smolgen_gen_sz": 128}
# `adam` is listed in the tf-214 yaml comment but raises ValueError there, so it is refused.
OPTIMIZERS = {"sgd": training_pb2.SGD, "rmsprop": training_pb2.RMSPROP, "nadam": training_pb2.NADAM, "adabelief": training_pb2.ADABELIEF}
PRECISIONS = {"single": training_pb2.FP32, "half": training_pb2.FP16}
LOSS_WEIGHT_NAMES = tuple(f.name for f in training_pb2.LossWeights.DESCRIPTOR.fields)


# ---- the table ----------------------------------------------------------------------------

# legacy `section.key` → (proto field path, value conversion). Repeated fields are extended.
RULES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "name": ("name", _str),
    "dataset.input": ("dataset.input", _paths),
    "dataset.input_train": ("dataset.input_train", _paths),
    "dataset.input_test": ("dataset.input_test", _paths),
    "dataset.input_validation": ("dataset.input_validation", _paths),
    "dataset.train_ratio": ("dataset.train_ratio", _float),
    "training.batch_size": ("training.batch_size", _int),
    "training.num_batch_splits": ("training.num_batch_splits", _int),
    "training.total_steps": ("training.total_steps", _int),
    "training.test_steps": ("training.test_steps", _int),
    "training.validation_steps": ("training.validation_steps", _int),
    "training.checkpoint_steps": ("training.checkpoint_steps", _int),
    "training.train_avg_report_steps": ("training.train_avg_report_steps", _int),
    "training.num_test_positions": ("training.num_test_positions", _int),
    "training.shuffle_size": ("training.shuffle_size", _int),
    "training.lr_values": ("training.lr_values", _list(_float)),
    "training.lr_boundaries": ("training.lr_boundaries", _list(_int)),
    "training.warmup_steps": ("training.warmup_steps", _int),
    "training.optimizer": ("training.optimizer", _choice(OPTIMIZERS)),
    "training.beta_1": ("training.beta_1", _float),
    "training.beta_2": ("training.beta_2", _float),
    "training.epsilon": ("training.epsilon", _float),
    "training.weight_decay": ("training.weight_decay", _float),
    "training.max_grad_norm": ("training.max_grad_norm", _float),
    "training.policy_loss_weight": ("training.policy_loss_weight", _float),
    "training.value_loss_weight": ("training.value_loss_weight", _float),
    "training.moves_left_loss_weight": ("training.moves_left_loss_weight", _float),
    "training.reg_term_weight": ("training.reg_term_weight", _float),
    "training.q_ratio": ("training.q_ratio", _float),
    "training.mask_legal_moves": ("training.mask_legal_moves", _bool),
    "training.precision": ("training.precision", _choice(PRECISIONS)),
    "training.swa": ("training.swa", _bool),
    "training.swa_steps": ("training.swa_steps", _int),
    "training.swa_max_n": ("training.swa_max_n", _int),
    "training.new_optimizer": ("training.new_optimizer", _bool),
    "training.lookahead_optimizer": ("training.lookahead_optimizer", _bool),
    # Batch renorm is a `training:` key in the legacy yaml and a model property here.
    "training.renorm": ("model.renorm", _bool),
    "training.renorm_max_r": ("model.renorm_max_r", _float),
    "training.renorm_max_d": ("model.renorm_max_d", _float),
    "training.renorm_momentum": ("model.renorm_momentum", _float),
    "model.input_type": ("model.input_type", _choice(INPUT_TYPES)),
    "model.filters": ("model.filters", _int),
    "model.residual_blocks": ("model.residual_blocks", _int),
    "model.se_ratio": ("model.se_ratio", _int),
    "model.policy": ("model.policy", _choice(POLICIES)),
    "model.value": ("model.value", _choice(VALUES)),
    "model.moves_left": ("model.moves_left", _choice(MOVES_LEFT)),
    "model.policy_channels": ("model.policy_channels", _int),
    "model.default_activation": ("model.default_activation", _choice({"relu": model_pb2.RELU, "mish": model_pb2.MISH})),
    "model.ffn_activation": ("model.ffn_activation", _choice(ACTIVATIONS)),
    "model.embedding_size": ("model.embedding_size", _int),
    "model.embedding_dense_sz": ("model.embedding_dense_sz", _int),
    "model.encoder_layers": ("model.encoder_layers", _int),
    "model.encoder_heads": ("model.encoder_heads", _int),
    "model.encoder_d_model": ("model.encoder_d_model", _int),
    "model.encoder_dff": ("model.encoder_dff", _int),
    "model.dropout_rate": ("model.dropout_rate", _float),
    "model.embedding_style": ("model.embedding_style", _choice(EMBEDDING_STYLES)),
    "model.encoder_rms_norm": ("model.encoder_rms_norm", _bool),
    "model.skip_first_ln": ("model.skip_first_ln", _bool),
    "model.omit_qkv_biases": ("model.omit_qkv_biases", _bool),
    "model.omit_other_biases": ("model.omit_other_biases", _bool),
    "model.pol_embedding_size": ("model.policy_embedding_size", _int),
    "model.policy_embedding_size": ("model.policy_embedding_size", _int),
    "model.policy_d_model": ("model.policy_d_model", _int),
    "model.value_embedding_size": ("model.value_embedding_size", _int),
    "model.moves_left_embedding_size": ("model.moves_left_embedding_size", _int),
    "model.pol_encoder_layers": ("model.pol_encoder_layers", _int),
    "model.pol_encoder_heads": ("model.pol_encoder_heads", _int),
    "model.pol_encoder_d_model": ("model.pol_encoder_d_model", _int),
    "model.pol_encoder_dff": ("model.pol_encoder_dff", _int),
    "model.use_smolgen": ("model.use_smolgen", _bool),
    "model.smolgen_hidden_channels": ("model.smolgen_hidden_channels", _int),
    "model.smolgen_hidden_sz": ("model.smolgen_hidden_sz", _int),
    "model.smolgen_gen_sz": ("model.smolgen_gen_sz", _int),
    "model.smolgen_activation": ("model.smolgen_activation", _choice(ACTIVATIONS)),
}
# Handled by code below rather than by a plain field assignment.
SPECIAL = ("training.loss_weights", "training.loss_scale", "model.square_relu_ffn", "model.virtual_batch_size",
           "model.arc_encoding", "model.soft_policy", "model.soft_policy_temperature", "model.categorical_value_buckets")

UNSUPPORTED: dict[str, str] = {
    "gpu": "no equivalent in lc0-train (devices come from resources.devices_per_host and the JAX runtime; "
           "restrict GPUs with CUDA_VISIBLE_DEVICES)",
    "dataset.num_chunks": "no equivalent in lc0-train (every chunk the input paths match is used; select the "
                          "window with the paths or globs)",
    "dataset.allow_less_chunks": "no equivalent in lc0-train (there is no chunk count to fall short of)",
    "training.path": "no equivalent in lc0-train (the job directory is `lc0-train run --out` or the service's)",
    "training.profile_step_freq": "no equivalent in lc0-train (no profiler keys)",
    "training.profile_step_offset": "no equivalent in lc0-train (no profiler keys)",
    "training.profile_step_count": "no equivalent in lc0-train (no profiler keys)",
    "model.policy_d_aux": "no equivalent in lc0-train (auxiliary policy heads use policy_d_model)",
}
# Accepted only with the value that is lc0-train's behaviour; any other value is an error.
DEFAULT_ONLY: dict[str, tuple[Any, str]] = {
    "training.sparse": (False, "2:4 sparsity is not implemented"),
    "training.diff_focus_min": (1, "diff-focus sampling is not implemented (1 keeps every position)"),
    "training.diff_focus_slope": (0, "diff-focus sampling is not implemented (0 keeps every position)"),
    "training.diff_focus_q_weight": (6.0, "diff-focus sampling is not implemented"),
    "training.diff_focus_pol_scale": (3.5, "diff-focus sampling is not implemented"),
}
# Legacy no-ops or reporting-only keys: accepted with a warning.
NOOP: dict[str, str] = {
    "training.swa_output": "ignored: with export on, lc0-train writes both the regular and the SWA net (<step>.pb.gz and <step>-swa.pb.gz)",
    "training.accuracy_thresholds": "ignored: reporting only (P@x% metrics are not logged)",
    "model.input_gate": "ignored: fae46e6 reads it but never uses it (attention bodies are always gated)",
}

_SECTIONS = ("dataset", "training", "model")
_TOP_LEVEL = ("name", "gpu")


def known_keys() -> set[str]:
    """Every legacy key path the converter knows (mapped, special, rejected or no-op)."""
    return set(RULES) | set(SPECIAL) | set(UNSUPPORTED) | set(DEFAULT_ONLY) | set(NOOP)


def convert_legacy_yaml(text: str, source: str, warnings: list[str] | None = None) -> job_pb2.JobSpec:
    """Converts a legacy YAML config to a JobSpec; raises ConfigError naming every key it cannot map.

    Warnings (accepted legacy no-ops) are appended to `warnings` when given."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError([("<yaml>", str(err).replace("\n", " "))], source) from err
    if not isinstance(doc, dict):
        raise ConfigError([("<yaml>", "expected a mapping at the top level")], source)
    problems: list[tuple[str, str]] = []
    notes: list[str] = []
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, dict):
                problems.append((str(key), f"expected a mapping, got {value!r}"))
                continue
            values.update({f"{key}.{sub}": v for sub, v in value.items()})
        else:
            values[str(key)] = value

    spec = job_pb2.JobSpec()
    tf214 = "training.loss_weights" in values
    known = known_keys()
    for path, value in values.items():
        try:
            if path not in known:
                raise _Bad("unknown legacy key (not in the fae46e6 or tf-214 trainer)")
            if path in UNSUPPORTED:
                raise _Bad(UNSUPPORTED[path])
            if path in DEFAULT_ONLY:
                default, reason = DEFAULT_ONLY[path]
                if value != default or type(value) is bool and type(default) is not bool:
                    raise _Bad(f"only {default!r} converts: {reason}")
                continue
            if path in NOOP:
                notes.append(f"{path}: {NOOP[path]}")
                continue
            if path in RULES:
                field, conv = RULES[path]
                if value is None:
                    continue  # a YAML `key:` with no value means the legacy default
                _set(spec, field, conv(value))
                continue
            _special(spec, path, value, values, tf214, notes)
        except _Bad as bad:
            problems.append((path, str(bad)))

    _lineage(spec, values, tf214, problems, notes)
    if problems:
        raise ConfigError(problems, source)
    if warnings is not None:
        warnings.extend(notes)
    return spec


def _special(spec: job_pb2.JobSpec, path: str, value: Any, values: dict[str, Any], tf214: bool, notes: list[str]) -> None:
    t, m = spec.training, spec.model
    if path == "training.loss_weights":
        if not isinstance(value, dict):
            raise _Bad(f"expected a mapping of loss names to weights, got {value!r}")
        unknown = [str(k) for k in value if k not in LOSS_WEIGHT_NAMES]
        if unknown:
            raise _Bad(f"unknown loss name(s) {', '.join(unknown)} (expected {', '.join(LOSS_WEIGHT_NAMES)})")
        for name, weight in value.items():
            setattr(t.loss_weights, name, _float(weight))
        t.loss_weights.SetInParent()
    elif path == "training.loss_scale":
        if values.get("training.precision") != "half":
            notes.append("training.loss_scale: ignored: only used with precision 'half'")
        elif tf214:
            if value != "dynamic":
                _float(value)
            t.dynamic_loss_scale = True
            if value != "dynamic":
                notes.append("training.loss_scale: tf-214 always scales dynamically from 2^15; the value only switched it on")
        elif value == "dynamic":
            t.dynamic_loss_scale = True
        else:
            t.loss_scale = _float(value)
    elif path == "model.square_relu_ffn":
        if _bool(value):
            if "model.ffn_activation" in values:
                raise _Bad("conflicts with model.ffn_activation")
            m.ffn_activation = model_pb2.RELU_2
    elif path == "model.virtual_batch_size":
        if value is not None:
            m.virtual_batch_size = _int(value)
    elif path == "model.soft_policy":
        if _bool(value):
            _add_heads(m, policy=[model_pb2.POLICY_HEAD_SOFT])
    elif path == "model.soft_policy_temperature":
        m.soft_policy_temperature = _float(value)
    elif path == "model.categorical_value_buckets":
        m.categorical_value_buckets = _int(value)
    elif path == "model.arc_encoding":
        if _int(values.get("model.residual_blocks") or 0) > 0:
            notes.append("model.arc_encoding: ignored: it only affects attention bodies")
        elif value is not None:
            m.arc_encoding = _bool(value)
    else:  # pragma: no cover - SPECIAL and this function list the same keys
        raise AssertionError(path)


# tf-214 loss_weights terms → (auxiliary policy heads, auxiliary value heads, error outputs) they train.
_TERM_HEADS: dict[str, tuple[list[int], list[int], bool]] = {
    "policy_optimistic_st": ([model_pb2.POLICY_HEAD_OPTIMISTIC_ST], [model_pb2.VALUE_HEAD_ST], True),
    "policy_soft": ([model_pb2.POLICY_HEAD_SOFT], [], False),
    "policy_opponent": ([model_pb2.POLICY_HEAD_OPPONENT], [], False),
    "policy_next": ([model_pb2.POLICY_HEAD_NEXT], [], False),
    "value_q": ([], [model_pb2.VALUE_HEAD_Q], False),
    "value_q_err": ([], [model_pb2.VALUE_HEAD_Q], True),
    "value_q_cat": ([], [model_pb2.VALUE_HEAD_Q], False),
    "value_st": ([], [model_pb2.VALUE_HEAD_ST], False),
    "value_st_err": ([], [model_pb2.VALUE_HEAD_ST], True),
    "value_st_cat": ([], [model_pb2.VALUE_HEAD_ST], False),
}


def _add_heads(m: model_pb2.ModelConfig, policy: Sequence[int] = (), value: Sequence[int] = ()) -> None:
    m.aux_policy_heads.extend(head for head in policy if head not in m.aux_policy_heads)
    m.aux_value_heads.extend(head for head in value if head not in m.aux_value_heads)


def _tf214_heads(spec: job_pb2.JobSpec) -> None:
    """The auxiliary heads the tf-214 model built for the non-zero loss_weights terms."""
    m, w = spec.model, spec.training.loss_weights
    for term, (policy, value, error) in _TERM_HEADS.items():
        if w.HasField(term) and getattr(w, term):
            _add_heads(m, policy, value)
            m.value_error_outputs |= error


def _lineage(spec: job_pb2.JobSpec, values: dict[str, Any], tf214: bool, problems: list[tuple[str, str]], notes: list[str]) -> None:
    """Defaults and semantics the legacy trainers imply without a key."""
    t, m = spec.training, spec.model
    if "training.optimizer" not in values:
        t.optimizer = training_pb2.SGD  # fae46e6's only optimizer, tf-214's default
    if t.optimizer == training_pb2.NADAM and t.weight_decay > 0:
        # tfa's decoupled weight decay on Nadam: w -= weight_decay * w, not scaled by the LR.
        t.optimizer = training_pb2.NADAMW
        t.weight_decay_unscaled = True
    if m.residual_blocks > 0:
        m.body = model_pb2.BODY_RESNET
        if m.encoder_layers > 0:
            problems.append(("model.encoder_layers", "exactly one of residual_blocks and encoder_layers may be > 0"))
    elif m.encoder_layers > 0:
        _attention_body(m, values, tf214, problems, notes)
    if "model.input_type" not in values:
        m.input_type = model_pb2.INPUT_CLASSICAL_112_PLANE  # the legacy default `classic`
    if "model.default_activation" not in values:
        # fae46e6's default is relu; tf-214 asserted mish (its relu default could not run).
        m.default_activation = model_pb2.MISH if tf214 else model_pb2.RELU
    if tf214:
        t.policy_loss = training_pb2.KL
        t.value_q_source = training_pb2.ROOT
        if m.body == model_pb2.BODY_TRANSFORMER:
            _tf214_heads(spec)
        if m.body == model_pb2.BODY_TRANSFORMER and m.embedding_style != model_pb2.EMBEDDING_MAP and "model.embedding_dense_sz" not in values:
            m.embedding_dense_sz = 128  # tf-214's default PE_DENSE preprocessing width
    _drop_unused_head_options(m, notes)
    _enable_export(spec, notes)


def _drop_unused_head_options(m: model_pb2.ModelConfig, notes: list[str]) -> None:
    """Head options whose head no trained term builds are dropped, with a note."""
    if m.categorical_value_buckets and not m.aux_value_heads:
        notes.append("model.categorical_value_buckets: ignored: no q or st value head is trained (their loss_weights are 0)")
        m.categorical_value_buckets = 0
    if m.HasField("soft_policy_temperature") and model_pb2.POLICY_HEAD_SOFT not in m.aux_policy_heads:
        notes.append("model.soft_policy_temperature: ignored: the soft policy head is not trained")
        m.ClearField("soft_policy_temperature")


def _enable_export(spec: job_pb2.JobSpec, notes: list[str]) -> None:
    """Both legacy trainers wrote a .pb.gz net at every checkpoint: so do we, when lc0 can run the net."""
    try:
        network_format(spec.model)
    except ValueError as err:
        notes.append(f"export: stays off, the net cannot be exported to lc0: {err}")
        return
    spec.export.enabled = True


def _attention_body(m: model_pb2.ModelConfig, values: dict[str, Any], tf214: bool, problems: list[tuple[str, str]],
                    notes: list[str]) -> None:
    """Defaults and checks of an encoder body: fae46e6's is the legacy attention body (PE_MAP)."""
    if m.policy not in (model_pb2.POLICY_DEFAULT, model_pb2.POLICY_ATTENTION) or "model.policy" not in values and not tf214:
        problems.append(("model.policy", "an attention body needs policy 'attention' (the legacy trainer asserts it)"))
    m.policy = 0  # the transformer's own attention policy; value and moves_left map as for residual bodies
    if m.use_smolgen:
        for name, default in _SMOLGEN_DEFAULTS.items():
            if f"model.{name}" not in values:
                setattr(m, name, default)
        if "model.smolgen_activation" not in values:
            m.smolgen_activation = model_pb2.SWISH
    if tf214:
        if m.embedding_style == model_pb2.EMBEDDING_MAP and "model.arc_encoding" not in values:
            notes.append("model.embedding_style: 'old' converts to lc0's arc-encoded PE_MAP embedding (tf-214 left the "
                         "arc table out, which lc0 cannot play)")
        return
    m.embedding_style = model_pb2.EMBEDDING_MAP
    if "model.encoder_heads" not in values:
        m.encoder_heads = _FAE46E6_ENCODER_HEADS
    if "model.encoder_dff" not in values:
        m.encoder_dff = int(1.5 * m.embedding_size)  # fae46e6: floor(1.5·filters), filters = embedding_size


def _set(message: Message, path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        message = getattr(message, parent)
    if isinstance(value, list):
        field = getattr(message, name)
        del field[:]
        field.extend(value)
    else:
        setattr(message, name, value)


def to_textproto(spec: job_pb2.JobSpec, source: str) -> str:
    """The converted spec as a commented textproto."""
    header = (f"# Converted by `lc0-train config from-yaml` from {source}.\n"
              "# proto: lc0train.JobSpec (proto/lc0train/job.proto)\n")
    return header + text_format.MessageToString(spec)
