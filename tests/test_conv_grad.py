"""The residual nets' convolution: XLA's values, autodiff's gradients, canonical convs inside a scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from workers.model.conv_grad import NHWC_HWIO, conv_general_dilated


def _arrays(kernel: int, cin: int = 5, cout: int = 7, batch: int = 3) -> tuple[jax.Array, jax.Array]:
    rng = np.random.default_rng(kernel)
    x = jnp.asarray(rng.standard_normal((batch, 8, 8, cin)), jnp.float32)
    return x, jnp.asarray(rng.standard_normal((kernel, kernel, cin, cout)), jnp.float32)


def _numpy_grads(x: np.ndarray, k: np.ndarray, dy: np.ndarray, padding: tuple) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx, dL/dk of L = Σ dy·conv(x, k) by the definition y[b,h,w,o] = Σ xpad[b,h+i,w+j,c]·k[i,j,c,o]."""
    (top, bottom), (left, right) = padding
    xpad = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))).astype(np.float64)
    dxpad = np.zeros_like(xpad)
    dk = np.zeros(k.shape, np.float64)
    height, width = dy.shape[1:3]
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            window = xpad[:, i:i + height, j:j + width, :]
            dk[i, j] = np.einsum("bhwc,bhwo->co", window, dy)
            dxpad[:, i:i + height, j:j + width, :] += np.einsum("bhwo,co->bhwc", dy, k[i, j])
    return dxpad[:, top:top + x.shape[1], left:left + x.shape[2]], dk


@pytest.mark.parametrize(("kernel", "padding"), [(3, "SAME"), (1, "SAME"), (3, ((1, 0), (2, 1)))])
def test_values_and_gradients_match_autodiff_and_a_numpy_reference(kernel: int, padding: object) -> None:
    x, k = _arrays(kernel)

    def xla(x: jax.Array, k: jax.Array) -> jax.Array:
        return lax.conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=NHWC_HWIO)

    def ours(x: jax.Array, k: jax.Array) -> jax.Array:
        return conv_general_dilated(x, k, (1, 1), padding, dimension_numbers=NHWC_HWIO)

    y_xla, vjp_xla = jax.vjp(xla, x, k)
    y_ours, vjp_ours = jax.vjp(ours, x, k)
    dy = jnp.asarray(np.random.default_rng(1).standard_normal(y_xla.shape), jnp.float32)
    np.testing.assert_array_equal(y_ours, y_xla)
    pads = lax.padtype_to_pads(x.shape[1:3], k.shape[:2], (1, 1), padding) if isinstance(padding, str) else padding
    reference = _numpy_grads(np.asarray(x), np.asarray(k), np.asarray(dy), pads)
    for got, autodiff, want in zip(jax.jit(vjp_ours)(dy), vjp_xla(dy), reference):
        np.testing.assert_allclose(got, autodiff, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_gradients_inside_a_scan_compile_to_canonical_convolutions_only() -> None:
    """Autodiff's input and weight gradient convs, which XLA:CPU emits as naive loops inside a while body, are gone."""
    x, k = _arrays(3, cin=4, cout=4)

    def grads(x: jax.Array, k: jax.Array) -> tuple[jax.Array, jax.Array]:
        def loss(x: jax.Array, k: jax.Array) -> jax.Array:
            return jnp.sum(conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC_HWIO) ** 2)

        return lax.scan(lambda carry, xs: (carry, jax.grad(loss, argnums=(0, 1))(xs, k)), 0.0, x[None])[1]

    hlo = jax.jit(grads).lower(x, k).compile().as_text()
    labels = {line.split("dim_labels=")[1].split(",")[0] for line in hlo.splitlines() if " convolution(" in line}
    assert labels == {"b01f_01io->b01f"}
    outside = jax.grad(lambda x, k: jnp.sum(lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC_HWIO) ** 2),
                       argnums=(0, 1))(x, k)
    for got, want in zip(jax.jit(grads)(x, k), outside):
        np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-4)


def test_strided_convolutions_are_refused_by_name() -> None:
    x, k = _arrays(3)
    with pytest.raises(ValueError, match="stride-1"):
        conv_general_dilated(x, k, (2, 2), "SAME", dimension_numbers=NHWC_HWIO)
