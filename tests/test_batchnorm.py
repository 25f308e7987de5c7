"""Legacy batch norm (plain, batch renorm, ghost) against NumPy versions of the legacy formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from lc0train import model_pb2

from workers.model.batchnorm import BatchNorm, BatchNormSettings

EPS = 1e-5


def _input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = shape[-1]
    return (rng.normal(size=shape) * rng.uniform(0.5, 3.0, c) + rng.normal(size=c) * 2).astype(np.float32)


def _bn(settings: BatchNormSettings, c: int, *, use_scale: bool = True, seed: int = 1) -> BatchNorm:
    bn = BatchNorm(c, settings=settings, use_scale=use_scale)
    rng = np.random.default_rng(seed)
    bn.bias[...] = jnp.asarray(rng.normal(size=c), jnp.float32)
    if use_scale:
        bn.scale[...] = jnp.asarray(rng.uniform(0.5, 2.0, c), jnp.float32)
    bn.mean[...] = jnp.asarray(rng.normal(size=c), jnp.float32)
    bn.var[...] = jnp.asarray(rng.uniform(0.5, 2.0, c), jnp.float32)
    return bn


def _np(v: nnx.Variable) -> np.ndarray:
    return np.asarray(v[...], np.float64)


# ---- NumPy versions of the legacy formulas (Keras BatchNormalization, channels last) ----

def np_batch_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x.astype(np.float64).reshape(-1, x.shape[-1])
    return x.mean(axis=0), x.var(axis=0)  # biased variance


def np_plain_train(x, gamma, beta, mean, var, m=0.99):
    mu, s2 = np_batch_moments(x)
    y = gamma * (x - mu) / np.sqrt(s2 + EPS) + beta
    return y, m * mean + (1 - m) * mu, m * var + (1 - m) * s2


def np_renorm_train(x, gamma, beta, stats, max_r, max_d, renorm_m, m=0.99):
    mu, s2 = np_batch_moments(x)
    sigma = np.sqrt(s2 + EPS)
    s_tilde = np.maximum(stats["renorm_stddev"], np.sqrt(EPS))
    r_raw = sigma / s_tilde
    d_raw = (mu - stats["renorm_mean"]) / s_tilde
    r = np.clip(r_raw, 1 / max_r, max_r)
    d = np.clip(d_raw, -max_d, max_d)
    y = gamma * (r * (x - mu) / sigma + d) + beta
    new = {
        "renorm_mean": renorm_m * stats["renorm_mean"] + (1 - renorm_m) * mu,
        "renorm_stddev": renorm_m * stats["renorm_stddev"] + (1 - renorm_m) * sigma,
        "mean": m * stats["mean"] + (1 - m) * mu,
        "stddev": m * stats["stddev"] + (1 - m) * sigma,
    }
    new["var"] = np.maximum(new["stddev"] ** 2 - EPS, 0.0)
    return y, new, r_raw, d_raw, r


def np_eval(x, gamma, beta, mean, var):
    return gamma * (x - mean) / np.sqrt(var + EPS) + beta


# ---- plain BN ----

def test_plain_train_output_and_statistics_match_numpy() -> None:
    x = _input((6, 8, 8, 5))
    bn = _bn(BatchNormSettings(), 5)
    gamma, beta, mean, var = _np(bn.scale), _np(bn.bias), _np(bn.mean), _np(bn.var)
    y = np.asarray(bn(jnp.asarray(x), train=True))
    want_y, want_mean, want_var = np_plain_train(x, gamma, beta, mean, var)
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_np(bn.mean), want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(bn.var), want_var, rtol=1e-5, atol=1e-6)
    # The biased variance, not the Bessel-corrected one.
    unbiased = 0.99 * var + 0.01 * x.reshape(-1, 5).var(axis=0, ddof=1)
    assert not np.allclose(_np(bn.var), unbiased, rtol=1e-6, atol=0)


def test_eval_uses_moving_statistics_and_leaves_them_alone() -> None:
    x = _input((4, 8, 8, 3))
    bn = _bn(BatchNormSettings(), 3)
    before = (_np(bn.mean), _np(bn.var))
    want = np_eval(x, _np(bn.scale), _np(bn.bias), *before)
    np.testing.assert_allclose(np.asarray(bn(jnp.asarray(x), train=False)), want, rtol=1e-4, atol=1e-4)
    bn.eval()  # nnx convention: use_running_average=True
    np.testing.assert_allclose(np.asarray(bn(jnp.asarray(x))), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(_np(bn.mean), before[0])
    np.testing.assert_array_equal(_np(bn.var), before[1])
    # An explicit train=True wins over the module attribute.
    y_train = np.asarray(bn(jnp.asarray(x), train=True))
    assert not np.allclose(y_train, want, atol=1e-2)
    assert not np.array_equal(_np(bn.mean), before[0])


def test_default_mode_is_training_and_no_gamma_means_one() -> None:
    x = _input((4, 2))
    bn = _bn(BatchNormSettings(), 2, use_scale=False)
    assert bn.scale is None
    y = np.asarray(bn(jnp.asarray(x)))
    want, _, _ = np_plain_train(x, 1.0, _np(bn.bias), np.zeros(2), np.ones(2))
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)


def test_statistics_are_batch_stats_not_params() -> None:
    plain = BatchNorm(4, settings=BatchNormSettings(), use_scale=True)
    renorm = BatchNorm(4, settings=BatchNormSettings(renorm=True), use_scale=False)
    assert set(nnx.state(plain, nnx.BatchStat).keys()) == {"mean", "var"}
    assert set(nnx.state(plain, nnx.Param).keys()) == {"bias", "scale"}
    assert set(nnx.state(renorm, nnx.BatchStat).keys()) == {"mean", "var", "stddev", "renorm_mean", "renorm_stddev"}
    assert set(nnx.state(renorm, nnx.Param).keys()) == {"bias"}
    np.testing.assert_array_equal(_np(renorm.stddev), 1.0)
    np.testing.assert_array_equal(_np(renorm.renorm_stddev), 1.0)
    np.testing.assert_array_equal(_np(renorm.renorm_mean), 0.0)


# ---- batch renorm ----

def _renorm_bn(c: int, settings: BatchNormSettings) -> tuple[BatchNorm, dict[str, np.ndarray]]:
    bn = _bn(settings, c)
    rng = np.random.default_rng(7)
    bn.stddev[...] = jnp.asarray(rng.uniform(0.5, 2.0, c), jnp.float32)
    bn.var[...] = jnp.maximum(bn.stddev[...] ** 2 - EPS, 0.0)
    stats = {k: _np(getattr(bn, k)) for k in ("mean", "var", "stddev", "renorm_mean", "renorm_stddev")}
    return bn, stats


def test_renorm_train_with_clipping_matches_numpy() -> None:
    c = 6
    x = _input((8, 8, 8, c), seed=3)
    settings = BatchNormSettings(renorm=True, renorm_max_r=2.0, renorm_max_d=1.0, renorm_momentum=0.9)
    bn, _ = _renorm_bn(c, settings)
    mu, s2 = np_batch_moments(x)
    sigma = np.sqrt(s2 + EPS)
    # Per channel: r above max_r, r below 1/max_r, r inside; d above, below, inside.
    bn.renorm_stddev[...] = jnp.asarray(sigma * np.array([0.2, 5.0, 1.3, 1.0, 1.0, 1.0]), jnp.float32)
    offsets = np.array([0.0, 0.0, 0.0, 3.0, -3.0, 0.4]) * np.asarray(bn.renorm_stddev[...])
    bn.renorm_mean[...] = jnp.asarray(mu - offsets, jnp.float32)
    stats = {k: _np(getattr(bn, k)) for k in ("mean", "var", "stddev", "renorm_mean", "renorm_stddev")}

    y = np.asarray(bn(jnp.asarray(x), train=True))
    want_y, new, r_raw, d_raw, r = np_renorm_train(
        x, _np(bn.scale), _np(bn.bias), stats, max_r=2.0, max_d=1.0, renorm_m=0.9
    )
    # Clipping really engaged at both ends of both corrections.
    assert r_raw[0] > 2.0 and r_raw[1] < 0.5 and 0.5 < r_raw[2] < 2.0
    assert d_raw[3] > 1.0 and d_raw[4] < -1.0 and -1.0 < d_raw[5] < 1.0
    np.testing.assert_allclose(r[[0, 1]], [2.0, 0.5])
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4)
    for name, value in new.items():
        np.testing.assert_allclose(_np(getattr(bn, name)), value, rtol=1e-5, atol=1e-6, err_msg=name)
    # The unclipped formula would give a different output.
    unclipped, *_ = np_renorm_train(x, _np(bn.scale), _np(bn.bias), stats, max_r=1e9, max_d=1e9, renorm_m=0.9)
    assert not np.allclose(y, unclipped, atol=1e-2)


def test_renorm_eval_uses_variance_tracked_from_stddev() -> None:
    c = 4
    x = _input((5, 8, 8, c), seed=4)
    bn, _ = _renorm_bn(c, BatchNormSettings(renorm=True, renorm_max_r=3.0, renorm_max_d=2.0))
    for seed in range(3):
        bn(jnp.asarray(_input((5, 8, 8, c), seed=10 + seed)), train=True)
    np.testing.assert_allclose(_np(bn.var), np.maximum(_np(bn.stddev) ** 2 - EPS, 0), rtol=1e-6)
    want = np_eval(x, _np(bn.scale), _np(bn.bias), _np(bn.mean), _np(bn.stddev) ** 2 - EPS)
    np.testing.assert_allclose(np.asarray(bn(jnp.asarray(x), train=False)), want, rtol=1e-4, atol=1e-4)


def test_renorm_with_defaults_trains_like_plain_bn() -> None:
    c = 5
    x = _input((6, 8, 8, c), seed=5)
    renorm, stats = _renorm_bn(c, BatchNormSettings(renorm=True))
    plain = _bn(BatchNormSettings(), c)
    y_renorm = np.asarray(renorm(jnp.asarray(x), train=True))
    y_plain = np.asarray(plain(jnp.asarray(x), train=True))
    np.testing.assert_allclose(y_renorm, y_plain, rtol=1e-5, atol=1e-5)
    # ...but its inference variance is the EMA of the stddev, squared, minus ε.
    mu, s2 = np_batch_moments(x)
    stddev = 0.99 * stats["stddev"] + 0.01 * np.sqrt(s2 + EPS)
    np.testing.assert_allclose(_np(renorm.var), stddev**2 - EPS, rtol=1e-5)
    np.testing.assert_allclose(_np(renorm.mean), 0.99 * stats["mean"] + 0.01 * mu, rtol=1e-5, atol=1e-6)


def test_renorm_corrections_are_stop_gradient() -> None:
    """With r, d constant the gradient is r times plain BN's gradient (per channel)."""
    c = 3
    x = jnp.asarray(_input((4, 8, 8, c), seed=6))
    w = jnp.asarray(np.random.default_rng(9).normal(size=(4, 8, 8, c)), jnp.float32)
    settings = BatchNormSettings(renorm=True, renorm_max_r=4.0, renorm_max_d=2.0)
    renorm = BatchNorm(c, settings=settings, use_scale=False)
    mu, s2 = np_batch_moments(np.asarray(x))
    renorm.renorm_stddev[...] = jnp.asarray(np.sqrt(s2 + EPS) / np.array([1.5, 0.7, 3.0]), jnp.float32)
    renorm.renorm_mean[...] = jnp.asarray(mu - 0.5, jnp.float32)
    plain = BatchNorm(c, settings=BatchNormSettings(), use_scale=False)
    r = np.array([1.5, 0.7, 3.0])

    def loss(module: BatchNorm, xx: jax.Array) -> jax.Array:
        return jnp.sum(module(xx, train=True) * w)

    def grad(module: BatchNorm) -> np.ndarray:
        return np.asarray(nnx.grad(loss, argnums=1)(module, x))

    g_renorm, g_plain = grad(renorm), grad(plain)
    np.testing.assert_allclose(g_renorm, g_plain * r, rtol=2e-3, atol=1e-5)


