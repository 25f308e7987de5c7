"""Import of legacy lczero-training YAML configs (fae46e6 and tf-214 lineages) as a JobSpec.

The key table lives in `legacy_keys`. Every problem of a file is collected and raised as one
`ConfigError` naming each YAML path. A key with no effect here is never a problem but a note:
a comment line of the output textproto and a warning (`strict` makes notes problems).

Lineage: a `training.loss_weights` dict marks a tf-214 config. It then also gets the tf-214
semantics that have no key of their own: the KL policy loss, q taken from the root
(`value_q_source: ROOT`), always-dynamic FP16 loss scaling and the PE_DENSE embedding width
(`embedding_dense_sz`, default 128).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml
from google.protobuf import text_format
from google.protobuf.message import Message

from lc0train import job_pb2, model_pb2, training_pb2
from workers.config.legacy_keys import (
    BadValue, DEFAULT_ONLY, FAE46E6_ENCODER_HEADS, HEAD_FLAGS, LOSS_WEIGHT_NAMES, NOTES, RULES, SECTIONS, SMOLGEN_DEFAULTS,
    as_bool, as_float, as_int, known_keys,
)
from workers.config.host_limits import MAX_NUM_CHUNKS
from workers.config.problems import ConfigError
from workers.lc0net.architecture import network_format


# The legacy trainer's fixed down-sampling of train and test records (train.py's SKIP).
LEGACY_SAMPLE = 32
Notes = list[tuple[str, str]]  # (YAML path, reason): a comment line and a warning, errors under --strict


def convert_legacy_yaml(text: str, source: str, warnings: list[str] | None = None, *, strict: bool = False) -> job_pb2.JobSpec:
    """Converts a legacy YAML config to a JobSpec; raises ConfigError naming every key it cannot map.

    Notes (keys with no effect here, conversion choices) are appended to `warnings` as
    "path: reason" when given; with `strict` they are errors instead."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError([("<yaml>", str(err).replace("\n", " "))], source) from err
    if not isinstance(doc, dict):
        raise ConfigError([("<yaml>", "expected a mapping at the top level")], source)
    problems: list[tuple[str, str]] = []
    notes: Notes = []
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SECTIONS:
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
    spec.dataset.sample = LEGACY_SAMPLE
    for path, value in values.items():
        try:
            if path not in known:
                notes.append((path, "read by no legacy code (fae46e6 or tf-214): ignored"))
                continue
            if path in NOTES:
                notes.append((path, NOTES[path]))
                continue
            if path in DEFAULT_ONLY:
                default, reason = DEFAULT_ONLY[path]
                if value != default or type(value) is bool and type(default) is not bool:
                    raise BadValue(f"only {default!r} converts: {reason}")
                continue
            if path == "dataset.train_ratio" and "dataset.input" not in values:
                notes.append((path, "no effect here: the legacy trainer only splits dataset.input by it "
                                    "(input_train/input_test are given)"))
                continue
            if path in RULES:
                field, conv = RULES[path]
                if value is None:
                    continue  # a YAML `key:` with no value means the legacy default
                _set(spec, field, conv(value))
                continue
            _special(spec, path, value, values, tf214, notes)
        except BadValue as bad:
            problems.append((path, str(bad)))

    _lineage(spec, values, tf214, problems, notes)
    if strict:
        problems.extend((path, f"{reason} (an error under --strict)") for path, reason in notes)
    if problems:
        raise ConfigError(problems, source)
    if warnings is not None:
        warnings.extend(f"{path}: {reason}" for path, reason in notes)
    return spec


