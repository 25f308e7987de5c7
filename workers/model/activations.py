"""Activation functions selected by lc0's `Activation` enum (net.proto ActivationFunction)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from lc0train import model_pb2

ActivationFn = Callable[[jax.Array], jax.Array]


def _mish_and_slope(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mish and its derivative from a single exp.

    tanh(softplus(x)) = n / (n + 2) with n = eˣ(eˣ + 2), and its derivative is
    4eˣ(eˣ + 1) / (n + 2)²; above x = 20 the ratio is 1 in f32, so the exponent is clamped
    there to avoid overflow.
    """
    e = jnp.exp(jnp.minimum(x, 20.0))
    n = e * (e + 2.0)
    inv = 1.0 / (n + 2.0)
    t = n * inv
    return x * t, t + x * (4.0 * e * (e + 1.0)) * (inv * inv)


@jax.custom_jvp
def mish(x: jax.Array) -> jax.Array:
    """Mish, x·tanh(softplus(x)); the backward pass keeps one residual array."""
    return _mish_and_slope(x)[0]


@mish.defjvp
def _mish_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    (x,), (dx,) = primals, tangents
    y, slope = _mish_and_slope(x)
    return y, slope * dx


def relu_squared(x: jax.Array) -> jax.Array:
    """ReLU followed by squaring (lc0's RELU_2)."""
    r = jax.nn.relu(x)
    return r * r


def identity(x: jax.Array) -> jax.Array:
    """No activation (lc0's NONE)."""
    return x


def resolve_activation(kind: int, default: int) -> int:
    """Replaces ACTIVATION_DEFAULT by `default`, which must itself be concrete."""
    resolved = default if kind == model_pb2.ACTIVATION_DEFAULT else kind
    if resolved == model_pb2.ACTIVATION_DEFAULT:
        raise ValueError(
            "model.default_activation is ACTIVATION_DEFAULT: set it to a concrete activation "
            "(MISH or RELU for an lc0-exportable net)"
        )
    return resolved


def activation_fn(kind: int, default: int = model_pb2.ACTIVATION_DEFAULT) -> ActivationFn:
    """The function for an `Activation` value; ACTIVATION_DEFAULT means `default`."""
    match resolve_activation(kind, default):
        case model_pb2.MISH:
            return mish
        case model_pb2.RELU:
            return jax.nn.relu
        case model_pb2.RELU_2:
            return relu_squared
        case model_pb2.SWISH:
            return jax.nn.silu
        case model_pb2.SELU:
            return jax.nn.selu
        case model_pb2.TANH:
            return jnp.tanh
        case model_pb2.SIGMOID:
            return jax.nn.sigmoid
        case model_pb2.NONE:
            return identity
        case other:
            raise ValueError(f"unknown Activation value {other}")
