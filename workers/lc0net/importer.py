"""lc0 network file → ModelConfig and BTNet parameters (`lc0-train net import`)."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
from flax import nnx

from lc0train import model_pb2, net_pb2

from workers.lc0net.architecture import check_supported, model_config
from workers.lc0net.encoding import decode_layer
from workers.lc0net.mapping import (
    PLANE_INPUT_KERNEL,
    Layout,
    Params,
    btnet_slots,
    check_coverage,
    fold_plane_scale,
    get_param,
    policy_slot,
    set_param,
)
from workers.lc0net.netfile import NetFileError, find_layer, populated_layers
from workers.model import BTNet
from workers.model.dims import NetDims
from workers.model.head_layout import HeadLayout

# Outputs of the multi-head format BTNet has no place for (lc0 plays without them): error and
# categorical outputs of the winner head, and head-map entries other than our `next` head.
AUXILIARY_OUTPUTS = (
    "value_heads.winner.ip_val_err_",
    "value_heads.winner.ip_val_cat_",
    "value_heads.value_head_map",
    "policy_heads.policy_head_map",
)


@dataclasses.dataclass(frozen=True)
class ImportedNet:
    """A network file as our model: its config, parameters and what was left out."""

    config: model_pb2.ModelConfig
    params: Params
    ignored: tuple[str, ...]  # tensors of outputs BTNet lacks, which lc0 does not use either


def param_shapes(config: model_pb2.ModelConfig) -> Params:
    """BTNet's parameter dict of `config` with ShapeDtypeStruct leaves (nothing allocated)."""
    abstract = nnx.eval_shape(lambda: BTNet(config, rngs=nnx.Rngs(params=0)))
    return nnx.to_pure_dict(nnx.state(abstract))


def import_net(net: net_pb2.Net) -> ImportedNet:
    """Builds the ModelConfig from the file's format and tensor sizes and loads every weight."""
    fmt = net.format.network_format
    check_supported(fmt)
    paths = populated_layers(net.weights)
    ignored = tuple(p for p in paths if p.startswith(AUXILIARY_OUTPUTS) and not p.startswith(policy_slot("next") + "."))
    tensors = {p: _decode(net, p) for p in paths if p not in ignored}
    config = model_config(fmt, {p: t.size for p, t in tensors.items()}, len(net.weights.encoder), net.weights.headcount)
    slots = btnet_slots(NetDims.from_config(config), HeadLayout.from_config(config))
    shapes = param_shapes(config)
    check_coverage(shapes, slots)
    params: Params = {}
    for slot in slots:
        shape = tuple(get_param(shapes, slot.param).shape)
        if slot.lc0 not in tensors:
            raise NetFileError(f"missing tensor {slot.lc0}")
        flat = tensors[slot.lc0]
        lc0_shape = shape[::-1] if slot.layout is Layout.TRANSPOSED else shape
        if flat.size != math.prod(shape):
            raise NetFileError(
                f"tensor {slot.lc0} has {flat.size} values, but the net's other tensors make it "
                f"{'×'.join(map(str, lc0_shape))} = {math.prod(shape)}"
            )
        if slot.nonnegative and (flat < 0).any():
            raise NetFileError(f"tensor {slot.lc0} has negative values, which BTNet clamps at 0")
        set_param(params, slot.param, slot.from_lc0(flat, shape))
    unused = sorted(set(tensors) - {slot.lc0 for slot in slots})
    if unused:
        raise NetFileError(f"tensors BTNet has no place for (importing would change the net): {', '.join(unused)}")
    kernel = get_param(params, PLANE_INPUT_KERNEL)
    set_param(params, PLANE_INPUT_KERNEL, fold_plane_scale(kernel, config.input_type, to_lc0=False))
    return ImportedNet(config, jax.tree.map(np.asarray, params), ignored)


def _decode(net: net_pb2.Net, path: str) -> np.ndarray:
    layer = find_layer(net.weights, path)
    try:
        values = decode_layer(layer, net.format.weights_encoding)
    except ValueError as err:
        raise NetFileError(f"tensor {path}: {err}") from err
    if not np.isfinite(values).all():
        raise NetFileError(f"tensor {path} holds NaN or infinite values")
    return values
