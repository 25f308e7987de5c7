"""The BT-style transformer network and its constructor."""

from flax import nnx

from lc0train import model_pb2

from workers.model.transformer import BTNet, ModelOutput

__all__ = ["BTNet", "ModelOutput", "build_model"]


def build_model(config: model_pb2.ModelConfig, seed: int) -> BTNet:
    """A freshly initialised f32 network; the same seed gives the same parameters."""
    return BTNet(config, rngs=nnx.Rngs(params=seed))
