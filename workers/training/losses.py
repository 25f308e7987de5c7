"""Loss terms and evaluation metrics of the lc0 heads, in float32.

Policy: cross-entropy (legacy classic: no target renormalisation) or KL with an optional
temperature (BT era: targets y^(1/T) renormalised); illegal moves are masked out of the
softmax (`mask_legal_moves`) or trained towards zero. A record whose legal targets sum to
zero carries no policy information: it is left out of the policy mean and counted.
Value: WDL cross-entropy against the game result z and against the search value q.
Moves-left: Huber on plies/20 with delta 0.5.
BT-era auxiliary heads (docs/losses.md): per-sample weighted KL for the optimistic
short-term policy, cross-entropy against a played move index for the opponent/next-move
policies (rows without a move are left out), and for the q/st value heads a squared-error
prediction and a categorical-bucket cross-entropy.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

MOVES_LEFT_SCALE = 20.0
MOVES_LEFT_HUBER_DELTA = 0.5
MASKED_LOGIT = -1e10  # the legacy constant: no gradient flows to masked logits
ACCURACY_THRESHOLDS = (1, 2, 5, 10)  # P@x%: predicted probability of the target's best move > x%


class Targets(NamedTuple):
    """Device-side training targets of one batch."""

    policy: jax.Array  # [B, 1858], -1 marks an illegal move
    result_wdl: jax.Array  # [B, 3] game result z
    q_wdl: jax.Array  # [B, 3] search value q (best move or root)
    plies_left: jax.Array  # [B]


def policy_log_probs(policy_logits: jax.Array, policy_target: jax.Array, mask_legal_moves: bool) -> jax.Array:
    """Log-softmax of the policy logits, illegal moves masked out when asked."""
    logits = policy_logits.astype(jnp.float32)
    if mask_legal_moves:
        logits = jnp.where(policy_target >= 0, logits, MASKED_LOGIT)
    return jax.nn.log_softmax(logits, axis=-1)


def policy_loss(log_probs: jax.Array, policy_target: jax.Array, *, kl: bool, temperature: float = 1.0,
                weights: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """(mean loss over rows with a non-zero target, number of all-zero rows).

    Per-sample `weights` [B] scale each row's loss; the mean stays over the rows (not Σw),
    as in the legacy trainer."""
    target = jnp.maximum(policy_target.astype(jnp.float32), 0.0)
    valid = jnp.sum(target, axis=-1) > 0
    if kl:
        tempered = target ** (1.0 / temperature) if temperature != 1.0 else target
        norm = jnp.sum(tempered, axis=-1, keepdims=True)
        target = tempered / jnp.where(norm > 0, norm, 1.0)
    cross_entropy = -jnp.sum(jnp.where(target > 0, target * log_probs, 0.0), axis=-1)
    per_row = cross_entropy + (jnp.sum(jax.scipy.special.xlogy(target, target), axis=-1) if kl else 0.0)
    if weights is not None:
        per_row = per_row * weights
    count = jnp.sum(valid)
    loss = jnp.sum(jnp.where(valid, per_row, 0.0)) / jnp.maximum(count, 1)
    return loss, (valid.shape[0] - count).astype(jnp.float32)


def value_cross_entropy(wdl_logits: jax.Array, wdl_target: jax.Array) -> jax.Array:
    return jnp.mean(optax.softmax_cross_entropy(wdl_logits.astype(jnp.float32), wdl_target))


def scalar_value_mse(value: jax.Array, wdl_target: jax.Array) -> jax.Array:
    """Classical (tanh) value head: mean squared error against the target's expected score W−L."""
    return jnp.mean(jnp.square((wdl_target[:, 0] - wdl_target[:, 2]) - value.astype(jnp.float32)))


def moves_left_huber(moves_left: jax.Array, plies_left: jax.Array) -> jax.Array:
    scaled_error = (moves_left.astype(jnp.float32) - plies_left) / MOVES_LEFT_SCALE
    return jnp.mean(optax.huber_loss(scaled_error, delta=MOVES_LEFT_HUBER_DELTA))


def mixed_value_target(targets: Targets, q_ratio: float) -> jax.Array:
    """q_ratio·q + (1 − q_ratio)·z as WDL vectors."""
    return q_ratio * targets.q_wdl + (1.0 - q_ratio) * targets.result_wdl


def value_mse(wdl_logits: jax.Array, wdl_target: jax.Array) -> jax.Array:
    """Mean squared error of the expected score W−L, divided by 4 as the legacy trainer reports it."""
    probs = jax.nn.softmax(wdl_logits.astype(jnp.float32), axis=-1)
    return jnp.mean(jnp.square((probs[:, 0] - probs[:, 2]) - (wdl_target[:, 0] - wdl_target[:, 2]))) / 4.0


