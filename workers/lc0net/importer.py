"""lc0 network file → ModelConfig and our model's variables (`lc0-train net import`)."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
from flax import nnx

from lc0train import model_pb2, net_pb2

from workers.lc0net.architecture import check_supported, config_from_net, is_multihead
from workers.lc0net.encoding import decode_layer
from workers.lc0net.mapping import Params, check_coverage, fold_plane_scale, get_param, policy_slot, set_param
from workers.lc0net.netfile import NetFileError, find_layer, populated_layers
from workers.lc0net.resnet_mapping import canonical_conv_blocks
from workers.lc0net.tables import net_table
from workers.model import build_model

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
    params: Params  # with a ResNet's batch statistics merged in
    ignored: tuple[str, ...]  # tensors of outputs our model lacks, which lc0 does not use either


def param_shapes(config: model_pb2.ModelConfig) -> Params:
    """The model's variable dict (batch statistics too) with ShapeDtypeStruct leaves (nothing allocated)."""
    abstract = nnx.eval_shape(lambda: build_model(config, seed=0))
    return nnx.to_pure_dict(nnx.state(abstract))


def import_net(net: net_pb2.Net) -> ImportedNet:
    """Builds the ModelConfig from the file's format and tensor sizes and loads every weight."""
    fmt = net.format.network_format
    check_supported(fmt)
    paths = populated_layers(net.weights)
    ignored = tuple(p for p in paths if p.startswith(AUXILIARY_OUTPUTS) and not p.startswith(policy_slot("next") + "."))
    tensors = {p: _decode(net, p) for p in paths if p not in ignored}
    config = config_from_net(fmt, {p: t.size for p, t in tensors.items()}, net.weights)
    table = net_table(config, multihead=is_multihead(fmt))
    canonical_conv_blocks(tensors, table.batch_norms)
    slots = table.slots
    shapes = table.exported(param_shapes(config))
    check_coverage(shapes, slots)
    params: Params = {}
    for slot in slots:
        shape = tuple(get_param(shapes, slot.param).shape)
        if slot.lc0 not in tensors:
            raise NetFileError(f"missing tensor {slot.lc0}")
        flat = tensors[slot.lc0]
        lc0_shape = slot.lc0_shape(shape)
        if flat.size != math.prod(shape):
            raise NetFileError(
                f"tensor {slot.lc0} has {flat.size} values, but the net's other tensors make it "
                f"{'×'.join(map(str, lc0_shape))} = {math.prod(shape)}"
            )
        set_param(params, slot.param, slot.from_lc0(flat, shape))
    unused = sorted(set(tensors) - {slot.lc0 for slot in slots})
    if unused:
        raise NetFileError(f"tensors our model has no place for (importing would change the net): {', '.join(unused)}")
    kernel = get_param(params, table.plane_kernel)
    set_param(params, table.plane_kernel, fold_plane_scale(kernel, config.input_type, to_lc0=False))
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
