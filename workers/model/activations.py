"""Activation functions selected by lc0's `Activation` enum (net.proto ActivationFunction)."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from lc0train import model_pb2

ActivationFn = Callable[[jax.Array], jax.Array]


def mish(x: jax.Array) -> jax.Array:
    """Mish, x·tanh(softplus(x)), written with a single exp.

    tanh(log(1 + eˣ)) = n / (n + 2) with n = eˣ(eˣ + 2); above 20 the ratio is 1 in f32,
    so the exponent is clamped there to avoid overflow.
    """
    e = jnp.exp(jnp.minimum(x, 20.0))
    n = e * (e + 2.0)
    return x * (n / (n + 2.0))


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
