"""Batch normalisation of the legacy residual nets: plain, batch renorm and ghost BN.

Semantics follow the legacy trainer (Keras `BatchNormalization`, TF2, fae46e6; see
`legacy_trainer_semantics.md` phases 3 and 8). Normalisation is over every axis but the
last (channels-last: `[B, H, W, C]` or `[B, C]`).

Train / eval convention (the nnx one): `__call__(x, train=None)`. An explicit `train`
wins; otherwise the module attribute `use_running_average` decides (False = training,
the default, as for `nnx.BatchNorm`), so `model.train()` / `model.eval()` switch every BN
of a model at once.

State: the moving statistics are `nnx.BatchStat` variables (never `nnx.Param`), float32:

* `mean`, `var`: the moving mean and the inference variance (what lc0's `bn_means` and
  `bn_stddivs` hold; lc0 reads `bn_stddivs` as a variance, epsilon 1e-5).
* with renorm also `stddev` (moving σ), `renorm_mean`, `renorm_stddev`; `var` is then
  derived after every update as relu(stddev² − ε), exactly as the legacy trainer tracks its
  inference variance.

Parameters: `bias` (β, always) and `scale` (γ, only where the legacy net has it).

Training mode, per call (one micro-batch):

* plain: batch mean and biased batch variance; `v ← m·v + (1 − m)·batch_value`, m = 0.99.
* renorm: σ_B = √(σ²_B + ε), s̃ = max(renorm_stddev, √ε),
  r = clip(σ_B/s̃, 1/max_r, max_r), d = clip((μ_B − renorm_mean)/s̃, −max_d, max_d), both
  under stop-gradient; y = γ(r(x − μ_B)/σ_B + d) + β. renorm_mean/renorm_stddev are EMAs with
  `renorm_momentum`, mean/stddev EMAs with 0.99 (all from the pre-update values).
* ghost: the batch n is viewed as `[V, n/V, ...]` (V = virtual_batch_size), so ghost group g
  is the samples {g, g + n/V, g + 2n/V, ...}; each group is normalised by its own mean and
  biased variance, and the moving statistics are updated with the mean over groups of the
  per-group mean and variance.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax.typing import DTypeLike
from lc0train import model_pb2

from workers.model.errors import ModelConfigError

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.99


@dataclasses.dataclass(frozen=True)
class BatchNormSettings:
    """How every BN layer of a net normalises; `from_config` resolves the legacy keys."""

    renorm: bool = False
    renorm_max_r: float = 1.0
    renorm_max_d: float = 0.0
    renorm_momentum: float = 0.99
    virtual_batch_size: int = 0
    momentum: float = BN_MOMENTUM
    epsilon: float = BN_EPSILON

    def __post_init__(self) -> None:
        if self.renorm_max_r < 1.0:
            raise ModelConfigError(("model.renorm_max_r", f"is {self.renorm_max_r}: it must be >= 1"))
        if self.renorm_max_d < 0.0:
            raise ModelConfigError(("model.renorm_max_d", f"is {self.renorm_max_d}: it must be >= 0"))
        if not 0.0 <= self.renorm_momentum < 1.0:
            raise ModelConfigError(("model.renorm_momentum", f"is {self.renorm_momentum}: it must be in [0, 1)"))
        if self.virtual_batch_size < 0:
            raise ModelConfigError(("model.virtual_batch_size", f"is {self.virtual_batch_size}: it must be >= 0"))
        if self.renorm and self.virtual_batch_size:
            raise ModelConfigError(("model.virtual_batch_size", "cannot be combined with model.renorm "
                                    "(the legacy trainer silently ignored it; set one of them)"))

    @classmethod
    def from_config(cls, config: model_pb2.ModelConfig) -> "BatchNormSettings":
        return cls(
            renorm=config.renorm,
            renorm_max_r=config.renorm_max_r if config.HasField("renorm_max_r") else 1.0,
            renorm_max_d=config.renorm_max_d if config.HasField("renorm_max_d") else 0.0,
            renorm_momentum=config.renorm_momentum if config.HasField("renorm_momentum") else 0.99,
            virtual_batch_size=config.virtual_batch_size,
        )


def _ema(old: jax.Array, new: jax.Array, momentum: float) -> jax.Array:
    return momentum * old + (1.0 - momentum) * jax.lax.stop_gradient(new)


class BatchNorm(nnx.Module):
    """Channels-last batch norm with the legacy renorm and ghost-batch variants."""

    def __init__(
        self,
        features: int,
        *,
        settings: BatchNormSettings,
        use_scale: bool,
        param_dtype: DTypeLike = jnp.float32,
        compute_dtype: DTypeLike | None = None,
        use_running_average: bool = False,
    ):
        self.settings = settings
        self.features = features
        self.compute_dtype = compute_dtype
        self.use_running_average = use_running_average
        self.bias = nnx.Param(jnp.zeros((features,), param_dtype))
        self.scale = nnx.Param(jnp.ones((features,), param_dtype)) if use_scale else None
        self.mean = nnx.BatchStat(jnp.zeros((features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((features,), jnp.float32))
        if settings.renorm:
            self.stddev = nnx.BatchStat(jnp.ones((features,), jnp.float32))
            self.renorm_mean = nnx.BatchStat(jnp.zeros((features,), jnp.float32))
            self.renorm_stddev = nnx.BatchStat(jnp.ones((features,), jnp.float32))

    def _gamma(self) -> jax.Array:
        if self.scale is None:
            return jnp.ones((self.features,), jnp.float32)
        return self.scale[...].astype(jnp.float32)

    def __call__(self, x: jax.Array, *, train: bool | None = None) -> jax.Array:
        training = (not self.use_running_average) if train is None else train
        out_dtype = self.compute_dtype or x.dtype
        xf = x.astype(jnp.float32)
        if not training:
            a = self._gamma() * jax.lax.rsqrt(self.var[...] + self.settings.epsilon)
            c = self.bias[...].astype(jnp.float32) - self.mean[...] * a
            return (xf * a + c).astype(out_dtype)
        if self.settings.renorm:
            y = self._renorm(xf)
        elif self.settings.virtual_batch_size:
            y = self._ghost(xf)
        else:
            y = self._plain(xf)
        return y.astype(out_dtype)

    def _moments(self, x: jax.Array, axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
        mean = jnp.mean(x, axis=axes, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=axes, keepdims=True)
        return mean, var

    def _plain(self, x: jax.Array) -> jax.Array:
        mean, var = self._moments(x, tuple(range(x.ndim - 1)))
        mean, var = mean.reshape(-1), var.reshape(-1)
        m = self.settings.momentum
        self.mean[...] = _ema(self.mean[...], mean, m)
        self.var[...] = _ema(self.var[...], var, m)
        a = self._gamma() * jax.lax.rsqrt(var + self.settings.epsilon)
        return x * a + (self.bias[...].astype(jnp.float32) - mean * a)

    def _ghost(self, x: jax.Array) -> jax.Array:
        v = self.settings.virtual_batch_size
        n = x.shape[0]
        if n % v:
            raise ValueError(
                f"batch norm input batch {n} is not divisible by model.virtual_batch_size {v} "
                "(the micro-batch batch_size / num_batch_splits must be)"
            )
        groups = n // v
        xg = x.reshape(v, groups, *x.shape[1:])
        axes = (0, *range(2, xg.ndim - 1))
        mean, var = self._moments(xg, axes)  # [1, groups, 1.., C]
        a = self._gamma() * jax.lax.rsqrt(var + self.settings.epsilon)
        y = xg * a + (self.bias[...].astype(jnp.float32) - mean * a)
        m = self.settings.momentum
        c = self.features
        self.mean[...] = _ema(self.mean[...], mean.reshape(groups, c).mean(axis=0), m)
        self.var[...] = _ema(self.var[...], var.reshape(groups, c).mean(axis=0), m)
        return y.reshape(x.shape)

    def _renorm(self, x: jax.Array) -> jax.Array:
        s = self.settings
        mean, var = self._moments(x, tuple(range(x.ndim - 1)))
        mean, var = mean.reshape(-1), var.reshape(-1)
        sigma = jnp.sqrt(var + s.epsilon)
        s_tilde = jnp.maximum(self.renorm_stddev[...], math.sqrt(s.epsilon))
        r = jax.lax.stop_gradient(jnp.clip(sigma / s_tilde, 1.0 / s.renorm_max_r, s.renorm_max_r))
        d = jax.lax.stop_gradient(
            jnp.clip((mean - self.renorm_mean[...]) / s_tilde, -s.renorm_max_d, s.renorm_max_d)
        )
        gamma = self._gamma()
        a = gamma * r / sigma
        y = x * a + (self.bias[...].astype(jnp.float32) + gamma * d - mean * a)

        self.renorm_mean[...] = _ema(self.renorm_mean[...], mean, s.renorm_momentum)
        self.renorm_stddev[...] = _ema(self.renorm_stddev[...], sigma, s.renorm_momentum)
        self.mean[...] = _ema(self.mean[...], mean, s.momentum)
        stddev = _ema(self.stddev[...], sigma, s.momentum)
        self.stddev[...] = stddev
        self.var[...] = jax.nn.relu(stddev * stddev - s.epsilon)
        return y