def _special(spec: job_pb2.JobSpec, path: str, value: Any, values: dict[str, Any], tf214: bool, notes: Notes) -> None:
    t, m = spec.training, spec.model
    if path == "training.loss_weights":
        if not isinstance(value, dict):
            raise BadValue(f"expected a mapping of loss names to weights, got {value!r}")
        unknown = [str(k) for k in value if k not in LOSS_WEIGHT_NAMES]
        if unknown:
            raise BadValue(f"unknown loss name(s) {', '.join(unknown)} (expected {', '.join(LOSS_WEIGHT_NAMES)})")
        for name, weight in value.items():
            setattr(t.loss_weights, name, as_float(weight))
        t.loss_weights.SetInParent()
    elif path == "training.loss_scale":
        if values.get("training.precision") != "half":
            notes.append((path, "ignored: only used with precision 'half'"))
        elif tf214:
            if value != "dynamic":
                as_float(value)
            t.dynamic_loss_scale = True
            if value != "dynamic":
                notes.append((path, "tf-214 always scales dynamically from 2^15; the value only switched it on"))
        elif value == "dynamic":
            t.dynamic_loss_scale = True
        else:
            t.loss_scale = as_float(value)
    elif path == "model.square_relu_ffn":
        if as_bool(value):
            if "model.ffn_activation" in values:
                raise BadValue("conflicts with model.ffn_activation")
            m.ffn_activation = model_pb2.RELU_2
    elif path == "model.virtual_batch_size":
        if value is not None:
            m.virtual_batch_size = as_int(value)
    elif path in HEAD_FLAGS:
        as_bool(value)  # checked against loss_weights by _head_flags
    elif path == "model.policy_d_aux":
        _policy_d_aux(as_int(value), values, notes)
    elif path == "model.soft_policy_temperature":
        m.soft_policy_temperature = as_float(value)
    elif path == "model.categorical_value_buckets":
        m.categorical_value_buckets = as_int(value)
    elif path == "dataset.num_chunks":
        spec.dataset.num_chunks = _num_chunks(as_int(value), values, notes)
    elif path == "model.arc_encoding":
        if as_int(values.get("model.residual_blocks") or 0) > 0:
            notes.append((path, "ignored: it only affects attention bodies"))
        elif value is not None:
            m.arc_encoding = as_bool(value)
    else:  # pragma: no cover - SPECIAL and this function list the same keys
        raise AssertionError(path)


def _num_chunks(count: int, values: dict[str, Any], notes: Notes) -> int:
    """The window size; above the index's host-memory limit it is capped where allow_less_chunks allows fewer."""
    if count <= MAX_NUM_CHUNKS or values.get("dataset.allow_less_chunks") is not True:
        return count  # an oversized window without allow_less_chunks is refused by the spec check, naming the memory
    notes.append(("dataset.num_chunks", f"{count} is above the window index limit of {MAX_NUM_CHUNKS} chunks; with "
                                        f"allow_less_chunks the window holds the newest {MAX_NUM_CHUNKS} (all of them where "
                                        "fewer exist, as the legacy trainer did)"))
    return MAX_NUM_CHUNKS


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


def _head_flags(spec: job_pb2.JobSpec, values: dict[str, Any], problems: list[tuple[str, str]], notes: Notes) -> None:
    """tf-214's head flags against its loss weights: a head is trained exactly when a term that
    uses it has a weight. A weight whose head is switched off is an error; a weight whose flag is
    left out gets the head (tf-214 had none: a note); a head with no weighted term is left out."""
    weights = spec.training.loss_weights
    weighted = {term for term in LOSS_WEIGHT_NAMES if getattr(weights, term)}
    for flag, terms in HEAD_FLAGS.items():
        trained = sorted(weighted & set(terms))
        value = values.get(flag)
        if value is True and not trained:
            notes.append((flag, f"the head is left out: no loss_weights term that trains it ({', '.join(terms)}) "
                                "has a weight"))
        elif value is False and trained:
            problems.append((flag, f"is off, but loss_weights {', '.join(trained)} > 0 train this head: "
                                   f"switch the head on or set the weight to 0"))
        elif value is None and trained:
            notes.append((flag, f"not set, but loss_weights {', '.join(trained)} > 0: the head is built "
                                "(tf-214 built it only with the flag)"))


