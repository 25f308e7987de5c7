"""Convolutions of the legacy residual nets, channels-last, and their lc0 weight layout.

Activations inside the residual net are NHWC `[B, 8, 8, C]` with H = rank (rank 1 first)
and W = file (a-file first), so square = 8·h + w, lc0's square order. Kernels are nnx's
HWIO `[kh, kw, in, out]`; lc0 files hold OIHW `[out, in, kh, kw]` with the same spatial
orientation (h along ranks, w along files; cross-correlation in both):

    lc0_oihw = kernel_hwio.transpose(3, 2, 0, 1)      (`hwio_to_oihw`)
    kernel_hwio = lc0_oihw.transpose(2, 3, 1, 0)      (`oihw_to_hwio`)

Dense kernels are nnx's `[in, out]`; lc0 stores `[out][in]` (transpose). Dense layers fed
by a flattened conv output see it in lc0's channel-major order `c·64 + square`.

Every conv runs through `workers.model.conv_grad.conv_general_dilated`: XLA's own
convolution forward, and on CPU a backward pass written as two NHWC/HWIO convolutions
(same numbers as autodiff; see that module for why).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.typing import DTypeLike

from workers.model.activations import activation_fn
from workers.model.batchnorm import BatchNorm, BatchNormSettings
from workers.model.conv_grad import conv_general_dilated

# The legacy trainer initialises every conv and dense kernel with glorot_normal.
glorot_normal = nnx.initializers.glorot_normal()


def hwio_to_oihw(kernel: np.ndarray | jax.Array) -> np.ndarray:
    """An nnx conv kernel in lc0's OIHW layout."""
    return np.asarray(kernel).transpose(3, 2, 0, 1)


def oihw_to_hwio(kernel: np.ndarray | jax.Array) -> np.ndarray:
    """An lc0 OIHW conv kernel in nnx's HWIO layout."""
    return np.asarray(kernel).transpose(2, 3, 1, 0)


def nhwc_to_channel_major(x_bhwc: jax.Array) -> jax.Array:
    """Flatten `[B, 8, 8, C]` in lc0's order: index c·64 + square."""
    b = x_bhwc.shape[0]
    return jnp.transpose(x_bhwc, (0, 3, 1, 2)).reshape(b, -1)


@dataclasses.dataclass(frozen=True)
class ConvLayers:
    """Builds convs, BNs and dense layers with one parameter/compute dtype and BN settings."""

    bn: BatchNormSettings
    param_dtype: DTypeLike = jnp.float32
    compute_dtype: DTypeLike | None = None

    def conv(self, cin: int, cout: int, size: int, *, use_bias: bool, rngs: nnx.Rngs) -> nnx.Conv:
        return nnx.Conv(
            cin,
            cout,
            kernel_size=(size, size),
            padding="SAME",
            use_bias=use_bias,
            kernel_init=glorot_normal,
            dtype=self.compute_dtype,
            param_dtype=self.param_dtype,
            conv_general_dilated=conv_general_dilated,
            rngs=rngs,
        )

    def batch_norm(self, features: int, *, use_scale: bool) -> BatchNorm:
        return BatchNorm(
            features,
            settings=self.bn,
            use_scale=use_scale,
            param_dtype=self.param_dtype,
            compute_dtype=self.compute_dtype,
        )

    def linear(self, cin: int, cout: int, *, rngs: nnx.Rngs, use_bias: bool = True) -> nnx.Linear:
        return nnx.Linear(
            cin,
            cout,
            use_bias=use_bias,
            kernel_init=glorot_normal,
            dtype=self.compute_dtype,
            param_dtype=self.param_dtype,
            rngs=rngs,
        )


class ConvBlock(nnx.Module):
    """conv (no bias) → BN (γ only if `use_scale`) → activation, lc0's ConvBlock."""

    def __init__(
        self,
        cin: int,
        cout: int,
        size: int,
        activation: int,
        *,
        use_scale: bool,
        layers: ConvLayers,
        rngs: nnx.Rngs,
    ):
        self.conv = layers.conv(cin, cout, size, use_bias=False, rngs=rngs)
        self.bn = layers.batch_norm(cout, use_scale=use_scale)
        self.activation = activation

    def __call__(self, x_bhwc: jax.Array, *, train: bool | None = None) -> jax.Array:
        return activation_fn(self.activation)(self.bn(self.conv(x_bhwc), train=train))
