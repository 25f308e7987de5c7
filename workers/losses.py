"""Loss terms and evaluation metrics of the classic lc0 heads.

Every function takes the model's outputs and the decoded batch targets and returns
per-batch means in float32. The policy loss is cross-entropy against the search
distribution over legal moves only (illegal logits are masked to -inf, as the legacy
trainer's `mask_legal_moves`); the value loss is WDL cross-entropy against the game
result; the moves-left loss is Huber on plies/20 with delta 0.5.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

MOVES_LEFT_SCALE = 20.0
MOVES_LEFT_HUBER_DELTA = 0.5


class Targets(NamedTuple):
    """Device-side training targets of one batch."""

    policy: jax.Array  # [B, 1858], -1 marks an illegal move
    result_wdl: jax.Array  # [B, 3]
    plies_left: jax.Array  # [B]


def masked_log_policy(policy_logits: jax.Array, policy_target: jax.Array) -> jax.Array:
    """Log-softmax over the legal moves only; illegal entries are -inf."""
    legal = policy_target >= 0
    logits = jnp.where(legal, policy_logits.astype(jnp.float32), -jnp.inf)
    return jax.nn.log_softmax(logits, axis=-1)


def policy_cross_entropy(log_policy: jax.Array, policy_target: jax.Array) -> jax.Array:
    """Mean over the batch of −Σ p·log q over legal moves (illegal moves carry no target)."""
    target = jnp.maximum(policy_target, 0.0)
    per_row = -jnp.sum(jnp.where(target > 0, target * log_policy, 0.0), axis=-1)
    return jnp.mean(per_row)


def value_cross_entropy(wdl_logits: jax.Array, wdl_target: jax.Array) -> jax.Array:
    return jnp.mean(optax.softmax_cross_entropy(wdl_logits.astype(jnp.float32), wdl_target))


def moves_left_huber(moves_left: jax.Array, plies_left: jax.Array) -> jax.Array:
    scaled_error = (moves_left.astype(jnp.float32) - plies_left) / MOVES_LEFT_SCALE
    return jnp.mean(optax.huber_loss(scaled_error, delta=MOVES_LEFT_HUBER_DELTA))


def value_mse(wdl_logits: jax.Array, wdl_target: jax.Array) -> jax.Array:
    """Mean squared error of the expected score W−L, divided by 4 as the legacy trainer reports it."""
    probs = jax.nn.softmax(wdl_logits.astype(jnp.float32), axis=-1)
    predicted = probs[:, 0] - probs[:, 2]
    target = wdl_target[:, 0] - wdl_target[:, 2]
    return jnp.mean(jnp.square(predicted - target)) / 4.0


def evaluation_metrics(log_policy: jax.Array, wdl_logits: jax.Array, moves_left: jax.Array, targets: Targets) -> dict[str, jax.Array]:
    """Test-time metrics: policy accuracy and entropy, value accuracy, moves-left mean error."""
    target = jnp.maximum(targets.policy, 0.0)
    policy_hit = jnp.argmax(log_policy, axis=-1) == jnp.argmax(target, axis=-1)
    probs = jnp.exp(log_policy)
    entropy = -jnp.sum(jnp.where(probs > 0, probs * log_policy, 0.0), axis=-1)
    value_hit = jnp.argmax(wdl_logits, axis=-1) == jnp.argmax(targets.result_wdl, axis=-1)
    return {
        "policy_accuracy": jnp.mean(policy_hit.astype(jnp.float32)),
        "policy_entropy": jnp.mean(entropy),
        "value_accuracy": jnp.mean(value_hit.astype(jnp.float32)),
        "moves_left_mean_error": jnp.mean(jnp.abs(moves_left - targets.plies_left)),
    }
