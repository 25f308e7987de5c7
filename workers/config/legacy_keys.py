"""The legacy lczero-training YAML keys (fae46e6 and tf-214 lineages) and what each becomes.

`RULES` maps each legacy `section.key` to the proto field it lands in and the value
conversion; `SPECIAL` keys are handled by the converter's code. Keys without a home in our
protos are listed in `NOTES` (no effect here: a comment line in the output and a warning) or
`DEFAULT_ONLY` (accepted only with the value that is our behaviour, so nothing is lost).
tests/data/legacy/legacy_reads.txt lists every key the legacy code reads; a test holds this
table against it.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from lc0train import data_pb2, model_pb2, training_pb2


class BadValue(Exception):
    """A value the rule cannot convert; the message is the reason."""


# ---- value conversions -------------------------------------------------------------------

def as_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
        raise BadValue(f"expected an integer, got {v!r}")
    return int(v)


def as_float(v: Any) -> float:
    # PyYAML reads `1e-7` (no dot) as a string; the legacy trainer passed such values on as
    # numbers in practice, so numeric strings are accepted.
    if isinstance(v, bool):
        raise BadValue(f"expected a number, got {v!r}")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise BadValue(f"expected a number, got {v!r}") from None
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadValue(f"expected a finite number, got {v!r}")
    return float(v)


def as_bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise BadValue(f"expected true or false, got {v!r}")
    return v


def as_str(v: Any) -> str:
    if not isinstance(v, str):
        raise BadValue(f"expected a string, got {v!r}")
    return v


def as_paths(v: Any) -> list[str]:
    items = v if isinstance(v, list) else [v]
    return [as_str(item) for item in items]


def as_list(conv: Callable[[Any], Any]) -> Callable[[Any], list]:
    def convert(v: Any) -> list:
        if not isinstance(v, list):
            raise BadValue(f"expected a list, got {v!r}")
        return [conv(item) for item in v]
    return convert


def as_choice(options: dict[str, int]) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if not isinstance(v, str) or v not in options:
            raise BadValue(f"unknown value {v!r} (expected one of {', '.join(options)})")
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
FAE46E6_ENCODER_HEADS = 2
SMOLGEN_DEFAULTS = {"smolgen_hidden_channels": 16, "smolgen_hidden_sz": 128, "smolgen_gen_sz": 128}
# `adam` is listed in the tf-214 yaml comment but raises ValueError there, so it is refused.
OPTIMIZERS = {"sgd": training_pb2.SGD, "rmsprop": training_pb2.RMSPROP, "nadam": training_pb2.NADAM, "adabelief": training_pb2.ADABELIEF}
PRECISIONS = {"single": training_pb2.FP32, "half": training_pb2.FP16}
LOSS_WEIGHT_NAMES = tuple(f.name for f in training_pb2.LossWeights.DESCRIPTOR.fields)


# ---- the table ----------------------------------------------------------------------------

# legacy `section.key` → (proto field path, value conversion). Repeated fields are extended.
SORT_TYPES = {"number": data_pb2.SORT_TYPE_NUMBER, "mtime": data_pb2.SORT_TYPE_MTIME, "name": data_pb2.SORT_TYPE_NAME}
RULES: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "name": ("name", as_str),
    "dataset.input": ("dataset.input", as_paths),
    "dataset.input_train": ("dataset.input_train", as_paths),
    "dataset.input_test": ("dataset.input_test", as_paths),
    "dataset.input_validation": ("dataset.input_validation", as_paths),
    "dataset.train_ratio": ("dataset.train_ratio", as_float),
    # The newest-chunks window (legacy sort_type defaulted to 'mtime'; here game number, see
    # docs/legacy_differences.md).
    "dataset.allow_less_chunks": ("dataset.allow_less_chunks", as_bool),
    "dataset.sort_type": ("dataset.sort_type", as_choice(SORT_TYPES)),
    # Legacy position sampling: a `training:` key in the legacy yaml, a data property here.
    "training.diff_focus_min": ("dataset.diff_focus_min", as_float),
    "training.diff_focus_slope": ("dataset.diff_focus_slope", as_float),
    "training.diff_focus_q_weight": ("dataset.diff_focus_q_weight", as_float),
    "training.diff_focus_pol_scale": ("dataset.diff_focus_pol_scale", as_float),
    "training.batch_size": ("training.batch_size", as_int),
    "training.num_batch_splits": ("training.num_batch_splits", as_int),
    "training.total_steps": ("training.total_steps", as_int),
    "training.test_steps": ("training.test_steps", as_int),
    "training.validation_steps": ("training.validation_steps", as_int),
    "training.checkpoint_steps": ("training.checkpoint_steps", as_int),
    "training.train_avg_report_steps": ("training.train_avg_report_steps", as_int),
    "training.num_test_positions": ("training.num_test_positions", as_int),
    "training.shuffle_size": ("training.shuffle_size", as_int),
    "training.lr_values": ("training.lr_values", as_list(as_float)),
    "training.lr_boundaries": ("training.lr_boundaries", as_list(as_int)),
    "training.warmup_steps": ("training.warmup_steps", as_int),
    "training.optimizer": ("training.optimizer", as_choice(OPTIMIZERS)),
    "training.beta_1": ("training.beta_1", as_float),
    "training.beta_2": ("training.beta_2", as_float),
    "training.epsilon": ("training.epsilon", as_float),
    "training.weight_decay": ("training.weight_decay", as_float),
    "training.max_grad_norm": ("training.max_grad_norm", as_float),
    "training.policy_loss_weight": ("training.policy_loss_weight", as_float),
    "training.value_loss_weight": ("training.value_loss_weight", as_float),
    "training.moves_left_loss_weight": ("training.moves_left_loss_weight", as_float),
    "training.reg_term_weight": ("training.reg_term_weight", as_float),
    "training.q_ratio": ("training.q_ratio", as_float),
    "training.mask_legal_moves": ("training.mask_legal_moves", as_bool),
    "training.precision": ("training.precision", as_choice(PRECISIONS)),
    "training.swa": ("training.swa", as_bool),
    "training.swa_steps": ("training.swa_steps", as_int),
    "training.swa_max_n": ("training.swa_max_n", as_int),
    "training.new_optimizer": ("training.new_optimizer", as_bool),
    "training.lookahead_optimizer": ("training.lookahead_optimizer", as_bool),
    # Batch renorm is a `training:` key in the legacy yaml and a model property here.
    "training.renorm": ("model.renorm", as_bool),
    "training.renorm_max_r": ("model.renorm_max_r", as_float),
    "training.renorm_max_d": ("model.renorm_max_d", as_float),
    "training.renorm_momentum": ("model.renorm_momentum", as_float),
    "model.input_type": ("model.input_type", as_choice(INPUT_TYPES)),
    "model.filters": ("model.filters", as_int),
    "model.residual_blocks": ("model.residual_blocks", as_int),
    "model.se_ratio": ("model.se_ratio", as_int),
    "model.policy": ("model.policy", as_choice(POLICIES)),
    "model.value": ("model.value", as_choice(VALUES)),
    "model.moves_left": ("model.moves_left", as_choice(MOVES_LEFT)),
    "model.policy_channels": ("model.policy_channels", as_int),
    "model.default_activation": ("model.default_activation", as_choice({"relu": model_pb2.RELU, "mish": model_pb2.MISH})),
    "model.ffn_activation": ("model.ffn_activation", as_choice(ACTIVATIONS)),
    "model.embedding_size": ("model.embedding_size", as_int),
    "model.embedding_dense_sz": ("model.embedding_dense_sz", as_int),
    "model.encoder_layers": ("model.encoder_layers", as_int),
    "model.encoder_heads": ("model.encoder_heads", as_int),
    "model.encoder_d_model": ("model.encoder_d_model", as_int),
    "model.encoder_dff": ("model.encoder_dff", as_int),
    "model.dropout_rate": ("model.dropout_rate", as_float),
    "model.embedding_style": ("model.embedding_style", as_choice(EMBEDDING_STYLES)),
    "model.encoder_rms_norm": ("model.encoder_rms_norm", as_bool),
    "model.skip_first_ln": ("model.skip_first_ln", as_bool),
    "model.omit_qkv_biases": ("model.omit_qkv_biases", as_bool),
    "model.omit_other_biases": ("model.omit_other_biases", as_bool),
    "model.pol_embedding_size": ("model.policy_embedding_size", as_int),
    "model.policy_embedding_size": ("model.policy_embedding_size", as_int),
    "model.policy_d_model": ("model.policy_d_model", as_int),
    "model.value_embedding_size": ("model.value_embedding_size", as_int),
    "model.moves_left_embedding_size": ("model.moves_left_embedding_size", as_int),
    "model.pol_encoder_layers": ("model.pol_encoder_layers", as_int),
    "model.pol_encoder_heads": ("model.pol_encoder_heads", as_int),
    "model.pol_encoder_d_model": ("model.pol_encoder_d_model", as_int),
    "model.pol_encoder_dff": ("model.pol_encoder_dff", as_int),
    "model.use_smolgen": ("model.use_smolgen", as_bool),
    "model.smolgen_hidden_channels": ("model.smolgen_hidden_channels", as_int),
    "model.smolgen_hidden_sz": ("model.smolgen_hidden_sz", as_int),
    "model.smolgen_gen_sz": ("model.smolgen_gen_sz", as_int),
    "model.smolgen_activation": ("model.smolgen_activation", as_choice(ACTIVATIONS)),
}
# tf-214 model flags that build an auxiliary head → the loss_weights terms that train it.
HEAD_FLAGS: dict[str, tuple[str, ...]] = {
    "model.policy_optimistic_st": ("policy_optimistic_st",),
    "model.soft_policy": ("policy_soft",),
    "model.policy_opponent": ("policy_opponent",),
    "model.policy_next": ("policy_next",),
    "model.value_q": ("value_q", "value_q_err", "value_q_cat"),
    "model.value_st": ("value_st", "value_st_err", "value_st_cat", "policy_optimistic_st"),
}

# Handled by code below rather than by a plain field assignment.
SPECIAL = ("dataset.num_chunks", "training.loss_weights", "training.loss_scale", "model.square_relu_ffn", "model.virtual_batch_size",
           "model.arc_encoding", "model.soft_policy_temperature", "model.categorical_value_buckets", "model.policy_d_aux",
           *HEAD_FLAGS)

# Keys with no effect in lc0-train: converted to a comment line and a warning (an error under --strict).
NOTES: dict[str, str] = {
    "gpu": "no effect here: devices come from resources.devices_per_host and the JAX runtime (restrict GPUs "
           "with CUDA_VISIBLE_DEVICES)",
    "training.path": "no effect here: the job directory is `lc0-train run --out` or the service's",
    "dataset.train_workers": "no effect here: the loader is one reading thread per process",
    "dataset.test_workers": "no effect here: the loader is one reading thread per process",
    "dataset.fast_chunk_loading": "no effect here: the window lists and orders chunk files itself (dataset.sort_type)",
    "training.profile_step_freq": "no effect here: no profiler keys",
    "training.profile_step_offset": "no effect here: no profiler keys",
    "training.profile_step_count": "no effect here: no profiler keys",
    "training.swa_output": "no effect here: with export on, both the regular and the SWA net are written "
                           "(<step>.pb.gz and <step>-swa.pb.gz)",
    "training.accuracy_thresholds": "no effect here: reporting only (P@x% metrics are not logged)",
    "model.input_gate": "no effect here: fae46e6 reads it but never uses it (attention bodies are always gated)",
    # In the tf-214 example yaml, read by no legacy code we could trace (UNREAD below).
    "training.value_focus_min": "read by no legacy code (fae46e6 or tf-214): ignored",
    "training.value_focus_slope": "read by no legacy code (fae46e6 or tf-214): ignored",
    "training.return_attn_wts": "read by no legacy code (fae46e6 or tf-214): ignored (attention weights are not returned)",
    "model.use_logit_gating": "read by no legacy code (fae46e6 or tf-214): ignored (no logit gating)",
}
# Accepted only with the value that is lc0-train's behaviour; any other value changes training
# in a way lc0-train cannot honour, and is an error.
DEFAULT_ONLY: dict[str, tuple[Any, str]] = {
    "training.sparse": (False, "2:4 sparsity is not implemented"),
}
# Keys of the legacy example yamls that no legacy code reads (all others are in legacy_reads.txt).
UNREAD = frozenset({"training.value_focus_min", "training.value_focus_slope", "training.return_attn_wts",
                    "model.use_logit_gating"})
SECTIONS = ("dataset", "training", "model")


def known_keys() -> set[str]:
    """Every legacy key path the converter knows (mapped, special, default-only or noted)."""
    return set(RULES) | set(SPECIAL) | set(NOTES) | set(DEFAULT_ONLY)
