"""Loss configuration of both legacy lineages resolved into one set of named term weights.

Classic (fae46e6) keys map onto the BT-era (tf-214) names: `policy_loss_weight` → policy,
`value_loss_weight`·(1 − q_ratio) → value_winner, `value_loss_weight`·q_ratio → value_q
(cross-entropy is linear in its target, so two weighted terms on one head equal one term
against the mixed target), `moves_left_loss_weight` → moves_left, `reg_term_weight` → reg.

BT-era terms of the auxiliary heads need those heads (`model.aux_*`, workers/model/head_layout.py);
a non-zero weight without its head is a validation error. `value_q` trains the q value head
when the model has one, otherwise the winner head against q (the classic mixing).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lc0train import training_pb2
from workers.model.head_layout import HeadLayout
from workers.config.problems import Problems, optional

_CLASSIC_KEYS = ("policy_loss_weight", "value_loss_weight", "moves_left_loss_weight", "reg_term_weight", "q_ratio")
# BT-era terms of auxiliary heads: (policy or value, head name, output it trains).
AUX_TERMS = {
    "policy_optimistic_st": ("policy", "optimistic_st", ""),
    "policy_soft": ("policy", "soft", ""),
    "policy_opponent": ("policy", "opponent", ""),
    "policy_next": ("policy", "next", ""),
    "value_q_err": ("value", "q", "err"),
    "value_q_cat": ("value", "q", "cat"),
    "value_st": ("value", "st", ""),
    "value_st_err": ("value", "st", "err"),
    "value_st_cat": ("value", "st", "cat"),
}
_NEEDS = {"err": "model.value_error_outputs", "cat": "model.categorical_value_buckets > 0"}
# Terms whose targets only V7 (rescored) records carry.
V7_TERMS = ("policy_optimistic_st", "policy_opponent", "policy_next", "value_st", "value_st_err", "value_st_cat")


def head_terms(heads: HeadLayout) -> tuple[str, ...]:
    """The auxiliary terms the model's heads can train (and report), in AUX_TERMS order."""
    return tuple(term for term in AUX_TERMS if _missing(term, heads) is None)


def _missing(term: str, heads: HeadLayout) -> str | None:
    kind, name, output = AUX_TERMS[term]
    present = name in (heads.aux_policy if kind == "policy" else heads.aux_value)
    if not present:
        enum = f"POLICY_HEAD_{name.upper()}" if kind == "policy" else f"VALUE_HEAD_{name.upper()}"
        return f"the {name} {kind} head ({enum} in model.aux_{kind}_heads)"
    if output == "err" and not heads.error_outputs or output == "cat" and not heads.categorical_buckets:
        return f"the {name} value head's {output} output ({_NEEDS[output]})"
    if term == "policy_optimistic_st" and _missing("value_st_err", heads) is not None:
        # its sample weights compare the st target with the st head's prediction and error
        return f"the st value head with its err output (for the sample weights: {_missing('value_st_err', heads)})"
    return None


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """Weights of the trained terms and how the policy and value targets are formed."""

    policy: float
    value_winner: float
    value_q: float
    moves_left: float
    reg: float
    policy_kl: bool
    mask_legal_moves: bool
    q_from_root: bool
    aux: tuple[tuple[str, float], ...] = ()  # (AUX_TERMS name, weight) of every term the heads have
    heads: HeadLayout = HeadLayout()
    q_head: bool = False  # value_q trains the q value head (BT era with one), else the winner head

    @property
    def needs_v7(self) -> tuple[str, ...]:
        """The reported terms whose targets only V7 (rescored) records carry."""
        return tuple(name for name, _ in self.aux if name in V7_TERMS)

    @property
    def q_ratio(self) -> float:
        """Share of q in the value target the value metrics use."""
        total = self.value_winner + self.value_q
        return self.value_q / total if total > 0 else 0.0


def resolve_losses(t: training_pb2.TrainingConfig, problems: Problems, has_moves_left_head: bool = True,
                   heads: HeadLayout = HeadLayout()) -> LossSettings:
    """The loss terms of either lineage; mixing the two lineages' keys is an error. Without a
    moves-left head its weight defaults to 0 and a non-zero weight is an error; so is a
    non-zero auxiliary term without its head. Terms of existing heads default to weight 0."""
    common = dict(policy_kl=t.policy_loss == training_pb2.KL, mask_legal_moves=t.mask_legal_moves,
                  q_from_root=t.value_q_source == training_pb2.ROOT, heads=heads)
    bt_era = t.HasField("loss_weights")
    settings = _bt_era(t, problems, common) if bt_era else _classic(t, problems, common)
    if has_moves_left_head:
        return settings
    explicit = t.loss_weights.HasField("moves_left") if bt_era else t.HasField("moves_left_loss_weight")
    if explicit and settings.moves_left:
        key = "loss_weights.moves_left" if bt_era else "moves_left_loss_weight"
        problems.add(f"training.{key}", "requires a moves-left head (model.moves_left is MOVES_LEFT_NONE)")
    return dataclasses.replace(settings, moves_left=0.0)


def _bt_era(t: training_pb2.TrainingConfig, problems: Problems, common: dict[str, Any]) -> LossSettings:
    w = t.loss_weights
    for key in _CLASSIC_KEYS:
        if (t.HasField(key) if key != "q_ratio" else t.q_ratio):
            problems.add(f"training.{key}", "conflicts with training.loss_weights (use one lineage's keys)")
    aux = []
    for name in AUX_TERMS:
        weight = optional(w, name, 0.0)
        problems.non_negative(f"training.loss_weights.{name}", weight)
        missing = _missing(name, common["heads"])
        if missing is None:
            aux.append((name, weight))
        elif weight:
            problems.add(f"training.loss_weights.{name}", f"requires {missing}, which this model does not have")
    weights: dict[str, Any] = {name: optional(w, name, 0.0) for name in ("policy", "value_winner", "value_q", "moves_left", "reg")}
    for name, value in weights.items():
        problems.non_negative(f"training.loss_weights.{name}", value)
    return LossSettings(**weights, **common, aux=tuple(aux), q_head="q" in common["heads"].aux_value)


def _classic(t: training_pb2.TrainingConfig, problems: Problems, common: dict[str, Any]) -> LossSettings:
    if not 0.0 <= t.q_ratio <= 1.0:
        problems.add("training.q_ratio", f"must be in [0, 1] (got {t.q_ratio})")
    keys = {"policy": "policy_loss_weight", "value": "value_loss_weight", "moves_left": "moves_left_loss_weight", "reg": "reg_term_weight"}
    weights: dict[str, Any] = {name: optional(t, key, 1.0) for name, key in keys.items()}
    for name, key in keys.items():
        problems.non_negative(f"training.{key}", weights[name])
    value = weights.pop("value")
    aux = tuple((name, 0.0) for name in head_terms(common["heads"]))  # reported, not trained
    return LossSettings(**weights, value_winner=value * (1.0 - t.q_ratio), value_q=value * t.q_ratio, **common, aux=aux)
