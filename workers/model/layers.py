"""Layer factories with the net's dtypes, DeepNorm init and the feed-forward block.

Every dense layer here runs on 2-D token arrays `[B·64, features]`: with 3-D activations
XLA:CPU adds transposed copies of each input for the weight gradients.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike

from workers.model.activations import activation_fn
from workers.model.dims import DENSE_LAYER_NORM_EPS


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
        extra: dict[str, Any] = {} if kernel_init is None else {"kernel_init": kernel_init}
        return nnx.Linear(
            in_features,
            out_features,
            use_bias=use_bias,
            dtype=self.compute_dtype,
            param_dtype=self.param_dtype,
            rngs=rngs,
            **extra,
        )

    def layer_norm(self, features: int, *, rngs: nnx.Rngs, epsilon: float = DENSE_LAYER_NORM_EPS) -> nnx.LayerNorm:
        """LayerNorm over the last axis; lc0 uses 1e-3 in PE_DENSE bodies, smolgen and the embedding."""
        return nnx.LayerNorm(
            features,
            epsilon=epsilon,
            dtype=self.compute_dtype,
            param_dtype=self.param_dtype,
            rngs=rngs,
        )

    def norm(self, features: int, *, rngs: nnx.Rngs, epsilon: float, rms: bool) -> nnx.LayerNorm | nnx.RMSNorm:
        """An encoder norm: LayerNorm, or RMSNorm x·rsqrt(mean(x²) + ε)·γ (no β) when `rms`."""
        if not rms:
            return self.layer_norm(features, rngs=rngs, epsilon=epsilon)
        return nnx.RMSNorm(
            features,
            epsilon=epsilon,
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
        use_bias: bool = True,
    ):
        init = deepnorm_init(beta)
        self.dense1 = layers.linear(features, hidden, kernel_init=init, use_bias=use_bias, rngs=rngs)
        self.dense2 = layers.linear(hidden, features, kernel_init=init, use_bias=use_bias, rngs=rngs)
        self.activation = activation

    def __call__(self, x_te: jax.Array) -> jax.Array:
        return self.dense2(activation_fn(self.activation)(self.dense1(x_te)))
