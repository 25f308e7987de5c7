"""Legacy heads: the convolution-policy map, head outputs against NumPy, shapes of every combination."""

import itertools

import chess
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from lc0train import model_pb2

from workers.data.conv_policy_map import (
    conv_policy_cells,
    conv_policy_gather_index,
    conv_policy_matrix,
)
from workers.data.policy_map import POLICY_INDEX, POLICY_MOVES
from workers.model import ResNet, build_model
from workers.model.batchnorm import BatchNormSettings
from workers.model.conv import ConvLayers, hwio_to_oihw
from workers.model.legacy_heads import (
    AttentionPolicyHead,
    ClassicalPolicyHead,
    ConvPolicyHead,
)

# ---- the 80×64 convolution-policy layout ----

# (move, plane, from-square) written out by hand from the AlphaZero/lc0 plane conventions:
# queen planes 7·dir + (dist − 1) with dirs N NE E SE S SW W NW; knight planes 56 + k with
# (Δf, Δr) = (1,2) (2,1) (2,−1) (1,−2) (−1,−2) (−2,−1) (−2,1) (−1,2); promotion planes
# 64 + 3·dir + piece with dirs NW N NE and pieces r b q.
HAND_PLANES = [
    ("e2e4", 1, chess.E2),  # N, 2
    ("a1h8", 13, chess.A1),  # NE, 7
    ("h1a1", 48, chess.H1),  # W, 7
    ("d4c3", 35, chess.D4),  # SW, 1
    ("e1h1", 16, chess.E1),  # E, 3 (castling as king takes rook)
    ("h8a1", 41, chess.H8),  # SW, 7
    ("c3d2", 21, chess.C3),  # SE, 1
    ("f6a1", 39, chess.F6),  # SW, 5
    ("b1c3", 56, chess.B1),  # knight (1, 2)
    ("g1f3", 63, chess.G1),  # knight (−1, 2)
    ("e4f2", 59, chess.E4),  # knight (1, −2)
    ("e4c5", 62, chess.E4),  # knight (−2, 1)
    ("d5f4", 58, chess.D5),  # knight (2, −1)
    ("a7a8", 0, chess.A7),  # knight promotion = the plain N1 move
    ("b7a8", 49, chess.B7),  # NW 1 (knight under-promotion by capture)
    ("a7b8r", 70, chess.A7),  # NE, rook
    ("c7b8b", 65, chess.C7),  # NW, bishop
    ("h7h8q", 69, chess.H7),  # N, queen
    ("g7h8q", 72, chess.G7),  # NE, queen
    ("d7d8r", 67, chess.D7),  # N, rook
]


@pytest.mark.parametrize(("uci", "plane", "square"), HAND_PLANES)
def test_sample_moves_land_on_lc0_planes(uci: str, plane: int, square: int) -> None:
    index = POLICY_INDEX[uci]
    assert conv_policy_cells()[plane, square] == index
    assert conv_policy_gather_index()[index] == plane * 64 + square


def test_every_policy_move_has_exactly_one_cell() -> None:
    cells = conv_policy_cells()
    assert cells.shape == (80, 64)
    used = cells[cells >= 0]
    assert len(used) == len(POLICY_MOVES) == 1858
    assert np.array_equal(np.sort(used), np.arange(1858))  # a bijection onto the 1858
    gather = conv_policy_gather_index()
    assert len(set(gather.tolist())) == 1858
    assert np.array_equal(cells.reshape(-1)[gather], np.arange(1858))
    assert (cells[73:] == -1).all()  # padding planes
    promo_rows = {chess.square_rank(s) for p in range(64, 73) for s in range(64) if cells[p, s] >= 0}
    assert promo_rows == {6}
    matrix = conv_policy_matrix()
    assert matrix.shape == (5120, 1858)
    assert (matrix.sum(axis=0) == 1).all() and matrix.sum(axis=1).max() == 1


