"""The one description of how BTNet's parameter tree maps onto lc0's `Weights` message,
and the `Slot` machinery the ResNet's table (`resnet_mapping.py`) shares.

Two lc0 layouts hold a BTNet: PE_DENSE bodies with the multi-head format's names
(`policy_heads.vanilla.ip2_pol_w`) and the legacy attention body (PE_MAP embedding, no
embedding norm or FFN) with the single-head names (`ip2_pol_w`); `multihead` picks the names.

Export and import both walk `btnet_slots`, so they cannot drift apart. Each `Slot` pairs
a path in the model's pure parameter dict with a path in `pblczero.Weights`
(`encoder[0].mha.q_w`) and says how the element orders relate: dense kernels are ours
[in, out] and lc0's [out][in]; the input gates are ours [64 squares, E] and lc0's
[E][64]; vectors are identical.

One more difference is not a layout but an input convention: for the classical input
formats (1-3) lc0 feeds the rule-50 plane as the raw ply count while our loader divides
it by 99, so the embedding row that reads plane 109 is scaled (`rule50_divisors`,
`fold_plane_scale`). Hectoplies formats (>= 4) use count/100 on both sides.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any

import numpy as np

from lc0train import model_pb2
from workers.model.dims import NetDims
from workers.model.head_layout import HeadLayout

Params = dict[str, Any]
ParamPath = tuple[str | int, ...]
RULE50_PLANE = 109
# The first layer reading the 112 planes (rows = input features in our [in, out] kernel).
PLANE_INPUT_KERNEL: ParamPath = ("embedding", "square", "kernel")
_CLASSICAL_RULE50_DIVISOR = 99.0
_HECTOPLIES_DIVISOR = 100.0
_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")
_KEYED = re.compile(r"^(\w+)\{(\w+)\}$")  # `policy_head_map{next}`: the map entry with that key
# Auxiliary policy heads lc0's PolicyHeads message has a field for; others go in policy_head_map.
_NAMED_POLICY_SLOTS = ("vanilla", "optimistic_st", "soft", "opponent")


class Layout(enum.Enum):
    """How our array's elements are ordered relative to lc0's flat tensor."""

    SAME = "same"  # vectors: identical order
    TRANSPOSED = "transposed"  # 2-D: ours [a, b] is lc0's [b][a] row-major
    OIHW = "oihw"  # conv kernels: ours HWIO [kh, kw, in, out], lc0's [out][in][kh][kw]


@dataclasses.dataclass(frozen=True)
class Slot:
    """One tensor: where it lives in our parameters and in lc0's Weights."""

    param: ParamPath
    lc0: str
    layout: Layout

    def to_lc0(self, array: np.ndarray) -> np.ndarray:
        """Our array as lc0's flat row-major tensor."""
        array = np.asarray(array, np.float32)
        if self.layout is Layout.OIHW:
            return array.transpose(3, 2, 0, 1).reshape(-1)
        return (array.T if self.layout is Layout.TRANSPOSED else array).reshape(-1)

    def from_lc0(self, flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """lc0's flat tensor as our array of `shape`; the size must already match."""
        if self.layout is Layout.TRANSPOSED:
            return np.ascontiguousarray(flat.reshape(shape[::-1]).T)
        if self.layout is Layout.OIHW:
            kh, kw, cin, cout = shape
            return np.ascontiguousarray(flat.reshape(cout, cin, kh, kw).transpose(2, 3, 1, 0))
        return flat.reshape(shape)

    def lc0_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """lc0's dimensions of a tensor that is `shape` on our side (for error messages)."""
        if self.layout is Layout.TRANSPOSED:
            return shape[::-1]
        if self.layout is Layout.OIHW:
            kh, kw, cin, cout = shape
            return (cout, cin, kh, kw)
        return shape


def linear_slots(ours: ParamPath, weight: str, bias: str | None = None) -> list[Slot]:
    """A dense layer's kernel ([in, out] ours, [out][in] lc0's) and, when lc0 has one, bias."""
    slots = [Slot((*ours, "kernel"), weight, Layout.TRANSPOSED)]
    if bias is not None:
        slots.append(Slot((*ours, "bias"), bias, Layout.SAME))
    return slots


def norm_slots(ours: ParamPath, gammas: str, betas: str) -> list[Slot]:
    """A layer norm's scale and bias as lc0's gammas and betas."""
    return [Slot((*ours, "scale"), gammas, Layout.SAME), Slot((*ours, "bias"), betas, Layout.SAME)]


def _ffn(ours: ParamPath, lc0: str, bias: bool = True) -> list[Slot]:
    return [
        *linear_slots((*ours, "dense1"), f"{lc0}.dense1_w", f"{lc0}.dense1_b" if bias else None),
        *linear_slots((*ours, "dense2"), f"{lc0}.dense2_w", f"{lc0}.dense2_b" if bias else None),
    ]


def _flat_head(ours: str, embed: tuple[str, str], hidden: tuple[str, str], out: tuple[str, str]) -> list[Slot]:
    return [
        *linear_slots((ours, "embed"), *embed),
        *linear_slots((ours, "dense1"), *hidden),
        *linear_slots((ours, "dense2"), *out),
    ]


def policy_slot(name: str) -> str:
    """lc0's path of a policy head: `policy_heads.soft`, or a `policy_head_map` entry for names
    PolicyHeads has no field for (`next`)."""
    return f"policy_heads.{name}" if name in _NAMED_POLICY_SLOTS else f"policy_heads.policy_head_map{{{name}}}"


def _attention_policy(ours: ParamPath, lc0: str) -> list[Slot]:
    return [
        *linear_slots((*ours, "q"), _in(lc0, "ip2_pol_w"), _in(lc0, "ip2_pol_b")),
        *linear_slots((*ours, "k"), _in(lc0, "ip3_pol_w"), _in(lc0, "ip3_pol_b")),
        *linear_slots((*ours, "promotion"), _in(lc0, "ip4_pol_w")),
    ]


def _value_head(ours: ParamPath, lc0: str, heads: HeadLayout | None = None) -> list[Slot]:
    slots = [
        *linear_slots((*ours, "embed"), _in(lc0, "ip_val_w"), _in(lc0, "ip_val_b")),
        *linear_slots((*ours, "dense1"), _in(lc0, "ip1_val_w"), _in(lc0, "ip1_val_b")),
        *linear_slots((*ours, "dense2"), _in(lc0, "ip2_val_w"), _in(lc0, "ip2_val_b")),
    ]
    if heads is not None and heads.error_outputs:
        slots += linear_slots((*ours, "err"), f"{lc0}.ip_val_err_w", f"{lc0}.ip_val_err_b")
    if heads is not None and heads.categorical_buckets:
        slots += linear_slots((*ours, "cat"), f"{lc0}.ip_val_cat_w", f"{lc0}.ip_val_cat_b")
    return slots


def _embedding_slots(dims: NetDims) -> list[Slot]:
    emb: ParamPath = ("embedding",)
    gates = [
        Slot((*emb, "mult_gate"), "ip_mult_gate", Layout.TRANSPOSED),
        Slot((*emb, "add_gate"), "ip_add_gate", Layout.TRANSPOSED),
    ]
    if dims.map_embedding:
        return [*linear_slots((*emb, "square"), "ip_emb_w", "ip_emb_b"), *gates]
    slots = []
    if dims.embedding_dense:
        slots += linear_slots((*emb, "preprocess"), "ip_emb_preproc_w", "ip_emb_preproc_b")
    return slots + [
        *linear_slots((*emb, "square"), "ip_emb_w", "ip_emb_b"),
        *norm_slots((*emb, "norm"), "ip_emb_ln_gammas", "ip_emb_ln_betas"),
        *gates,
        *_ffn((*emb, "ffn"), "ip_emb_ffn"),
        *norm_slots((*emb, "ffn_norm"), "ip_emb_ffn_ln_gammas", "ip_emb_ffn_ln_betas"),
    ]


def _in(prefix: str, name: str) -> str:
    """`name` inside the lc0 message at `prefix` ("" = the top-level Weights)."""
    return f"{prefix}.{name}" if prefix else name


def btnet_slots(dims: NetDims, heads: HeadLayout = HeadLayout(), *, multihead: bool = True) -> list[Slot]:
    """Every BTNet parameter with its lc0 tensor, the auxiliary heads of `heads` included;
    `multihead` picks the NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT names, otherwise
    ..._WITH_HEADFORMAT's (which has no auxiliary heads)."""
    slots = _embedding_slots(dims)
    if dims.smolgen is not None:
        slots += linear_slots(("encoder", "smolgen_gen"), "smolgen_w")
    for i in range(dims.layers):
        ours: ParamPath = ("encoder", "blocks", i)
        lc0 = f"encoder[{i}]"
        mha, sg = f"{lc0}.mha", f"{lc0}.mha.smolgen"
        for name, prefix, bias in (("q", "q", dims.qkv_bias), ("k", "k", dims.qkv_bias), ("v", "v", dims.qkv_bias),
                                   ("out", "dense", dims.other_bias)):
            slots += linear_slots((*ours, "mha", name), f"{mha}.{prefix}_w", f"{mha}.{prefix}_b" if bias else None)
        if dims.smolgen is not None:
            smolgen: ParamPath = (*ours, "mha", "smolgen")
            slots += [
                *linear_slots((*smolgen, "compress"), f"{sg}.compress"),
                *linear_slots((*smolgen, "dense1"), f"{sg}.dense1_w", f"{sg}.dense1_b"),
                *norm_slots((*smolgen, "ln1"), f"{sg}.ln1_gammas", f"{sg}.ln1_betas"),
                *linear_slots((*smolgen, "dense2"), f"{sg}.dense2_w", f"{sg}.dense2_b"),
                *norm_slots((*smolgen, "ln2"), f"{sg}.ln2_gammas", f"{sg}.ln2_betas"),
            ]
        slots += [
            *norm_slots((*ours, "ln1"), f"{lc0}.ln1_gammas", f"{lc0}.ln1_betas"),
            *_ffn((*ours, "ffn"), f"{lc0}.ffn", dims.other_bias),
            *norm_slots((*ours, "ln2"), f"{lc0}.ln2_gammas", f"{lc0}.ln2_betas"),
        ]
    if not multihead and (heads.aux_policy or heads.aux_value):
        raise ValueError("auxiliary heads (model.aux_policy_heads, model.aux_value_heads) need lc0's multi-head "
                         "format, which EMBEDDING_MAP nets are not written in")
    policy, vanilla, winner = ("policy_heads", policy_slot("vanilla"), "value_heads.winner") if multihead else ("", "", "")
    slots += [
        *linear_slots(("policy", "tokens"), _in(policy, "ip_pol_w"), _in(policy, "ip_pol_b")),
        *_attention_policy(("policy",), vanilla),
        *_value_head(("value",), winner),
    ]
    for name in heads.aux_policy:
        slots += _attention_policy(("aux_policy", name), policy_slot(name))
    for name in heads.aux_value:
        slots += _value_head(("aux_value", name), f"value_heads.{name}", heads)
    if dims.moves_left_head:
        slots += _flat_head("moves_left", ("ip_mov_w", "ip_mov_b"), ("ip1_mov_w", "ip1_mov_b"), ("ip2_mov_w", "ip2_mov_b"))
    return slots


def omitted_biases(dims: NetDims) -> list[tuple[str, int]]:
    """(lc0 tensor, size) of the encoder biases a net built without them lacks."""
    missing = []
    for i in range(dims.layers):
        mha, ffn = f"encoder[{i}].mha", f"encoder[{i}].ffn"
        if not dims.qkv_bias:
            missing += [(f"{mha}.{name}_b", dims.d_model) for name in ("q", "k", "v")]
        if not dims.other_bias:
            missing += [(f"{mha}.dense_b", dims.embedding), (f"{ffn}.dense1_b", dims.dff), (f"{ffn}.dense2_b", dims.embedding)]
    return missing


def rule50_divisors(input_type: int) -> tuple[float, float]:
    """(lc0's, our loader's) divisor of the rule-50 ply count fed as plane 109."""
    if input_type == model_pb2.INPUT_TYPE_UNSPECIFIED:
        raise ValueError("model.input_type is unspecified: the input plane scaling depends on it")
    if input_type >= model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES:
        return _HECTOPLIES_DIVISOR, _HECTOPLIES_DIVISOR
    return 1.0, _CLASSICAL_RULE50_DIVISOR


def plane_scale(input_type: int) -> float:
    """Our rule-50 plane value divided by lc0's for `input_type` (1/99 or 1)."""
    lc0, ours = rule50_divisors(input_type)
    return lc0 / ours


def fold_plane_scale(kernel: np.ndarray, input_type: int, *, to_lc0: bool) -> np.ndarray:
    """The plane-input kernel (ours: dense [in, out] or conv HWIO) with its rule-50 input rescaled.

    Ours sees s·x where lc0 sees x, so lc0's row is s times ours: exporting multiplies
    by s, importing divides by it.
    """
    scale = plane_scale(input_type)
    folded = np.array(kernel, np.float32, copy=True)
    folded[..., RULE50_PLANE, :] *= np.float32(scale if to_lc0 else 1.0 / scale)
    return folded


def param_paths(params: Params, prefix: ParamPath = ()) -> set[ParamPath]:
    """The paths of every array in a nested parameter dict."""
    paths = set()
    for key, value in params.items():
        if isinstance(value, dict):
            paths |= param_paths(value, (*prefix, key))
        else:
            paths.add((*prefix, key))
    return paths


def check_coverage(params: Params, slots: list[Slot]) -> None:
    """Raises if a parameter has no slot (it would be silently lost) or a slot no parameter."""
    ours, mapped = param_paths(params), {slot.param for slot in slots}
    if ours != mapped:
        unmapped = sorted(map(str, ours - mapped))
        missing = sorted(map(str, mapped - ours))
        raise ValueError(f"parameter tree and lc0 mapping differ: unmapped {unmapped}, absent {missing}")


def merge_trees(first: Params, second: Params) -> Params:
    """One nested dict holding the leaves of both (parameters and batch statistics)."""
    merged = {key: value for key, value in first.items()}
    for key, value in second.items():
        merged[key] = merge_trees(merged[key], value) if isinstance(value, dict) and key in merged else value
    return merged


def select_like(tree: Params, like: Params) -> Params:
    """The part of `tree` at the paths of `like`'s leaves (e.g. the parameters of merged variables)."""
    return {key: select_like(tree[key], value) if isinstance(value, dict) else tree[key] for key, value in like.items()}


def get_param(params: Params, path: ParamPath) -> Any:
    """The entry of a nested parameter dict at `path`."""
    node: Any = params
    for key in path:
        node = node[key]
    return node


def set_param(params: Params, path: ParamPath, value: Any) -> None:
    """Sets `path` in a nested dict, creating intermediate dicts."""
    node: Any = params  # dicts keyed by names and list indices
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def lc0_path_parts(path: str) -> list[tuple[str, int | str | None]]:
    """`encoder[2].mha.q_w` → [("encoder", 2), ("mha", None), ("q_w", None)]; a map entry
    `policy_head_map{next}` → ("policy_head_map", "next")."""
    parts: list[tuple[str, int | str | None]] = []
    for part in path.split("."):
        indexed, keyed = _INDEXED.match(part), _KEYED.match(part)
        if indexed:
            parts.append((indexed.group(1), int(indexed.group(2))))
        else:
            parts.append((keyed.group(1), keyed.group(2)) if keyed else (part, None))
    return parts
