"""Loss terms and metrics against independent NumPy implementations of the legacy formulas."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import ALL_HEADS, ROOT, SHRINK, TINY_CONFIG, data_overrides
from workers.training import losses
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.events import EventBus
from workers.training.regularization import L2_COEFFICIENT, regularized_paths
from workers.training.state import init_params
from workers.training.step import LOSS_TERMS
from workers.layout import JobPaths
from workers.training.loop import run_training

# Four rows over six moves: ordinary, several illegal moves, legal moves with all-zero
# targets (a record with no policy information), and a single legal move.
TARGET = np.array([
    [0.5, 0.3, -1.0, 0.2, 0.0, -1.0],
    [-1.0, 0.9, -1.0, -1.0, 0.1, 0.0],
    [0.0, 0.0, -1.0, 0.0, -1.0, 0.0],
    [-1.0, -1.0, 1.0, -1.0, -1.0, -1.0],
], np.float64)
LOGITS = np.random.default_rng(3).standard_normal(TARGET.shape)


def _numpy_policy_loss(logits: np.ndarray, target: np.ndarray, mask: bool, kl: bool, temperature: float) -> float:
    rows = []
    for ell, y in zip(logits, target):
        legal = y >= 0
        z = np.where(legal, ell, -1e10) if mask else ell
        logp = z - z.max() - np.log(np.sum(np.exp(z - z.max())))
        p = np.maximum(y, 0.0)
        if p.sum() == 0:
            continue  # no policy information: the row is left out
        if kl:
            p = p ** (1.0 / temperature)
            p = p / p.sum()
            rows.append(sum(pi * (np.log(pi) - lp) for pi, lp in zip(p, logp) if pi > 0))
        else:
            rows.append(-sum(pi * lp for pi, lp in zip(p, logp) if pi > 0))
    return float(np.mean(rows))


@pytest.mark.parametrize("mask", [True, False])
@pytest.mark.parametrize(("kl", "temperature"), [(False, 1.0), (True, 1.0), (True, 4.0)])
def test_policy_loss_values_and_gradients_match_numpy(mask: bool, kl: bool, temperature: float) -> None:
    def loss_fn(logits: jax.Array) -> jax.Array:
        log_probs = losses.policy_log_probs(logits, jnp.asarray(TARGET, jnp.float32), mask)
        return losses.policy_loss(log_probs, jnp.asarray(TARGET, jnp.float32), kl=kl, temperature=temperature)[0]

    logits = jnp.asarray(LOGITS, jnp.float32)
    value, grad = jax.value_and_grad(loss_fn)(logits)
    assert value == pytest.approx(_numpy_policy_loss(LOGITS, TARGET, mask, kl, temperature), rel=1e-5)
    # Central differences of the NumPy reference, in float64.
    eps, numeric = 1e-6, np.zeros_like(LOGITS)
    for index in np.ndindex(LOGITS.shape):
        up, down = LOGITS.copy(), LOGITS.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (_numpy_policy_loss(up, TARGET, mask, kl, temperature) - _numpy_policy_loss(down, TARGET, mask, kl, temperature)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(grad), numeric, atol=2e-5)
    assert np.all(np.isfinite(np.asarray(grad)))
    zero_rows = losses.policy_loss(losses.policy_log_probs(logits, jnp.asarray(TARGET), mask), jnp.asarray(TARGET), kl=kl)[1]
    assert float(zero_rows) == 1.0


def test_policy_metrics_match_numpy() -> None:
    log_probs = losses.policy_log_probs(jnp.asarray(LOGITS, jnp.float32), jnp.asarray(TARGET, jnp.float32), True)
    metrics = {k: float(v) for k, v in losses.policy_metrics(log_probs, jnp.asarray(TARGET, jnp.float32)).items()}
    lp = np.asarray(log_probs, np.float64)
    legal = TARGET >= 0
    uniform = np.mean([-lp[i][legal[i]].mean() for i in range(len(TARGET))])
    best = np.argmax(np.maximum(TARGET, 0), axis=1)
    best_prob = np.exp(lp[np.arange(len(TARGET)), best])
    assert metrics["policy_uniform_loss"] == pytest.approx(uniform, rel=1e-5)
    assert metrics["policy_accuracy"] == pytest.approx(np.mean(np.argmax(lp, axis=1) == best))
    for x in losses.ACCURACY_THRESHOLDS:
        assert metrics[f"policy_p_at_{x}pct"] == pytest.approx(np.mean(best_prob > x / 100))


@pytest.mark.parametrize("q_ratio", [0.0, 0.3, 1.0])
def test_q_ratio_gives_the_mixed_target_cross_entropy(q_ratio: float) -> None:
    settings = resolve(load_spec(TINY_CONFIG, [f"training.q_ratio={q_ratio}", "training.value_loss_weight=2"])).losses
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((5, 3))
    z = np.eye(3)[rng.integers(0, 3, 5)]
    q = rng.dirichlet(np.ones(3), 5)
    ours = settings.value_winner * float(losses.value_cross_entropy(jnp.asarray(logits), jnp.asarray(z))) + \
        settings.value_q * float(losses.value_cross_entropy(jnp.asarray(logits), jnp.asarray(q)))
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    mixed = q_ratio * q + (1 - q_ratio) * z
    assert ours == pytest.approx(2 * np.mean(-np.sum(mixed * log_softmax, axis=1)), rel=1e-5)


def test_moves_left_huber_straddles_delta() -> None:
    plies = np.array([10.0, 30.0, 50.0, 5.0])
    predicted = np.array([12.0, 45.0, 20.0, 5.5])  # scaled errors 0.1, 0.75, −1.5, 0.025
    e = (predicted - plies) / 20
    reference = np.mean(np.where(np.abs(e) <= 0.5, 0.5 * e**2, 0.5 * (np.abs(e) - 0.25)))
    assert float(losses.moves_left_huber(jnp.asarray(predicted), jnp.asarray(plies))) == pytest.approx(reference, rel=1e-6)


def _documented_l2_lists() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    for line in (ROOT / "docs" / "regularization.md").read_text().splitlines():
        if line.startswith("### "):
            current = sections.setdefault(line[4:].split(" ")[0], [])
        elif line.startswith("- `") and sections:
            current.append(line[3:].split("`")[0])
    return sections


RESNET = ["model.body=BODY_RESNET", "model.filters=8", "model.residual_blocks=2", "model.se_ratio=2"]


@pytest.mark.parametrize(("body", "overrides"), [("Transformer", []), ("SE-ResNet", RESNET), ("Multi-head", list(ALL_HEADS))])
def test_l2_covers_exactly_the_documented_parameters(body: str, overrides: list[str]) -> None:
    from workers.training.regularization import l2_term

    job = resolve(load_spec(TINY_CONFIG, overrides))
    params = init_params(job.model, 0).params
    documented = _documented_l2_lists()[body]
    assert regularized_paths(params) == documented
    flat = {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v, np.float64)
            for path, v in jax.tree_util.tree_flatten_with_path(params)[0]}
    assert float(l2_term(params)) == pytest.approx(L2_COEFFICIENT * sum(np.sum(flat[p] ** 2) for p in documented), rel=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["training.loss_weights.policy=1", "training.q_ratio=0.5"], r"training\.q_ratio: conflicts with training\.loss_weights"),
        (["training.loss_weights.policy_soft=8"],
         r"training\.loss_weights\.policy_soft: requires the soft policy head \(POLICY_HEAD_SOFT in model\.aux_policy_heads\)"),
        (["training.loss_weights.value_q=-1"], r"training\.loss_weights\.value_q: must be >= 0"),
        (["training.q_ratio=1.5"], r"training\.q_ratio: must be in \[0, 1\]"),
        (["training.reg_term_weight=-2"], r"training\.reg_term_weight: must be >= 0"),
    ],
)
def test_loss_fields_reject_bad_values_with_their_path(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(load_spec(TINY_CONFIG, overrides))


@pytest.mark.slow
@pytest.mark.parametrize("config", ["tiny.textproto", "bt4.textproto"])
def test_classic_and_bt_era_configs_train_with_every_term_finite(config: str, tmp_path: Path, generated_data: dict[str, Path]) -> None:
    overrides = [*SHRINK, *data_overrides(generated_data), "model.encoder_d_model=", "model.policy_embedding_size=", "model.policy_d_model=",
                 "model.value_embedding_size=4", "model.moves_left_embedding_size=2", "training.total_steps=50",
                 "training.train_avg_report_steps=25", "training.test_steps=50", "training.checkpoint_steps=0", "training.num_test_positions=16",
                 "training.validation_steps=", "dataset.input_validation=", "resources.hosts=", "model.smolgen_activation=SWISH"]
    job = resolve(load_spec(ROOT / "configs" / config, overrides))
    reports = []
    bus = EventBus()
    bus.subscribe(lambda event: reports.append(event) if event.kind == "train" else None)
    run_training(job, JobPaths(tmp_path), bus)
    assert [r.step for r in reports] == [25, 50]
    for report in reports:
        for term in LOSS_TERMS:
            assert np.isfinite(report.metrics[term]), (config, term)
    assert reports[-1].metrics["policy_loss"] < reports[0].metrics["policy_loss"] + 0.5