def test_cells_follow_python_chess_geometry() -> None:
    """Each used cell's move starts at its square and matches the plane's kind of step."""
    cells = conv_policy_cells()
    for plane, square in zip(*np.nonzero(cells >= 0), strict=True):
        move = chess.Move.from_uci(POLICY_MOVES[cells[plane, square]])
        assert move.from_square == square
        df = chess.square_file(move.to_square) - chess.square_file(square)
        dr = chess.square_rank(move.to_square) - chess.square_rank(square)
        if plane < 56:
            assert move.promotion is None
            assert chess.square_distance(square, move.to_square) == plane % 7 + 1
            assert (np.sign(df), np.sign(dr)) == [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)][plane // 7]
        elif plane < 64:
            assert move.to_square in chess.SquareSet(chess.BB_KNIGHT_ATTACKS[square])
        else:
            assert dr == 1 and df == (plane - 64) // 3 - 1
            assert move.promotion == [chess.ROOK, chess.BISHOP, chess.QUEEN][(plane - 64) % 3]


# ---- heads against NumPy ----

def _layers() -> ConvLayers:
    return ConvLayers(bn=BatchNormSettings())


def _randomise(module: nnx.Module, seed: int) -> None:
    """Non-trivial BN statistics and biases so a layout slip cannot hide behind zeros."""
    rng = np.random.default_rng(seed)
    for path, var in nnx.to_flat_state(nnx.state(module, nnx.BatchStat)):
        shape = var[...].shape
        var[...] = jnp.asarray(rng.uniform(0.5, 1.5, shape) if path[-1] == "var" else rng.normal(size=shape) * 0.3, jnp.float32)
    for path, var in nnx.to_flat_state(nnx.state(module, nnx.Param)):
        if path[-1] in ("bias", "scale"):
            var[...] = var[...] + jnp.asarray(rng.normal(size=var[...].shape) * 0.2, jnp.float32)


def _np_conv_nchw(x_nchw: np.ndarray, kernel_oihw: np.ndarray) -> np.ndarray:
    """'same' cross-correlation in lc0's layout (NCHW activations, OIHW kernel)."""
    k = kernel_oihw.shape[-1]
    pad = k // 2
    xp = np.pad(x_nchw, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((x_nchw.shape[0], kernel_oihw.shape[0], 8, 8))
    for dy in range(k):
        for dx in range(k):
            out += np.einsum("bihw,oi->bohw", xp[:, :, dy:dy + 8, dx:dx + 8], kernel_oihw[:, :, dy, dx])
    return out


def _np_bn_eval(x_nchw, bn) -> np.ndarray:
    gamma = 1.0 if bn.scale is None else np.asarray(bn.scale[...])[None, :, None, None]
    mean, var = (np.asarray(v[...])[None, :, None, None] for v in (bn.mean, bn.var))
    return gamma * (x_nchw - mean) / np.sqrt(var + 1e-5) + np.asarray(bn.bias[...])[None, :, None, None]


def _np_conv_block(x_nchw, block) -> np.ndarray:
    y = _np_bn_eval(_np_conv_nchw(x_nchw, hwio_to_oihw(block.conv.kernel[...])), block.bn)
    return np.maximum(y, 0.0)  # relu


def test_conv_policy_head_is_the_legacy_matrix_product() -> None:
    head = ConvPolicyHead(6, model_pb2.RELU, layers=_layers(), rngs=nnx.Rngs(0))
    _randomise(head, 1)
    x_nchw = np.random.default_rng(2).normal(size=(3, 6, 8, 8))
    got = np.asarray(head(jnp.asarray(x_nchw.transpose(0, 2, 3, 1), jnp.float32), train=False))
    planes = _np_conv_nchw(_np_conv_block(x_nchw, head.conv_block), hwio_to_oihw(head.conv.kernel[...]))
    planes += np.asarray(head.conv.bias[...])[None, :, None, None]
    want = planes.reshape(3, 80 * 64) @ conv_policy_matrix()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_classical_policy_head_flattens_channel_major() -> None:
    head = ClassicalPolicyHead(6, 5, model_pb2.RELU, layers=_layers(), rngs=nnx.Rngs(0))
    _randomise(head, 3)
    x_nchw = np.random.default_rng(4).normal(size=(2, 6, 8, 8))
    got = np.asarray(head(jnp.asarray(x_nchw.transpose(0, 2, 3, 1), jnp.float32), train=False))
    flat = _np_conv_block(x_nchw, head.conv_block).reshape(2, 5 * 64)  # index c·64 + square
    want = flat @ np.asarray(head.dense.kernel[...]) + np.asarray(head.dense.bias[...])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _np_layer_norm(x, ln) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-6) * np.asarray(ln.scale[...]) + np.asarray(ln.bias[...])


def _np_dense(x, dense) -> np.ndarray:
    y = x @ np.asarray(dense.kernel[...], np.float64)
    return y if dense.bias is None else y + np.asarray(dense.bias[...])


def _np_selu(x) -> np.ndarray:
    return 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(np.minimum(x, 0)) - 1))