def policy_metrics(log_probs: jax.Array, policy_target: jax.Array) -> dict[str, jax.Array]:
    """Accuracy, entropy, the uniform-over-legal loss ("P UL") and P@x% of the policy head."""
    target = jnp.maximum(policy_target, 0.0)
    legal = policy_target >= 0
    best = jnp.argmax(target, axis=-1)
    probs = jnp.exp(log_probs)
    best_prob = jnp.take_along_axis(probs, best[:, None], axis=-1)[:, 0]
    n_legal = jnp.maximum(jnp.sum(legal, axis=-1), 1)
    metrics = {
        "policy_accuracy": jnp.mean((jnp.argmax(log_probs, axis=-1) == best).astype(jnp.float32)),
        "policy_entropy": jnp.mean(-jnp.sum(jnp.where(probs > 0, probs * log_probs, 0.0), axis=-1)),
        "policy_uniform_loss": jnp.mean(-jnp.sum(jnp.where(legal, log_probs, 0.0), axis=-1) / n_legal),
    }
    for x in ACCURACY_THRESHOLDS:
        metrics[f"policy_p_at_{x}pct"] = jnp.mean((best_prob > x / 100).astype(jnp.float32))
    return metrics


def wdl_metrics(wdl_logits: jax.Array, value_target: jax.Array) -> dict[str, jax.Array]:
    """Value accuracy and MSE/4 of a WDL head against the (mixed) target."""
    return {
        "value_accuracy": jnp.mean((jnp.argmax(wdl_logits, axis=-1) == jnp.argmax(value_target, axis=-1)).astype(jnp.float32)),
        "value_mse": value_mse(wdl_logits, value_target),
    }


OPTIMISTIC_SLOPE = 3.0  # w = sigmoid(3·(z − 2)), z = (s* − ŝ)/(√ê + 1e-5): the tf-214 constants
OPTIMISTIC_OFFSET = 2.0
OPTIMISTIC_EPS = 1e-5
CATEGORICAL_TOP = 1.0 - 1e-9


def expected_score(wdl: jax.Array) -> jax.Array:
    """W − L of WDL vectors [B, 3] → [B]."""
    return wdl[:, 0] - wdl[:, 2]


def optimistic_weights(st_target: jax.Array, st_logits: jax.Array, st_err: jax.Array) -> jax.Array:
    """Per-sample weights [B] of the optimistic short-term policy (no gradient flows through them).

    z = (s* − ŝ)/(√ê + 1e-5) is how many predicted standard deviations the short-term target
    s* = st_W − st_L lies above the st head's prediction ŝ; w = sigmoid(3·(z − 2)) favours
    positions that turned out better than the value head expected.
    """
    s_hat = expected_score(jax.nn.softmax(st_logits.astype(jnp.float32), axis=-1))
    z = (expected_score(st_target) - s_hat) / (jnp.sqrt(st_err.astype(jnp.float32)) + OPTIMISTIC_EPS)
    return jax.lax.stop_gradient(jax.nn.sigmoid(OPTIMISTIC_SLOPE * (z - OPTIMISTIC_OFFSET)))


def policy_kld(log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    """mean KL(p ‖ q) of two policies given as log-probabilities [B, N] (tf-214's "POST KLD":
    vanilla p against optimistic q); moves with p = 0 contribute nothing."""
    p = jnp.exp(log_p)
    return jnp.mean(jnp.sum(jnp.where(p > 0, p * (log_p - log_q), 0.0), axis=-1))


def move_index_loss(logits: jax.Array, move_index: jax.Array, num_moves: int) -> tuple[jax.Array, jax.Array]:
    """(cross-entropy of the played move over all 1858 logits, averaged over the rows that have one;
    number of rows without a move). Indices outside [0, num_moves) (the NO_MOVE sentinel) mark
    rows without a target: they contribute neither loss nor gradient; with none, the loss is 0."""
    valid = (move_index >= 0) & (move_index < num_moves)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, jnp.where(valid, move_index, 0)[:, None], axis=-1)[:, 0]
    count = jnp.sum(valid)
    loss = -jnp.sum(jnp.where(valid, picked, 0.0)) / jnp.maximum(count, 1)
    return loss, (valid.shape[0] - count).astype(jnp.float32)


def value_error_loss(err: jax.Array, wdl_logits: jax.Array, wdl_target: jax.Array) -> jax.Array:
    """mean((ê − (s* − ŝ)²)²): the error output learns the squared error of its head's
    expected score ŝ (gradient-stopped) against the target's s*."""
    s_hat = jax.lax.stop_gradient(expected_score(jax.nn.softmax(wdl_logits.astype(jnp.float32), axis=-1)))
    return jnp.mean(jnp.square(err.astype(jnp.float32) - jnp.square(expected_score(wdl_target) - s_hat)))


def value_buckets(wdl_target: jax.Array, buckets: int) -> jax.Array:
    """Bucket index [B] of the target's expected score: floor((clip(s*, −1, 1 − 1e-9) + 1)/2·K),
    capped at K − 1 (in float32 1 − 1e-9 rounds to 1, so a won target would fall past the end)."""
    s = jnp.clip(expected_score(wdl_target), -1.0, CATEGORICAL_TOP)
    return jnp.minimum(jnp.floor((s + 1.0) / 2.0 * buckets).astype(jnp.int32), buckets - 1)


def value_categorical_loss(cat_logits: jax.Array, wdl_target: jax.Array) -> jax.Array:
    """Cross-entropy of the categorical value logits [B, K] against the target's one-hot bucket."""
    labels = value_buckets(wdl_target, cat_logits.shape[-1])
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(cat_logits.astype(jnp.float32), labels))