# ---- ghost batch norm ----

def _np_ghost(x, gamma, beta, mean, var, v, m=0.99):
    n = x.shape[0]
    groups = n // v
    y = np.empty(x.shape, np.float64)
    means, variances = [], []
    for g in range(groups):
        members = list(range(g, n, groups))  # strided: g, g + n/V, ...
        assert len(members) == v
        mu, s2 = np_batch_moments(x[members])
        y[members] = gamma * (x[members] - mu) / np.sqrt(s2 + EPS) + beta
        means.append(mu)
        variances.append(s2)
    return y, m * mean + (1 - m) * np.mean(means, axis=0), m * var + (1 - m) * np.mean(variances, axis=0)


@pytest.mark.parametrize("shape", [(16, 8, 8, 3), (16, 5)])
def test_ghost_batch_norm_normalises_strided_groups(shape: tuple[int, ...]) -> None:
    x = _input(shape, seed=8)
    x[::4] += 5.0  # group 0 (samples 0, 4, 8, 12) gets a different mean from the rest
    bn = _bn(BatchNormSettings(virtual_batch_size=4), shape[-1])
    gamma, beta, mean, var = _np(bn.scale), _np(bn.bias), _np(bn.mean), _np(bn.var)
    y = np.asarray(bn(jnp.asarray(x), train=True))
    want_y, want_mean, want_var = _np_ghost(x, gamma, beta, mean, var, v=4)
    np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_np(bn.mean), want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(bn.var), want_var, rtol=1e-5, atol=1e-6)
    # Not the full-batch statistics, and not contiguous groups.
    full_y, _, full_var = np_plain_train(x, gamma, beta, mean, var)
    assert not np.allclose(y, full_y, atol=1e-2)
    assert not np.allclose(_np(bn.var), full_var, rtol=1e-3)
    contiguous = np.concatenate([np_plain_train(x[i:i + 4], gamma, beta, mean, var)[0] for i in range(0, 16, 4)])
    assert not np.allclose(y, contiguous, atol=1e-2)
    # Evaluation is ordinary inference with the moving statistics.
    np.testing.assert_allclose(
        np.asarray(bn(jnp.asarray(x), train=False)),
        np_eval(x, gamma, beta, _np(bn.mean), _np(bn.var)), rtol=1e-4, atol=1e-4,
    )


def test_ghost_batch_must_divide() -> None:
    bn = BatchNorm(3, settings=BatchNormSettings(virtual_batch_size=4), use_scale=False)
    with pytest.raises(ValueError, match="virtual_batch_size"):
        bn(jnp.ones((6, 3)), train=True)


def test_settings_from_config() -> None:
    assert BatchNormSettings.from_config(model_pb2.ModelConfig()) == BatchNormSettings()
    config = model_pb2.ModelConfig(renorm=True, renorm_max_r=3.0, renorm_max_d=0.5, renorm_momentum=0.75)
    assert BatchNormSettings.from_config(config) == BatchNormSettings(
        renorm=True, renorm_max_r=3.0, renorm_max_d=0.5, renorm_momentum=0.75
    )
    with pytest.raises(ValueError, match="virtual_batch_size"):
        BatchNormSettings.from_config(model_pb2.ModelConfig(renorm=True, virtual_batch_size=8))
    with pytest.raises(ValueError, match="renorm_max_r"):
        BatchNormSettings(renorm=True, renorm_max_r=0.5)