def _np_attention_policy(x_bsf: np.ndarray, head: AttentionPolicyHead) -> np.ndarray:
    b = x_bsf.shape[0]
    t = _np_selu(_np_dense(x_bsf, head.embedding))
    for layer in head.encoders:
        q, k, v = (_np_dense(t, d).reshape(b, 64, layer.heads, layer.depth) for d in (layer.q, layer.k, layer.v))
        logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(layer.depth)
        w = np.exp(logits - logits.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        att = np.einsum("bhqk,bkhd->bqhd", w, v).reshape(b, 64, -1)
        t = _np_layer_norm(t + _np_dense(att, layer.out), layer.ln1)
        t = _np_layer_norm(t + _np_dense(_np_selu(_np_dense(t, layer.ffn1)), layer.ffn2), layer.ln2)
    q, k = _np_dense(t, head.wq), _np_dense(t, head.wk)
    d = q.shape[-1]
    a = np.einsum("bqd,bkd->bqk", q, k) / np.sqrt(d)
    o = _np_dense(k[:, 56:], head.promotion) * np.sqrt(d)  # [b, 8, 4] q r b n, × √d as legacy
    logits = np.empty((b, 1858))
    for i, uci in enumerate(POLICY_MOVES):
        move = chess.Move.from_uci(uci)
        if move.promotion is None:
            logits[:, i] = a[:, move.from_square, move.to_square]
        else:
            p = "qrb".index(chess.piece_symbol(move.promotion))
            f_to = chess.square_file(move.to_square)
            qk = a[:, move.from_square, move.to_square] * np.sqrt(d)
            logits[:, i] = (qk + o[:, f_to, p] + o[:, f_to, 3]) / np.sqrt(d)
    return logits


@pytest.mark.parametrize("encoder_layers", [0, 2])
def test_attention_policy_head_on_a_residual_body_matches_numpy(encoder_layers: int) -> None:
    head = AttentionPolicyHead(6, 10, 8, encoder_layers, 2, 6, 9, layers=_layers(), rngs=nnx.Rngs(5))
    _randomise(head, 6)
    x_bhwc = np.random.default_rng(7).normal(size=(2, 8, 8, 6))
    got = np.asarray(head(jnp.asarray(x_bhwc, jnp.float32)))
    want = _np_attention_policy(x_bhwc.reshape(2, 64, 6), head)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
    assert len(head.encoders) == encoder_layers


# ---- every head combination ----

@pytest.mark.parametrize(
    ("policy", "value", "moves_left"),
    list(itertools.product(
        [model_pb2.POLICY_CONVOLUTION, model_pb2.POLICY_CLASSICAL, model_pb2.POLICY_ATTENTION],
        [model_pb2.VALUE_WDL, model_pb2.VALUE_CLASSICAL],
        [model_pb2.MOVES_LEFT_V1, model_pb2.MOVES_LEFT_NONE],
    )),
)
def test_output_shapes_for_each_head_combination(policy: int, value: int, moves_left: int) -> None:
    config = model_pb2.ModelConfig(
        body=model_pb2.BODY_RESNET, filters=8, residual_blocks=1, se_ratio=2,
        default_activation=model_pb2.RELU, policy=policy, value=value, moves_left=moves_left,
    )
    net = build_model(config, seed=0)
    assert isinstance(net, ResNet)
    assert (net.moves_left is None) == (moves_left == model_pb2.MOVES_LEFT_NONE)
    # Shapes by abstract evaluation (cheap); values are checked by the NumPy tests.
    graphdef, state = nnx.split(net)
    planes = jax.ShapeDtypeStruct((3, 112, 8, 8), jnp.float32)
    out = jax.eval_shape(lambda x: nnx.merge(graphdef, state)(x, train=False), planes)
    assert out.policy_logits.shape == (3, 1858)
    if value == model_pb2.VALUE_WDL:
        assert out.wdl_logits.shape == (3, 3) and out.value is None
    else:
        assert out.wdl_logits is None and out.value.shape == (3,)
    if moves_left == model_pb2.MOVES_LEFT_V1:
        assert out.moves_left.shape == (3,)
    else:
        assert out.moves_left is None
    assert all(o.dtype == jnp.float32 for o in out if o is not None)
