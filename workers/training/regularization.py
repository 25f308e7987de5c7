"""The legacy coupled L2 term: 5e-5·Σ‖W‖² over exactly the legacy set of parameters.

The set is defined here and nowhere else, as glob patterns over "/"-joined parameter
paths (docs/regularization.md lists it per body). Residual body: every conv kernel, the SE
dense kernels, the conv-policy output conv and the classical-policy dense layer (kernel
and bias), the attention-policy token embedding. Transformer: the input embedding kernel
and the policy/value/moves-left token embeddings, and the auxiliary q/st value heads like
the winner head. Both: the value and moves-left dense kernels plus the WDL output bias. Encoder q/k/v/out, FFNs, smolgen, policy q/k and
promotion kernels, norms, gates and all other biases are not regularised.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import jax
import jax.numpy as jnp

from workers.training.state import param_path

L2_COEFFICIENT = 5e-5  # Keras l2(5e-5): 0.5·1e-4·‖W‖², hard-coded in the legacy trainer

L2_PATTERNS = (
    # residual body (legacy SE-ResNet): every conv kernel, SE dense kernels, policy/value/moves-left convs
    "input_block/conv/kernel",
    "blocks/*/conv1/kernel",
    "blocks/*/conv2/kernel",
    "blocks/*/se/dense1/kernel",
    "blocks/*/se/dense2/kernel",
    "policy/conv_block/conv/kernel",
    "policy/conv/kernel",  # the convolution policy's final 80-plane conv: kernel and bias
    "policy/conv/bias",
    "policy/dense/kernel",  # the classical policy's dense layer: kernel and bias
    "policy/dense/bias",
    "policy/embedding/kernel",  # attention policy on a residual body
    "value/conv_block/conv/kernel",
    "moves_left/conv_block/conv/kernel",
    # transformer body
    "embedding/square/kernel",
    "policy/tokens/kernel",
    "value/embed/kernel",
    "value/dense1/kernel",
    "value/dense2/kernel",
    "value/dense2/bias",  # WDL heads only: the legacy classical tanh head left it out
    "moves_left/embed/kernel",
    "moves_left/dense1/kernel",
    "moves_left/dense2/kernel",
    # auxiliary value heads (q, st) like the winner head; their err/cat outputs and the
    # auxiliary policy heads' q/k/promotion are not regularised
    "aux_value/*/embed/kernel",
    "aux_value/*/dense1/kernel",
    "aux_value/*/dense2/kernel",
    "aux_value/*/dense2/bias",
)


def _is_regularized(path: str, leaf: jax.Array) -> bool:
    if path == "value/dense2/bias" and leaf.shape != (3,):
        return False  # classical (1-output) value head
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in L2_PATTERNS)


def _regularized_leaves(params: Any) -> list[tuple[str, jax.Array]]:
    leaves = ((param_path(path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0])
    return [(p, leaf) for p, leaf in leaves if _is_regularized(p, leaf)]


def regularized_paths(params: Any) -> list[str]:
    """The parameter paths the L2 term covers, in tree order."""
    return [path for path, _ in _regularized_leaves(params)]


def l2_term(params: Any) -> jax.Array:
    """5e-5·Σ‖W‖² over the regularised parameters (float32)."""
    squares = [jnp.sum(jnp.square(leaf.astype(jnp.float32))) for _, leaf in _regularized_leaves(params)]
    return L2_COEFFICIENT * sum(squares, jnp.zeros((), jnp.float32))
