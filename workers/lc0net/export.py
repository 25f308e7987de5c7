"""BTNet parameters → lc0 network file (`lc0-train net export`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lc0train import model_pb2, net_pb2

from workers.lc0net.architecture import MIN_VERSION, network_format
from workers.lc0net.encoding import encode_linear16
from workers.lc0net.mapping import PLANE_INPUT_KERNEL, Params, btnet_slots, check_coverage, fold_plane_scale, get_param
from workers.lc0net.netfile import MAGIC, new_layer
from workers.model.dims import NetDims
from workers.model.head_layout import HeadLayout


@dataclasses.dataclass(frozen=True)
class TrainingInfo:
    """What `training_params` records about the run that produced the weights."""

    steps: int
    learning_rate: float | None = None
    policy_loss: float | None = None
    mse_loss: float | None = None
    accuracy: float | None = None


def export_net(config: model_pb2.ModelConfig, params: Params, training: TrainingInfo) -> net_pb2.Net:
    """The lc0 network (LINEAR16) computing what BTNet(config) with `params` computes."""
    fmt = network_format(config)
    dims = NetDims.from_config(config)
    slots = btnet_slots(dims, HeadLayout.from_config(config))
    check_coverage(params, slots)
    net = net_pb2.Net(magic=MAGIC)
    net.min_version.major, net.min_version.minor, net.min_version.patch = MIN_VERSION
    net.format.weights_encoding = net_pb2.Format.LINEAR16
    net.format.network_format.CopyFrom(fmt)
    _training_params(net.training_params, training)
    net.weights.headcount = dims.heads
    for slot in slots:
        array = np.asarray(get_param(params, slot.param), np.float32)
        if slot.param == PLANE_INPUT_KERNEL:
            array = fold_plane_scale(array, config.input_type, to_lc0=True)
        if slot.nonnegative:
            array = np.maximum(array, 0.0)
        encode_linear16(slot.to_lc0(array), new_layer(net.weights, slot.lc0))
    return net


def _training_params(out: net_pb2.TrainingParams, info: TrainingInfo) -> None:
    out.training_steps = info.steps
    for name in ("learning_rate", "policy_loss", "mse_loss", "accuracy"):
        value = getattr(info, name)
        if value is not None:
            setattr(out, name, value)
