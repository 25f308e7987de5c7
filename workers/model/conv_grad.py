"""The residual nets' convolution: XLA's forward pass, and a CPU backward pass XLA runs fast.

Why: the train step computes its gradients inside a `lax.scan` over the micro-batches
(`num_batch_splits`, one or more). XLA:CPU hands a convolution to its fast kernels
(YNNPACK fusions, Eigen) only in the canonical NHWC/HWIO form. Autodiff of an NHWC/HWIO
convolution produces two convolutions in other forms: the input gradient with an `01oi`
(transposed) kernel and the weight gradient with batch and features swapped
(`f01b_i01o->01bf`). Outside a loop XLA rewrites them into the canonical form; inside a
while loop body it does not, and emits them as naive loop nests: a 3×3, 128→128 conv on
`[256, 8, 8, 128]` takes 78× longer forward+backward inside a one-step scan than outside
(bench/resnet.py measures the bare conv both ways).

So on CPU the backward pass is written in forms XLA runs fast anywhere, with the same sums
as autodiff (tests/test_conv_grad.py checks them against autodiff and NumPy):

* input gradient: `conv(dy, flip_hw(k) with in/out swapped)`, padding `(K−1−lo, K−1−hi)`,
  a canonical convolution;
* weight gradient: one matmul per kernel tap (i, j), `x_padded[:, i:i+H', j:j+W']ᵀ · dy`
  over all positions. (The canonical-conv form of it, x's channels as the batch and dy as
  an 8×8 window, is also fast inside a loop but runs at a third of the forward's rate;
  the matmuls reach about half to two thirds of it.)

Other backends keep XLA's own gradient (`lax.platform_dependent` picks at lowering).
Supported: stride 1, no dilation, one feature group, NHWC/HWIO/NHWC, as every conv of
the legacy nets is.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from jax import lax

NHWC_HWIO = ("NHWC", "HWIO", "NHWC")
Padding = tuple[tuple[int, int], ...]


def _conv(x: jax.Array, k: jax.Array, padding: Padding, precision: Any) -> jax.Array:
    return lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=NHWC_HWIO, precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_with_canonical_grads(x: jax.Array, k: jax.Array, padding: Padding, precision: Any) -> jax.Array:
    return _conv(x, k, padding, precision)


def _forward(x: jax.Array, k: jax.Array, padding: Padding, precision: Any) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return _conv(x, k, padding, precision), (x, k)


def _canonical_grads(padding: Padding, precision: Any, x: jax.Array, k: jax.Array, dy: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(dL/dx, dL/dk) as two NHWC/HWIO convolutions."""
    window = k.shape[:2]
    dx_padding = tuple((size - 1 - lo, size - 1 - hi) for size, (lo, hi) in zip(window, padding))
    dx = _conv(dy, jnp.flip(k, (0, 1)).swapaxes(2, 3), dx_padding, precision)
    # One [positions, C_in]ᵀ · [positions, C_out] matmul per kernel tap, on the padded input.
    x_padded = jnp.pad(x, ((0, 0), *padding, (0, 0)))
    height, width = dy.shape[1:3]
    dy_rows = dy.reshape(-1, dy.shape[-1])
    taps = [
        lax.dot_general(x_padded[:, i:i + height, j:j + width, :].reshape(-1, x.shape[-1]), dy_rows,
                        (((0,), (0,)), ((), ())), precision=precision)
        for i in range(window[0]) for j in range(window[1])
    ]
    return dx, jnp.stack(taps).reshape(k.shape).astype(k.dtype)


def _autodiff_grads(padding: Padding, precision: Any, x: jax.Array, k: jax.Array, dy: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jax.vjp(functools.partial(_conv, padding=padding, precision=precision), x, k)[1](dy)


def _backward(padding: Padding, precision: Any, residuals: tuple[jax.Array, jax.Array], dy: jax.Array) -> tuple[jax.Array, jax.Array]:
    x, k = residuals
    return lax.platform_dependent(
        x, k, dy,
        cpu=functools.partial(_canonical_grads, padding, precision),
        default=functools.partial(_autodiff_grads, padding, precision),
    )


_conv_with_canonical_grads.defvjp(_forward, _backward)


def conv_general_dilated(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    *,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    precision: Any = None,
    out_sharding: Any = None,
) -> jax.Array:
    """`lax.conv_general_dilated` for `nnx.Conv(conv_general_dilated=...)`, same values and gradients."""
    dims = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
    plain = (
        tuple(window_strides) == (1, 1)
        and all(d is None or tuple(d) == (1, 1) for d in (lhs_dilation, rhs_dilation))
        and feature_group_count == 1
        and out_sharding is None
        and dims == lax.conv_dimension_numbers(lhs.shape, rhs.shape, NHWC_HWIO)
    )
    if not plain:
        raise ValueError(
            "workers.model.conv_grad supports stride-1, undilated, ungrouped NHWC/HWIO convolutions only; "
            f"got strides {window_strides}, dilations {lhs_dilation}/{rhs_dilation}, groups {feature_group_count}"
        )
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], (1, 1), padding)
    return _conv_with_canonical_grads(lhs, rhs, tuple((int(lo), int(hi)) for lo, hi in padding), precision)