def _policy_d_aux(value: int, values: dict[str, Any], notes: Notes) -> None:
    """tf-214's soft-policy head width; lc0-train's auxiliary policy heads use policy_d_model."""
    policy_d_model = values.get("model.policy_d_model", values.get("model.embedding_size"))
    weights = values.get("training.loss_weights")
    if not (isinstance(weights, dict) and weights.get("policy_soft")):
        notes.append(("model.policy_d_aux", "no effect here: only the soft policy head uses it, and it is not trained"))
    elif value != policy_d_model:
        raise BadValue(f"{value} cannot be honoured: auxiliary policy heads here have policy_d_model's width "
                       f"({policy_d_model}); set it to that or leave it out")
    else:
        notes.append(("model.policy_d_aux", "no effect here: equals policy_d_model"))


def _lineage(spec: job_pb2.JobSpec, values: dict[str, Any], tf214: bool, problems: list[tuple[str, str]], notes: Notes) -> None:
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
        _head_flags(spec, values, problems, notes)
        if m.body == model_pb2.BODY_TRANSFORMER and m.embedding_style != model_pb2.EMBEDDING_MAP and "model.embedding_dense_sz" not in values:
            m.embedding_dense_sz = 128  # tf-214's default PE_DENSE preprocessing width
    else:
        notes.extend((flag, "no effect without training.loss_weights: only tf-214 builds this head")
                     for flag in HEAD_FLAGS if flag in values)
    _drop_unused_head_options(m, notes)
    _enable_export(spec, notes)


def _drop_unused_head_options(m: model_pb2.ModelConfig, notes: Notes) -> None:
    """Head options whose head no trained term builds are dropped, with a note."""
    if m.categorical_value_buckets and not m.aux_value_heads:
        notes.append(("model.categorical_value_buckets", "ignored: no q or st value head is trained (their loss_weights are 0)"))
        m.categorical_value_buckets = 0
    if m.HasField("soft_policy_temperature") and model_pb2.POLICY_HEAD_SOFT not in m.aux_policy_heads:
        notes.append(("model.soft_policy_temperature", "ignored: the soft policy head is not trained"))
        m.ClearField("soft_policy_temperature")


def _enable_export(spec: job_pb2.JobSpec, notes: Notes) -> None:
    """Both legacy trainers wrote a .pb.gz net at every checkpoint: so do we, when lc0 can run the net."""
    try:
        network_format(spec.model)
    except ValueError as err:
        notes.append(("export", f"stays off, the net cannot be exported to lc0: {err}"))
        return
    spec.export.enabled = True


def _attention_body(m: model_pb2.ModelConfig, values: dict[str, Any], tf214: bool, problems: list[tuple[str, str]],
                    notes: Notes) -> None:
    """Defaults and checks of an encoder body: fae46e6's is the legacy attention body (PE_MAP)."""
    if m.policy not in (model_pb2.POLICY_DEFAULT, model_pb2.POLICY_ATTENTION) or "model.policy" not in values and not tf214:
        problems.append(("model.policy", "an attention body needs policy 'attention' (the legacy trainer asserts it)"))
    m.policy = 0  # the transformer's own attention policy; value and moves_left map as for residual bodies
    if m.use_smolgen:
        for name, default in SMOLGEN_DEFAULTS.items():
            if f"model.{name}" not in values:
                setattr(m, name, default)
        if "model.smolgen_activation" not in values:
            m.smolgen_activation = model_pb2.SWISH
    if tf214:
        if m.embedding_style == model_pb2.EMBEDDING_MAP and "model.arc_encoding" not in values:
            notes.append(("model.embedding_style", "'old' converts to lc0's arc-encoded PE_MAP embedding (tf-214 left the "
                                                   "arc table out, which lc0 cannot play)"))
        return
    m.embedding_style = model_pb2.EMBEDDING_MAP
    if "model.encoder_heads" not in values:
        m.encoder_heads = FAE46E6_ENCODER_HEADS
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


def to_textproto(spec: job_pb2.JobSpec, source: str, notes: Sequence[str] = ()) -> str:
    """The converted spec as a commented textproto; each conversion note is a comment line."""
    header = (f"# Converted by `lc0-train config from-yaml` from {source}.\n"
              "# proto: lc0train.JobSpec (proto/lc0train/job.proto)\n")
    if notes:
        header += "# Conversion notes (legacy keys with no effect here, and choices made):\n"
        header += "".join(f"#   {note}\n" for note in notes)
    return header + text_format.MessageToString(spec)
