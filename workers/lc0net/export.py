"""Our parameters (and batch statistics) → lc0 network file (`lc0-train net export`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lc0train import model_pb2, net_pb2

from workers.lc0net.architecture import is_multihead, min_version, network_format
from workers.lc0net.encoding import encode_linear16
from workers.lc0net.mapping import Params, check_coverage, fold_plane_scale, get_param, omitted_biases
from workers.lc0net.netfile import MAGIC, new_layer
from workers.lc0net.resnet_mapping import constant_gammas
from workers.lc0net.tables import net_table
from workers.model.dims import NetDims


@dataclasses.dataclass(frozen=True)
class TrainingInfo:
    """What `training_params` records about the run that produced the weights."""

    steps: int
    learning_rate: float | None = None
    policy_loss: float | None = None
    mse_loss: float | None = None
    accuracy: float | None = None


def export_net(config: model_pb2.ModelConfig, params: Params, training: TrainingInfo) -> net_pb2.Net:
    """The lc0 network (LINEAR16) computing what our model of `config` computes.

    `params` holds the model's variables: parameters and, for a ResNet, its batch
    statistics merged in (`mapping.merge_trees`).
    """
    fmt = network_format(config)
    table = net_table(config, multihead=is_multihead(fmt))
    params = table.exported(params)
    check_coverage(params, table.slots)
    net = net_pb2.Net(magic=MAGIC)
    net.min_version.major, net.min_version.minor, net.min_version.patch = min_version(config)
    net.format.weights_encoding = net_pb2.Format.LINEAR16
    net.format.network_format.CopyFrom(fmt)
    _training_params(net.training_params, training)
    for field, count in table.counts.items():
        setattr(net.weights, field, count)
    tensors: dict[str, np.ndarray] = {}
    for slot in table.slots:
        array = np.asarray(get_param(params, slot.param), np.float32)
        if slot.param == table.plane_kernel:
            array = fold_plane_scale(array, config.input_type, to_lc0=True)
        tensors[slot.lc0] = slot.to_lc0(array)
    channels = {block.lc0: tensors[block.tensor("bn_means")].size for block in table.batch_norms}
    tensors.update(constant_gammas(table.batch_norms, channels))
    if config.body == model_pb2.BODY_TRANSFORMER:
        # lc0 always adds these biases: a net without them has zeros there.
        tensors.update((path, np.zeros(size, np.float32)) for path, size in omitted_biases(NetDims.from_config(config)))
    for path, values in tensors.items():
        encode_linear16(values, new_layer(net.weights, path))
    return net


def _training_params(out: net_pb2.TrainingParams, info: TrainingInfo) -> None:
    out.training_steps = info.steps
    for name in ("learning_rate", "policy_loss", "mse_loss", "accuracy"):
        value = getattr(info, name)
        if value is not None:
            setattr(out, name, value)
