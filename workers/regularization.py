"""The legacy coupled L2 term: 5e-5·Σ‖W‖² over exactly the legacy set of parameters.

The set is defined here and nowhere else, as glob patterns over "/"-joined parameter
paths (docs/regularization.md lists it). For the BT transformer it is what the legacy
attention body regularised: the input embedding kernel, the policy/value/moves-left token
embeddings and the value and moves-left dense layers (plus the WDL output bias). Encoder
q/k/v/out, FFNs, smolgen, the policy q/k and promotion kernels, norms, gates and all
other biases are not regularised.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import jax
import jax.numpy as jnp

L2_COEFFICIENT = 5e-5  # Keras l2(5e-5): 0.5·1e-4·‖W‖², hard-coded in the legacy trainer

L2_PATTERNS = (
    "embedding/square/kernel",
    "policy/tokens/kernel",
    "value/embed/kernel",
    "value/dense1/kernel",
    "value/dense2/kernel",
    "value/dense2/bias",  # WDL heads only (the legacy classical tanh head left it out)
    "moves_left/embed/kernel",
    "moves_left/dense1/kernel",
    "moves_left/dense2/kernel",
)


def param_path(path: tuple[Any, ...]) -> str:
    return "/".join(str(getattr(key, "key", key)) for key in path)


def _regularized_leaves(params: Any) -> list[tuple[str, jax.Array]]:
    leaves = ((param_path(path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0])
    return [(p, leaf) for p, leaf in leaves if any(fnmatch.fnmatchcase(p, pattern) for pattern in L2_PATTERNS)]


def regularized_paths(params: Any) -> list[str]:
    """The parameter paths the L2 term covers, in tree order."""
    return [path for path, _ in _regularized_leaves(params)]


def l2_term(params: Any) -> jax.Array:
    """5e-5·Σ‖W‖² over the regularised parameters (float32)."""
    squares = [jnp.sum(jnp.square(leaf.astype(jnp.float32))) for _, leaf in _regularized_leaves(params)]
    return L2_COEFFICIENT * sum(squares, jnp.zeros((), jnp.float32))
