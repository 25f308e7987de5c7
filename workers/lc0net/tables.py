"""Which mapping table describes a net: BTNet's (`mapping.btnet_slots`) or the ResNet's
(`resnet_mapping.resnet_slots`), chosen by `model.body`. Export, import, evaluation and
`init_from` all go through `net_table`."""

from __future__ import annotations

import dataclasses

from lc0train import model_pb2

from workers.lc0net.architecture import writes_multihead
from workers.lc0net.mapping import PLANE_INPUT_KERNEL, ParamPath, Params, Slot, btnet_slots
from workers.lc0net.resnet_mapping import PLANE_INPUT_CONV, RENORM_ONLY_STATS, BatchNormBlock, resnet_slots
from workers.model.dims import NetDims
from workers.model.head_layout import HeadLayout
from workers.model.resnet import ResNetDims


@dataclasses.dataclass(frozen=True)
class NetTable:
    """The slots of one architecture and what else export and import need to know about it."""

    slots: list[Slot]
    plane_kernel: ParamPath  # the first layer reading the 112 planes (rule-50 folding)
    batch_norms: list[BatchNormBlock]  # lc0 ConvBlocks (residual nets only)
    counts: dict[str, int]  # scalar `Weights` fields: headcount / pol_headcount

    def exported(self, variables: Params) -> Params:
        """`variables` without the training-only statistics lc0 has no slot for."""
        return _without(variables, RENORM_ONLY_STATS) if self.batch_norms else variables


def net_table(config: model_pb2.ModelConfig, *, multihead: bool | None = None) -> NetTable:
    """The table of `config.body`; raises ValueError for an unknown body.

    `multihead` picks a transformer's tensor names (a file's own structure on import);
    unset, the structure export writes for `config`.
    """
    match config.body:
        case model_pb2.BODY_TRANSFORMER:
            dims = NetDims.from_config(config)
            multihead = writes_multihead(config) if multihead is None else multihead
            slots = btnet_slots(dims, HeadLayout.from_config(config), multihead=multihead)
            return NetTable(slots, PLANE_INPUT_KERNEL, [], {"headcount": dims.heads})
        case model_pb2.BODY_RESNET:
            rdims = ResNetDims.from_config(config)
            slots, blocks = resnet_slots(rdims)
            attention = rdims.policy == model_pb2.POLICY_ATTENTION and rdims.pol_encoder_layers
            counts = {"pol_headcount": rdims.pol_encoder_heads} if attention else {}
            return NetTable(slots, PLANE_INPUT_CONV, blocks, counts)
        case other:
            raise ValueError(f"model.body {other} is not a known body")


def _without(tree: Params, names: frozenset[str]) -> Params:
    return {k: _without(v, names) if isinstance(v, dict) else v for k, v in tree.items() if k not in names}

