"""The networks and their constructor: the BT-style transformer or a legacy SE-ResNet."""

from flax import nnx
from jax.typing import DTypeLike

from lc0train import model_pb2

from workers.model.resnet import LegacyOutput, ResNet
from workers.model.transformer import BTNet, ModelOutput

__all__ = ["BTNet", "LegacyOutput", "ModelOutput", "ResNet", "build_model"]


def build_model(config: model_pb2.ModelConfig, seed: int, compute_dtype: DTypeLike | None = None) -> BTNet | ResNet:
    """A freshly initialised network (f32 parameters) for `config.body`; the same seed gives the same parameters."""
    rngs = nnx.Rngs(params=seed)
    match config.body:
        case model_pb2.BODY_TRANSFORMER:
            return BTNet(config, rngs=rngs, compute_dtype=compute_dtype)
        case model_pb2.BODY_RESNET:
            return ResNet(config, rngs=rngs, compute_dtype=compute_dtype)
        case other:
            raise ValueError(f"model.body {other} is not a known body")
