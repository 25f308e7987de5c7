"""Which BT-era multi-head outputs a transformer has (`model.aux_*` fields), resolved and checked.

The vanilla policy head and the winner value head always exist (the winner head may be
classical, `model.value`, only when there are no auxiliary value heads). Auxiliary policy heads share
the vanilla head's token embedding; auxiliary value heads are full value heads of their own,
optionally with an error output (sigmoid) and categorical buckets.
"""

from __future__ import annotations

import dataclasses

from lc0train import model_pb2

from workers.model.errors import ModelConfigError

# lc0's multi-head slot names, in the order the network file lists them.
AUX_POLICY_NAMES = {
    model_pb2.POLICY_HEAD_OPTIMISTIC_ST: "optimistic_st",
    model_pb2.POLICY_HEAD_SOFT: "soft",
    model_pb2.POLICY_HEAD_OPPONENT: "opponent",
    model_pb2.POLICY_HEAD_NEXT: "next",
}
AUX_VALUE_NAMES = {model_pb2.VALUE_HEAD_Q: "q", model_pb2.VALUE_HEAD_ST: "st"}


@dataclasses.dataclass(frozen=True)
class HeadLayout:
    """The auxiliary heads of a BT network, in lc0's slot order."""

    aux_policy: tuple[str, ...] = ()
    aux_value: tuple[str, ...] = ()
    error_outputs: bool = False
    categorical_buckets: int = 0
    soft_temperature: float = 1.0

    @classmethod
    def from_config(cls, config: model_pb2.ModelConfig) -> "HeadLayout":
        """Resolves the `model.aux_*` fields; raises ModelConfigError naming the offending field."""
        aux_policy = _names(config.aux_policy_heads, AUX_POLICY_NAMES, model_pb2.AuxPolicyHead, "aux_policy_heads")
        aux_value = _names(config.aux_value_heads, AUX_VALUE_NAMES, model_pb2.AuxValueHead, "aux_value_heads")
        layout = cls(aux_policy, aux_value, config.value_error_outputs, config.categorical_value_buckets,
                     config.soft_policy_temperature if config.HasField("soft_policy_temperature") else 1.0)
        extended = aux_policy or aux_value or layout.error_outputs or layout.categorical_buckets or config.HasField("soft_policy_temperature")
        if extended and config.body != model_pb2.BODY_TRANSFORMER:
            raise ModelConfigError(("model.body", "must be BODY_TRANSFORMER for the multi-head fields (model.aux_policy_heads, "
                                    "aux_value_heads, value_error_outputs, categorical_value_buckets, soft_policy_temperature)"))
        if aux_value and config.value == model_pb2.VALUE_CLASSICAL:
            raise ModelConfigError(("model.value", "is VALUE_CLASSICAL, but the auxiliary value heads (model.aux_value_heads) are WDL "
                                    "heads and lc0's format block holds one value format for all value heads: use VALUE_WDL"))
        if layout.categorical_buckets < 0 or layout.categorical_buckets == 1:
            raise ModelConfigError(("model.categorical_value_buckets", f"is {layout.categorical_buckets}: it must be 0 (none) or at least 2"))
        if (layout.error_outputs or layout.categorical_buckets) and not aux_value:
            raise ModelConfigError(("model.aux_value_heads", "is empty, but model.value_error_outputs and "
                                    "model.categorical_value_buckets apply to the q and st value heads: list at least one"))
        if config.HasField("soft_policy_temperature"):
            if not layout.soft_temperature > 0:
                raise ModelConfigError(("model.soft_policy_temperature", f"is {layout.soft_temperature}: it must be > 0"))
            if "soft" not in aux_policy:
                raise ModelConfigError(("model.soft_policy_temperature", "requires POLICY_HEAD_SOFT in model.aux_policy_heads"))
        return layout


def _names(values: list[int], names: dict[int, str], enum: object, field: str) -> tuple[str, ...]:
    for value in values:
        if value not in names:
            choices = ", ".join(enum.Name(key) for key in names)  # type: ignore[attr-defined]
            raise ModelConfigError((f"model.{field}", f"holds {value}, which is not a head (choose from {choices})"))
    if len(set(values)) != len(values):
        raise ModelConfigError((f"model.{field}", "lists a head more than once"))
    return tuple(name for key, name in names.items() if key in values)
