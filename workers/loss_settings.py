"""Loss configuration of both legacy lineages resolved into one set of named term weights.

Classic (fae46e6) keys map onto the BT-era (tf-214) names: `policy_loss_weight` → policy,
`value_loss_weight`·(1 − q_ratio) → value_winner, `value_loss_weight`·q_ratio → value_q
(cross-entropy is linear in its target, so two weighted terms on one head equal one term
against the mixed target), `moves_left_loss_weight` → moves_left, `reg_term_weight` → reg.
"""

from __future__ import annotations

import dataclasses

from lc0train import training_pb2
from workers.validation import Problems, optional

_CLASSIC_KEYS = ("policy_loss_weight", "value_loss_weight", "moves_left_loss_weight", "reg_term_weight", "q_ratio")
# Terms whose heads the BT model of this project does not have yet (multi-head layout).
_MISSING_HEADS = {
    "policy_optimistic_st": "an optimistic short-term policy head",
    "policy_soft": "a soft policy head",
    "policy_opponent": "an opponent-move policy head",
    "policy_next": "a next-move policy head",
    "value_q_err": "a value-q error head",
    "value_q_cat": "a categorical value-q head",
    "value_st": "a short-term value head",
    "value_st_err": "a short-term value error head",
    "value_st_cat": "a categorical short-term value head",
}


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

    @property
    def q_ratio(self) -> float:
        """Share of q in the value target the value metrics use."""
        total = self.value_winner + self.value_q
        return self.value_q / total if total > 0 else 0.0


def resolve_losses(t: training_pb2.TrainingConfig, problems: Problems, has_moves_left_head: bool = True) -> LossSettings:
    """The loss terms of either lineage; mixing the two lineages' keys is an error. Without a
    moves-left head its weight defaults to 0 and a non-zero weight is an error."""
    common = dict(policy_kl=t.policy_loss == training_pb2.KL, mask_legal_moves=t.mask_legal_moves,
                  q_from_root=t.value_q_source == training_pb2.ROOT)
    bt_era = t.HasField("loss_weights")
    settings = _bt_era(t, problems, common) if bt_era else _classic(t, problems, common)
    if has_moves_left_head:
        return settings
    explicit = t.loss_weights.HasField("moves_left") if bt_era else t.HasField("moves_left_loss_weight")
    if explicit and settings.moves_left:
        key = "loss_weights.moves_left" if bt_era else "moves_left_loss_weight"
        problems.add(f"training.{key}", "requires a moves-left head (model.moves_left is MOVES_LEFT_NONE)")
    return dataclasses.replace(settings, moves_left=0.0)


def _bt_era(t: training_pb2.TrainingConfig, problems: Problems, common: dict) -> LossSettings:
    w = t.loss_weights
    for key in _CLASSIC_KEYS:
        if (t.HasField(key) if key != "q_ratio" else t.q_ratio):
            problems.add(f"training.{key}", "conflicts with training.loss_weights (use one lineage's keys)")
    for name, head in _MISSING_HEADS.items():
        if optional(w, name, 0.0):
            problems.add(f"training.loss_weights.{name}", f"requires {head}, which this model does not have")
    weights = {name: optional(w, name, 0.0) for name in ("policy", "value_winner", "value_q", "moves_left", "reg")}
    for name, value in weights.items():
        problems.non_negative(f"training.loss_weights.{name}", value)
    return LossSettings(**weights, **common)


def _classic(t: training_pb2.TrainingConfig, problems: Problems, common: dict) -> LossSettings:
    if not 0.0 <= t.q_ratio <= 1.0:
        problems.add("training.q_ratio", f"must be in [0, 1] (got {t.q_ratio})")
    keys = {"policy": "policy_loss_weight", "value": "value_loss_weight", "moves_left": "moves_left_loss_weight", "reg": "reg_term_weight"}
    weights = {name: optional(t, key, 1.0) for name, key in keys.items()}
    for name, key in keys.items():
        problems.non_negative(f"training.{key}", weights[name])
    value = weights.pop("value")
    return LossSettings(**weights, value_winner=value * (1.0 - t.q_ratio), value_q=value * t.q_ratio, **common)
