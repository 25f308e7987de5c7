"""The legacy SE-ResNet: a NumPy forward in lc0's layout, train/eval statistics, parameter counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from lc0train import model_pb2

from workers.data.conv_policy_map import conv_policy_matrix
from workers.model import BTNet, ResNet, build_model
from workers.model.conv import hwio_to_oihw, oihw_to_hwio
from workers.model.errors import ModelConfigError
from workers.model.resnet import ResNetDims

EPS = 1e-5


def tiny_config(**overrides) -> model_pb2.ModelConfig:
    """Widths all different so a transposed or mis-flattened weight cannot go unnoticed."""
    fields = dict(
        body=model_pb2.BODY_RESNET, filters=6, residual_blocks=2, se_ratio=3,
        default_activation=model_pb2.MISH, policy=model_pb2.POLICY_CONVOLUTION,
        value=model_pb2.VALUE_WDL, moves_left=model_pb2.MOVES_LEFT_V1,
        value_embedding_size=5, moves_left_embedding_size=4, value_hidden_size=7, moves_left_hidden_size=9,
    )
    fields.update(overrides)
    return model_pb2.ModelConfig(**fields)


def _randomise_stats(net: nnx.Module, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for path, var in nnx.to_flat_state(nnx.state(net, nnx.BatchStat)):
        shape = var[...].shape
        var[...] = jnp.asarray(rng.uniform(0.5, 1.5, shape) if path[-1] == "var" else rng.normal(size=shape) * 0.3, jnp.float32)
    for path, var in nnx.to_flat_state(nnx.state(net, nnx.Param)):
        if path[-1] in ("bias", "scale"):
            var[...] = var[...] + jnp.asarray(rng.normal(size=var[...].shape) * 0.2, jnp.float32)


# ---- NumPy reference in lc0's layout: NCHW activations, OIHW kernels, [out][in] dense ----

def np_mish(x):
    return x * np.tanh(np.log1p(np.exp(x)))


def np_conv(x, kernel_oihw):
    k = kernel_oihw.shape[-1]
    pad = k // 2
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((x.shape[0], kernel_oihw.shape[0], 8, 8))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("bihw,oi->bohw", xp[:, :, dy:dy + 8, dx:dx + 8], kernel_oihw[:, :, dy, dx])
    return out


def np_bn(x, bn, train):
    if train:
        mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    else:
        mean, var = np.asarray(bn.mean[...]), np.asarray(bn.var[...])
    gamma = np.ones(x.shape[1]) if bn.scale is None else np.asarray(bn.scale[...])
    def c(v: object) -> np.ndarray:
        return np.asarray(v)[None, :, None, None]
    return c(gamma) * (x - c(mean)) / np.sqrt(c(var) + EPS) + c(bn.bias[...])


def np_dense(x, dense):
    w_out_in = np.asarray(dense.kernel[...], np.float64).T  # lc0 stores [out][in]
    return x @ w_out_in.T + np.asarray(dense.bias[...])


def np_conv_block(x, block, train):
    return np_mish(np_bn(np_conv(x, hwio_to_oihw(block.conv.kernel[...])), block.bn, train))


def np_resnet(planes, net: ResNet, train: bool):
    x = np_conv_block(planes, net.input_block, train)
    for blk in net.blocks:
        y = np_mish(np_bn(np_conv(x, hwio_to_oihw(blk.conv1.kernel[...])), blk.bn1, train))
        y = np_bn(np_conv(y, hwio_to_oihw(blk.conv2.kernel[...])), blk.bn2, train)
        pooled = y.mean(axis=(2, 3))
        gb = np_dense(np_mish(np_dense(pooled, blk.se.dense1)), blk.se.dense2)
        f = y.shape[1]
        gamma, beta = gb[:, :f], gb[:, f:]
        y = 1 / (1 + np.exp(-gamma))[:, :, None, None] * y + beta[:, :, None, None]
        x = np_mish(y + x)
    b = x.shape[0]
    pol = np_conv(np_conv_block(x, net.policy.conv_block, train), hwio_to_oihw(net.policy.conv.kernel[...]))
    pol += np.asarray(net.policy.conv.bias[...])[None, :, None, None]
    policy = pol.reshape(b, -1) @ conv_policy_matrix()
    v = np_conv_block(x, net.value.conv_block, train).reshape(b, -1)
    wdl = np_dense(np_mish(np_dense(v, net.value.dense1)), net.value.dense2)
    m = np_conv_block(x, net.moves_left.conv_block, train).reshape(b, -1)
    ml = np.maximum(np_dense(np_mish(np_dense(m, net.moves_left.dense1)), net.moves_left.dense2)[:, 0], 0)
    return policy, wdl, ml


def _planes(b: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    planes = (rng.uniform(size=(b, 112, 8, 8)) < 0.2).astype(np.float64)
    planes[:, 109] = rng.uniform(size=(b, 1, 1))
    planes[:, 111] = 1.0
    return planes


@pytest.mark.parametrize("train", [False, True])
def test_se_resnet_forward_matches_numpy(train: bool) -> None:
    net = build_model(tiny_config(), seed=3)
    _randomise_stats(net, 4)
    planes = _planes(4, 5)
    want_policy, want_wdl, want_ml = np_resnet(planes, net, train)
    out = net(jnp.asarray(planes, jnp.float32), train=train)
    np.testing.assert_allclose(np.asarray(out.policy_logits), want_policy, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray(out.wdl_logits), want_wdl, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(np.asarray(out.moves_left), want_ml, rtol=1e-3, atol=1e-3)
    assert out.value is None


def test_kernel_layout_mapping_round_trips() -> None:
    k = np.arange(3 * 3 * 4 * 5).reshape(3, 3, 4, 5)  # HWIO
    oihw = hwio_to_oihw(k)
    assert oihw.shape == (5, 4, 3, 3)
    assert oihw[2, 1, 0, 2] == k[0, 2, 1, 2]
    np.testing.assert_array_equal(oihw_to_hwio(oihw), k)


def test_train_updates_batch_stats_eval_does_not() -> None:
    net = build_model(tiny_config(residual_blocks=1), seed=0)
    planes = jnp.asarray(_planes(4, 1), jnp.float32)
    def stats() -> list[np.ndarray]:
        return [np.asarray(v) for v in jax.tree.leaves(nnx.state(net, nnx.BatchStat))]
    before = stats()
    # input block + 2 per residual block + policy1 + value + moves-left, mean and var each.
    assert len(before) == 2 * (1 + 2 + 3)
    net.eval()
    net(planes)
    assert all(np.array_equal(a, b) for a, b in zip(before, stats(), strict=True))
    net.train()
    net(planes)
    after = stats()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_train_step_shape_under_jit_returns_updated_statistics() -> None:
    """The functional pattern the train step uses: split, merge inside jit, return the new state."""
    net = build_model(tiny_config(residual_blocks=1, renorm=True, renorm_max_r=2.0, renorm_max_d=1.0), seed=0)
    graphdef, params, stats = nnx.split(net, nnx.Param, nnx.BatchStat)
    planes = jnp.asarray(_planes(4, 2), jnp.float32)

    @jax.jit
    def step(params, stats, planes):
        def loss(p):
            # copy=True: flax 0.12 refuses to mutate variables merged from an outer trace level.
            model = nnx.merge(graphdef, p, stats, copy=True)
            out = model(planes, train=True)
            return jnp.sum(out.policy_logits**2) + jnp.sum(out.wdl_logits), nnx.state(model, nnx.BatchStat)

        (value, new_stats), grads = jax.value_and_grad(loss, has_aux=True)(params)
        return value, new_stats, grads

    value, new_stats, grads = step(params, stats, planes)
    assert np.isfinite(float(value))
    assert [p for p, _ in nnx.to_flat_state(new_stats)] == [p for p, _ in nnx.to_flat_state(stats)]
    names = {path[-1] for path, _ in nnx.to_flat_state(new_stats)}
    assert names == {"mean", "var", "stddev", "renorm_mean", "renorm_stddev"}
    changed = jax.tree.map(lambda a, b: not np.array_equal(np.asarray(a), np.asarray(b)), stats, new_stats)
    assert all(jax.tree.leaves(changed))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def _lc0_se_resnet_trainable_count(filters: int, blocks: int, se_channels: int, *, value_channels: int = 32,
                                   value_hidden: int = 128) -> tuple[int, int]:
    """Trainable and batch-stat sizes implied by an lc0 SE_WITH_HEADFORMAT net, conv policy, WDL.

    lc0 holds per ConvBlock: weights [out, in, k, k], biases [out], bn_means, bn_stddivs,
    bn_gammas, bn_betas [out]. In the legacy net the conv biases are folded BN betas (not
    separate parameters), means/stddivs are batch statistics, and only the input block and
    the second conv of each residual block have trained gammas. SE: w1 [se, F], b1, w2
    [2F, se], b2. Conv policy: policy1 ConvBlock 3×3(F) + policy conv 80×F×3×3 with a real
    bias. Value: 1×1 ConvBlock, ip1 [128, 32·64] + bias, ip2 [3, 128] + bias.
    """
    trainable = stats = 0

    def conv_block(cin, cout, k, gamma):
        nonlocal trainable, stats
        lc0 = {"weights": cout * cin * k * k, "biases": cout, "bn_means": cout, "bn_stddivs": cout,
               "bn_gammas": cout, "bn_betas": cout}
        trainable += lc0["weights"] + lc0["bn_betas"] + (lc0["bn_gammas"] if gamma else 0)
        stats += lc0["bn_means"] + lc0["bn_stddivs"]

    conv_block(112, filters, 3, True)
    for _ in range(blocks):
        conv_block(filters, filters, 3, False)
        conv_block(filters, filters, 3, True)
        trainable += se_channels * filters + se_channels + 2 * filters * se_channels + 2 * filters
    conv_block(filters, filters, 3, False)  # policy1
    trainable += 80 * filters * 9 + 80  # policy conv weights + biases
    conv_block(filters, value_channels, 1, False)
    trainable += value_hidden * value_channels * 64 + value_hidden + 3 * value_hidden + 3
    return trainable, stats


def test_maia_shaped_net_has_the_parameters_lc0_weights_imply() -> None:
    # maia-1900: 6 blocks × 64 filters, SE (64/8 = 8 channels), conv policy, WDL, no moves left.
    config = model_pb2.ModelConfig(
        body=model_pb2.BODY_RESNET, filters=64, residual_blocks=6, se_ratio=8,
        default_activation=model_pb2.RELU, policy=model_pb2.POLICY_CONVOLUTION,
        value=model_pb2.VALUE_WDL, moves_left=model_pb2.MOVES_LEFT_NONE,
    )
    net = nnx.eval_shape(lambda: build_model(config, seed=0))
    def count(kind: type) -> int:
        return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(net, kind)))
    want_trainable, want_stats = _lc0_se_resnet_trainable_count(64, 6, 8)
    assert count(nnx.Param) == want_trainable
    assert count(nnx.BatchStat) == want_stats


def test_build_model_dispatches_on_body() -> None:
    assert isinstance(nnx.eval_shape(lambda: build_model(tiny_config(), seed=0)), ResNet)
    transformer = model_pb2.ModelConfig(
        embedding_size=16, encoder_layers=1, encoder_heads=2, encoder_dff=16,
        default_activation=model_pb2.MISH, value_embedding_size=4, moves_left_embedding_size=2,
    )
    assert isinstance(nnx.eval_shape(lambda: build_model(transformer, seed=0)), BTNet)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"se_ratio": 4}, "se_ratio"), ({"se_ratio": -1}, "se_ratio"), ({"filters": 0}, "filters"),
     ({"value_hidden_size": -1}, "value_hidden_size"), ({"dropout_rate": 0.1}, "dropout_rate"),
     ({"renorm": True, "virtual_batch_size": 4}, "virtual_batch_size")],
)
def test_bad_configs_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ModelConfigError) as caught:
        ResNetDims.from_config(tiny_config(**overrides))
    assert [path for path, _ in caught.value.problems] == [f"model.{field}"]


def test_default_activation_is_the_legacy_relu() -> None:
    assert ResNetDims.from_config(tiny_config(default_activation=model_pb2.ACTIVATION_DEFAULT)).activation == model_pb2.RELU
