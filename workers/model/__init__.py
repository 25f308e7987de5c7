"""The networks and their constructor: the BT-style transformer or a legacy SE-ResNet."""

from flax import nnx
from jax.typing import DTypeLike

from lc0train import model_pb2

from workers.model.dims import NetDims
from workers.model.resnet import LegacyOutput, ResNet
from workers.model.resolved import ResolvedModel
from workers.model.transformer import BTNet, ModelOutput

__all__ = ["BTNet", "LegacyOutput", "ModelOutput", "ResNet", "ResolvedModel", "build_model"]


def build_model(model: ResolvedModel | model_pb2.ModelConfig, seed: int, compute_dtype: DTypeLike | None = None) -> BTNet | ResNet:
    """A freshly initialised network (f32 parameters) of `model` (a config is resolved first);
    the same seed gives the same parameters."""
    if isinstance(model, model_pb2.ModelConfig):
        model = ResolvedModel.from_config(model)
    rngs = nnx.Rngs(params=seed)
    if isinstance(model.dims, NetDims):
        return BTNet(model.dims, model.heads, rngs=rngs, compute_dtype=compute_dtype)
    return ResNet(model.dims, rngs=rngs, compute_dtype=compute_dtype)
