"""The second table: our SE-ResNet's variables ↔ lc0's single-head residual `Weights`.

lc0 files (NETWORK_SE_WITH_HEADFORMAT, or CLASSICAL_WITH_HEADFORMAT without SE) hold
each conv + batch norm as a `ConvBlock`: `weights` (OIHW; ours HWIO), optional `biases`,
and `bn_means`, `bn_stddivs` (a *variance*, ε = 1e-5), `bn_gammas`, `bn_betas`. lc0
computes γ·(conv + bias − mean)/√(var + ε) + β. Our BN holds mean, var, β and, only
where the legacy net trains it, γ (input block and second conv of each residual block).

Export writes the statistics as they are, γ = 1 where our BN has none, and no biases.
Import first brings every ConvBlock to that form (`canonical_conv_blocks`): biases folded
into the means, absent statistics as the identity (BN-free nets such as the classical
fixture), and γ folded into the variance where our BN has no γ (γ must be > 0 there).

The batch statistics live beside the parameters in one nested dict (`merge_trees`);
the extra statistics of batch renorm are training state lc0 has no slot for (the
inference variance `var` is already derived from them), so export leaves them out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from lc0train import model_pb2

from workers.lc0net.mapping import Layout, ParamPath, Slot, linear_slots, norm_slots
from workers.lc0net.netfile import NetFileError
from workers.model.batchnorm import BN_EPSILON
from workers.model.resnet import ResNetDims

PLANE_INPUT_CONV: ParamPath = ("input_block", "conv", "kernel")
RENORM_ONLY_STATS = frozenset({"stddev", "renorm_mean", "renorm_stddev"})
_BN_TENSORS = ("bn_means", "bn_stddivs", "bn_gammas", "bn_betas")


@dataclasses.dataclass(frozen=True)
class BatchNormBlock:
    """One of our BN layers and the lc0 ConvBlock holding its statistics."""

    param: ParamPath  # our BatchNorm module
    lc0: str  # e.g. "residual[0].conv1"
    scaled: bool  # our BN has γ; otherwise lc0's bn_gammas are written as ones

    def tensor(self, name: str) -> str:
        return f"{self.lc0}.{name}"


def _conv_block(conv: ParamPath, bn: ParamPath, lc0: str, *, scaled: bool) -> tuple[list[Slot], BatchNormBlock]:
    block = BatchNormBlock(bn, lc0, scaled)
    slots = [
        Slot((*conv, "kernel"), f"{lc0}.weights", Layout.OIHW),
        Slot((*bn, "mean"), block.tensor("bn_means"), Layout.SAME),
        Slot((*bn, "var"), block.tensor("bn_stddivs"), Layout.SAME),
        Slot((*bn, "bias"), block.tensor("bn_betas"), Layout.SAME),
    ]
    if scaled:
        slots.append(Slot((*bn, "scale"), block.tensor("bn_gammas"), Layout.SAME))
    return slots, block


def _encoder_layer(ours: ParamPath, lc0: str) -> list[Slot]:
    slots = []
    for name, prefix in (("q", "q"), ("k", "k"), ("v", "v"), ("out", "dense")):
        slots += linear_slots((*ours, name), f"{lc0}.mha.{prefix}_w", f"{lc0}.mha.{prefix}_b")
    return [
        *slots,
        *norm_slots((*ours, "ln1"), f"{lc0}.ln1_gammas", f"{lc0}.ln1_betas"),
        *linear_slots((*ours, "ffn1"), f"{lc0}.ffn.dense1_w", f"{lc0}.ffn.dense1_b"),
        *linear_slots((*ours, "ffn2"), f"{lc0}.ffn.dense2_w", f"{lc0}.ffn.dense2_b"),
        *norm_slots((*ours, "ln2"), f"{lc0}.ln2_gammas", f"{lc0}.ln2_betas"),
    ]


def resnet_slots(dims: ResNetDims) -> tuple[list[Slot], list[BatchNormBlock]]:
    """Every ResNet variable (batch statistics included) with its lc0 tensor, and the BN blocks."""
    slots: list[Slot] = []
    blocks: list[BatchNormBlock] = []

    def conv_block(module: ParamPath, lc0: str, *, scaled: bool, conv: str = "conv", bn: str = "bn") -> None:
        new, block = _conv_block((*module, conv), (*module, bn), lc0, scaled=scaled)
        slots.extend(new)
        blocks.append(block)

    conv_block(("input_block",), "input", scaled=True)
    for i in range(dims.blocks):
        ours: ParamPath = ("blocks", i)
        conv_block(ours, f"residual[{i}].conv1", scaled=False, conv="conv1", bn="bn1")
        conv_block(ours, f"residual[{i}].conv2", scaled=True, conv="conv2", bn="bn2")
        if dims.se_channels:
            se = f"residual[{i}].se"
            slots += [*linear_slots((*ours, "se", "dense1"), f"{se}.w1", f"{se}.b1"),
                      *linear_slots((*ours, "se", "dense2"), f"{se}.w2", f"{se}.b2")]
    match dims.policy:
        case model_pb2.POLICY_CONVOLUTION:
            conv_block(("policy", "conv_block"), "policy1", scaled=False)
            slots += [Slot(("policy", "conv", "kernel"), "policy.weights", Layout.OIHW),
                      Slot(("policy", "conv", "bias"), "policy.biases", Layout.SAME)]
        case model_pb2.POLICY_CLASSICAL:
            conv_block(("policy", "conv_block"), "policy", scaled=False)
            slots += linear_slots(("policy", "dense"), "ip_pol_w", "ip_pol_b")
        case model_pb2.POLICY_ATTENTION:
            slots += linear_slots(("policy", "embedding"), "ip_pol_w", "ip_pol_b")
            for i in range(dims.pol_encoder_layers):
                slots += _encoder_layer(("policy", "encoders", i), f"pol_encoder[{i}]")
            slots += [*linear_slots(("policy", "wq"), "ip2_pol_w", "ip2_pol_b"),
                      *linear_slots(("policy", "wk"), "ip3_pol_w", "ip3_pol_b"),
                      *linear_slots(("policy", "promotion"), "ip4_pol_w")]
    conv_block(("value", "conv_block"), "value", scaled=False)
    slots += [*linear_slots(("value", "dense1"), "ip1_val_w", "ip1_val_b"),
              *linear_slots(("value", "dense2"), "ip2_val_w", "ip2_val_b")]
    if dims.moves_left == model_pb2.MOVES_LEFT_V1:
        conv_block(("moves_left", "conv_block"), "moves_left", scaled=False)
        slots += [*linear_slots(("moves_left", "dense1"), "ip1_mov_w", "ip1_mov_b"),
                  *linear_slots(("moves_left", "dense2"), "ip2_mov_w", "ip2_mov_b")]
    return slots, blocks


def constant_gammas(blocks: list[BatchNormBlock], channels: dict[str, int]) -> dict[str, np.ndarray]:
    """The bn_gammas export writes for our γ-less BNs (ones; lc0 needs gammas beside betas)."""
    return {b.tensor("bn_gammas"): np.ones(channels[b.lc0], np.float32) for b in blocks if not b.scaled}


def canonical_conv_blocks(tensors: dict[str, np.ndarray], blocks: list[BatchNormBlock]) -> None:
    """Rewrites each block's tensors in place to the form export writes (see the module doc)."""
    for block in blocks:
        weights = tensors.get(block.tensor("weights"))
        biases = tensors.pop(block.tensor("biases"), None)
        present: dict[str, Any] = {name: tensors.get(block.tensor(name)) for name in _BN_TENSORS}
        if present["bn_means"] is None and present["bn_stddivs"] is None:
            if biases is None:
                raise NetFileError(f"{block.lc0} has neither biases nor batch-norm statistics")
            channels = biases.size
            present.update(bn_means=np.zeros(channels, np.float32), bn_stddivs=np.full(channels, 1.0 - BN_EPSILON, np.float32))
        elif present["bn_means"] is None or present["bn_stddivs"] is None:
            raise NetFileError(f"{block.lc0} has only one of bn_means and bn_stddivs")
        bn: dict[str, Any] = present  # from here on every BN tensor is set
        channels = bn["bn_means"].size
        if weights is None:
            raise NetFileError(f"missing tensor {block.tensor('weights')}")
        if bn["bn_betas"] is None and bn["bn_gammas"] is None:  # lc0: old nets without γ and β
            bn.update(bn_betas=np.zeros(channels, np.float32), bn_gammas=np.ones(channels, np.float32))
        elif bn["bn_betas"] is None or bn["bn_gammas"] is None:
            raise NetFileError(f"{block.lc0} has only one of bn_betas and bn_gammas")
        for name, values in bn.items():
            if values.size != channels:
                raise NetFileError(f"tensor {block.tensor(name)} has {values.size} values, but {block.lc0} has {channels} channels")
        if biases is not None:
            if biases.size != channels:
                raise NetFileError(f"tensor {block.tensor('biases')} has {biases.size} values, but {block.lc0} has {channels} channels")
            bn["bn_means"] = bn["bn_means"] - biases
        if not block.scaled:
            gammas = bn.pop("bn_gammas")
            if (gammas <= 0).any():
                raise NetFileError(f"tensor {block.tensor('bn_gammas')} has values <= 0 where our batch norm has no γ")
            bn["bn_stddivs"] = ((bn["bn_stddivs"] + BN_EPSILON) / gammas**2 - BN_EPSILON).astype(np.float32)
            tensors.pop(block.tensor("bn_gammas"), None)
        for name, values in bn.items():
            tensors[block.tensor(name)] = np.asarray(values, np.float32)
