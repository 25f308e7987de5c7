"""Layer factories with the net's dtypes, DeepNorm init and the feed-forward block.

Every dense layer here runs on 2-D token arrays `[B·64, features]`: with 3-D activations
XLA:CPU adds transposed copies of each input for the weight gradients.
"""

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from workers.model.activations import activation_fn

# lc0 uses LayerNorm epsilon 1e-3 throughout PE_DENSE bodies, smolgen and the embedding.
LAYER_NORM_EPS = 1e-3


def deepnorm_init(beta: float) -> nnx.Initializer:
    """Xavier (fan_avg) truncated-normal init with variance scaled by `beta`."""
    return nnx.initializers.variance_scaling(beta, "fan_avg", "truncated_normal")


@dataclasses.dataclass(frozen=True)
class Layers:
    """Builds Linear and LayerNorm modules with one parameter and compute dtype."""

    param_dtype: DTypeLike = jnp.float32
    compute_dtype: DTypeLike | None = None

    def linear(
        self,
        in_features: int,
        out_features: int,
        *,
        rngs: nnx.Rngs,
        use_bias: bool = True,
        kernel_init: nnx.Initializer | None = None,
    ) -> nnx.Linear:
        """A dense layer; `kernel_init` defaults to Flax's LeCun normal."""
        extra = {} if kernel_init is None else {"kernel_init": kernel_init}
        return nnx.Linear(
            in_features,
            out_features,
            use_bias=use_bias,
            dtype=self.compute_dtype,
            param_dtype=self.param_dtype,
            rngs=rngs,
            **extra,
        )

    def layer_norm(self, features: int, *, rngs: nnx.Rngs) -> nnx.LayerNorm:
        """LayerNorm over the last axis with lc0's epsilon."""
        return nnx.LayerNorm(
            features,
            epsilon=LAYER_NORM_EPS,
            dtype=self.compute_dtype,
            param_dtype=self.param_dtype,
            rngs=rngs,
        )


class Ffn(nnx.Module):
    """Linear → activation → Linear, both kernels DeepNorm-initialised."""

    def __init__(
        self,
        features: int,
        hidden: int,
        activation: int,
        *,
        beta: float,
        layers: Layers,
        rngs: nnx.Rngs,
    ):
        init = deepnorm_init(beta)
        self.dense1 = layers.linear(features, hidden, kernel_init=init, rngs=rngs)
        self.dense2 = layers.linear(hidden, features, kernel_init=init, rngs=rngs)
        self.activation = activation

    def __call__(self, x_te: jax.Array) -> jax.Array:
        return self.dense2(activation_fn(self.activation)(self.dense1(x_te)))
