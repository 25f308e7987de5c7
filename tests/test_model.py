"""Tests of the BT network: shapes, size, an independent NumPy forward, policy layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lc0train import model_pb2
from workers.data.policy_map import POLICY_INDEX, POLICY_MOVES
from workers.model import BTNet, ModelOutput, build_model
from workers.model.activations import mish
from workers.model.dims import NetDims
from workers.model.heads import PolicyHead
from workers.model.layers import Layers


def preset_config(name: str) -> model_pb2.ModelConfig:
    """The benchmark presets of docs/benchmarks.md."""
    e, layers, heads, dff, dense, smolgen = {
        "tiny": (64, 2, 4, 128, 16, None),
        "small": (128, 4, 4, 256, 32, (16, 128, 128)),
        "medium": (256, 6, 8, 512, 64, (16, 128, 128)),
    }[name]
    config = model_pb2.ModelConfig(
        embedding_size=e,
        embedding_dense_sz=dense,
        encoder_layers=layers,
        encoder_heads=heads,
        encoder_dff=dff,
        default_activation=model_pb2.MISH,
        value_embedding_size=32,
        moves_left_embedding_size=8,
    )
    if smolgen is not None:
        config.use_smolgen = True
        (config.smolgen_hidden_channels, config.smolgen_hidden_sz, config.smolgen_gen_sz) = smolgen
        config.smolgen_activation = model_pb2.SWISH
    return config


def odd_config() -> model_pb2.ModelConfig:
    """A tiny net whose every width differs, so a transposed weight cannot go unnoticed."""
    return model_pb2.ModelConfig(
        embedding_size=16,
        embedding_dense_sz=4,
        embedding_dff=24,
        encoder_layers=2,
        encoder_heads=2,
        encoder_d_model=12,
        encoder_dff=20,
        default_activation=model_pb2.MISH,
        ffn_activation=model_pb2.RELU_2,
        use_smolgen=True,
        smolgen_hidden_channels=3,
        smolgen_hidden_sz=10,
        smolgen_gen_sz=5,
        smolgen_activation=model_pb2.SWISH,
        policy_embedding_size=14,
        policy_d_model=10,
        value_embedding_size=6,
        moves_left_embedding_size=3,
    )


def random_planes(batch: int, seed: int = 0) -> np.ndarray:
    """Binary piece/history planes plus a few constant-valued planes, [B,112,8,8]."""
    rng = np.random.default_rng(seed)
    planes = (rng.random((batch, 112, 8, 8)) < 0.1).astype(np.float32)
    planes[:, 109] = rng.random((batch, 1, 1))
    planes[:, 111] = 1.0
    return planes


def param_count(config: model_pb2.ModelConfig) -> int:
    abstract = nnx.eval_shape(lambda: build_model(config, seed=0))
    return sum(leaf.size for leaf in jax.tree.leaves(nnx.state(abstract, nnx.Param)))


def test_output_shapes_and_dtypes():
    model = build_model(odd_config(), seed=0)
    out = model(jnp.asarray(random_planes(3)))
    assert isinstance(out, ModelOutput)
    assert out.policy_logits.shape == (3, 1858)
    assert out.wdl_logits.shape == (3, 3)
    assert out.moves_left.shape == (3,)
    for array in jax.tree.leaves(out):
        assert array.dtype == jnp.float32
        assert np.isfinite(np.asarray(array)).all()
    assert (np.asarray(out.moves_left) >= 0).all()


@pytest.mark.parametrize(
    ("preset", "exact", "upstream"),
    [("tiny", 1_231_468, 1.23e6), ("small", 3_916_460, 3.92e6), ("medium", 9_334_060, 9.33e6)],
)
def test_preset_parameter_counts(preset: str, exact: int, upstream: float):
    count = param_count(preset_config(preset))
    assert abs(count - upstream) / upstream < 0.005
    assert count == exact


# ---- independent NumPy forward pass -------------------------------------------------------


def np_act(kind: int, x: np.ndarray) -> np.ndarray:
    if kind == model_pb2.MISH:
        return x * np.tanh(np.log1p(np.exp(x)))
    if kind == model_pb2.SWISH:
        return x / (1.0 + np.exp(-x))
    if kind == model_pb2.RELU_2:
        return np.maximum(x, 0.0) ** 2
    raise AssertionError(kind)


def np_ln(x: np.ndarray, p: dict) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-3) * p["scale"] + p["bias"]


def np_dense(x: np.ndarray, p: dict) -> np.ndarray:
    return x @ p["kernel"] + (p["bias"] if "bias" in p else 0.0)


def np_softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def np_forward_one(planes_chw: np.ndarray, p: dict, c: model_pb2.ModelConfig) -> tuple:
    """One position, written straight from the architecture description, in float64."""
    mish, alpha = model_pb2.MISH, (2.0 * c.encoder_layers) ** -0.25
    tokens = planes_chw.reshape(112, 64).T  # [64 squares, 112 features]
    emb = p["embedding"]
    dense = np_dense(tokens[:, :12].reshape(-1), emb["preprocess"]).reshape(64, -1)
    x = np.concatenate([tokens, dense], axis=1)
    x = np_ln(np_act(mish, np_dense(x, emb["square"])), emb["norm"])
    x = x * emb["mult_gate"] + emb["add_gate"]  # no clamp: the train step projects the gate
    ffn = np_dense(np_act(c.ffn_activation, np_dense(x, emb["ffn"]["dense1"])), emb["ffn"]["dense2"])
    x = np_ln(x + alpha * ffn, emb["ffn_norm"])

    heads, depth = c.encoder_heads, c.encoder_d_model // c.encoder_heads
    for i in range(c.encoder_layers):
        blk = p["encoder"]["blocks"][i]
        mha, sg = blk["mha"], blk["mha"]["smolgen"]
        h = np_dense(x, sg["compress"]).reshape(-1)
        h = np_ln(np_act(c.smolgen_activation, np_dense(h, sg["dense1"])), sg["ln1"])
        h = np_ln(np_act(c.smolgen_activation, np_dense(h, sg["dense2"])), sg["ln2"])
        bias = (h.reshape(heads, -1) @ p["encoder"]["smolgen_gen"]["kernel"]).reshape(heads, 64, 64)
        q, k, v = (np_dense(x, mha[n]).reshape(64, heads, depth) for n in ("q", "k", "v"))
        attended = np.zeros((64, heads, depth))
        for hd in range(heads):
            logits = q[:, hd] @ k[:, hd].T / np.sqrt(depth) + bias[hd]
            attended[:, hd] = np_softmax(logits) @ v[:, hd]
        x = np_ln(x + alpha * np_dense(attended.reshape(64, -1), mha["out"]), blk["ln1"])
        ffn = np_dense(np_act(c.ffn_activation, np_dense(x, blk["ffn"]["dense1"])), blk["ffn"]["dense2"])
        x = np_ln(x + alpha * ffn, blk["ln2"])

    pol = p["policy"]
    t = np_act(mish, np_dense(x, pol["tokens"]))
    q, k = np_dense(t, pol["q"]), np_dense(t, pol["k"])
    from_to = q @ k.T / np.sqrt(c.policy_d_model)
    offsets = k[56:] @ pol["promotion"]["kernel"]  # [to file, (q, r, b, n)]
    raw = {}
    for f in range(64):
        for to in range(64):
            raw[(f, to, "")] = from_to[f, to]
    for ff in range(8):
        for tf in range(8):
            for j, piece in enumerate("qrb"):
                raw[(48 + ff, 56 + tf, piece)] = from_to[48 + ff, 56 + tf] + offsets[tf, j] + offsets[tf, 3]
    policy = np.array([raw[(sq(u[:2]), sq(u[2:4]), u[4:])] for u in POLICY_MOVES])

    def flat_head(hp: dict) -> np.ndarray:
        e = np_act(mish, np_dense(x, hp["embed"])).reshape(-1)
        return np_dense(np_act(mish, np_dense(e, hp["dense1"])), hp["dense2"])

    return policy, flat_head(p["value"]), max(flat_head(p["moves_left"])[0], 0.0)


def sq(name: str) -> int:
    return (int(name[1]) - 1) * 8 + "abcdefgh".index(name[0])


def perturb_params(model: BTNet, seed: int) -> None:
    """Moves every parameter off its init (gates to both signs) so nothing is trivial."""
    rng = np.random.default_rng(seed)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    noisy = jax.tree.map(lambda a: a + rng.normal(0.0, 0.2, a.shape).astype(np.float32), params)
    nnx.update(model, noisy)
    model.embedding.mult_gate[...] = rng.normal(0.5, 1.0, model.embedding.mult_gate.shape)


def test_forward_matches_numpy_reference():
    config = odd_config()
    model = build_model(config, seed=1)
    perturb_params(model, seed=2)
    planes = random_planes(3, seed=3)
    out = model(jnp.asarray(planes))
    params = jax.tree.map(
        lambda a: np.asarray(a, np.float64), nnx.to_pure_dict(nnx.state(model, nnx.Param))
    )
    for b in range(planes.shape[0]):
        policy, wdl, moves_left = np_forward_one(planes[b].astype(np.float64), params, config)
        np.testing.assert_allclose(out.policy_logits[b], policy, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(out.wdl_logits[b], wdl, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(out.moves_left[b], moves_left, atol=1e-4, rtol=1e-4)


# ---- policy layout --------------------------------------------------------------------------


def test_policy_gather_places_from_to_and_promotion_logits():
    """Identity tokens and keys chosen so that the from-to logit of (s, t) is 64·s + t."""
    config = model_pb2.ModelConfig(
        embedding_size=64, encoder_layers=1, encoder_heads=1, encoder_dff=1,
        default_activation=model_pb2.NONE, value_embedding_size=1, moves_left_embedding_size=1,
    )
    head = PolicyHead(NetDims.from_config(config), layers=Layers(), rngs=nnx.Rngs(params=0))
    eye = np.eye(64, dtype=np.float32)
    squares = np.arange(64, dtype=np.float32)
    head.tokens.kernel[...] = eye
    head.q.kernel[...] = eye
    # k_t[s] = 8·(64·s + t), so q_s·k_t / √64 = 64·s + t.
    head.k.kernel[...] = 8.0 * (64.0 * squares[None, :] + squares[:, None])
    for layer in (head.tokens, head.q, head.k):
        layer.bias[...] = np.zeros(64, np.float32)
    # Offsets read only k_t[0] = 8·t: q, r, b, n offsets = 8·t·(1000, 200, 30, 4).
    promotion = np.zeros((64, 4), np.float32)
    promotion[0] = (1000.0, 200.0, 30.0, 4.0)
    head.promotion.kernel[...] = promotion

    logits = np.asarray(head(jnp.asarray(np.tile(eye, (2, 1)))))
    assert logits.shape == (2, 1858)
    np.testing.assert_array_equal(logits[0], logits[1])
    logits = logits[0]

    def from_to(uci: str) -> float:
        return 64.0 * sq(uci[:2]) + sq(uci[2:4])

    for uci in ("e2e4", "g1f3", "a1h8", "h8a1", "e1h1", "b7a8", "a7a8"):
        assert logits[POLICY_INDEX[uci]] == pytest.approx(from_to(uci), abs=1e-3)
    # a7a8: to-square 56; b7c8: 58. Knight offset 8·t·4 is added to q, r and b.
    for uci, per_piece in (("a7a8", (1000.0, 200.0, 30.0)), ("b7c8", (1000.0, 200.0, 30.0))):
        t = sq(uci[2:4])
        for piece, offset in zip("qrb", per_piece):
            expected = from_to(uci) + 8.0 * t * (offset + 4.0)
            assert logits[POLICY_INDEX[uci + piece]] == pytest.approx(expected, rel=1e-6)
    # The knight promotion is the plain from-to entry, with no offset.
    assert logits[POLICY_INDEX["a7a8"]] == pytest.approx(from_to("a7a8"), abs=1e-3)


# ---- compilation and determinism ---------------------------------------------------------


def test_jit_matches_eager():
    model = build_model(preset_config("tiny"), seed=0)
    planes = jnp.asarray(random_planes(2))
    graphdef, state = nnx.split(model)

    @jax.jit
    def forward(state: nnx.State, planes_bchw: jax.Array) -> ModelOutput:
        return nnx.merge(graphdef, state)(planes_bchw)

    jitted, eager = forward(state, planes), model(planes)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_same_seed_same_params_and_outputs():
    config = odd_config()
    first, second, other = (build_model(config, seed=s) for s in (5, 5, 6))
    leaves = [jax.tree.leaves(nnx.state(m, nnx.Param)) for m in (first, second, other)]
    assert all(np.array_equal(a, b) for a, b in zip(leaves[0], leaves[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(leaves[0], leaves[2]))
    planes = jnp.asarray(random_planes(2))
    for a, b in zip(first(planes), second(planes)):
        np.testing.assert_array_equal(a, b)


def test_mish_value_and_gradient_match_the_textbook_formula():
    x = jnp.linspace(-40.0, 40.0, 8001)
    np.testing.assert_allclose(mish(x), jax.nn.mish(x), atol=2e-6, rtol=1e-5)
    slope, textbook = (jax.vmap(jax.grad(f))(x) for f in (mish, jax.nn.mish))
    np.testing.assert_allclose(slope, textbook, atol=2e-6, rtol=1e-5)


def test_default_activations_resolve_to_mish_and_follow_the_default():
    config = odd_config()
    config.default_activation = config.ffn_activation = model_pb2.ACTIVATION_DEFAULT
    dims = NetDims.from_config(config)
    assert (dims.default_activation, dims.ffn_activation) == (model_pb2.MISH, model_pb2.MISH)
    config.default_activation = model_pb2.RELU
    assert NetDims.from_config(config).ffn_activation == model_pb2.RELU


def test_bfloat16_compute_stays_close_to_float32():
    config = preset_config("tiny")
    planes = jnp.asarray(random_planes(2))
    forward = nnx.jit(lambda model, x: model(x))
    exact = forward(build_model(config, seed=0), planes)
    rough = forward(build_model(config, seed=0, compute_dtype=jnp.bfloat16), planes)
    for a, b in zip(jax.tree.leaves(exact), jax.tree.leaves(rough), strict=True):
        assert b.dtype == jnp.float32
        np.testing.assert_allclose(b, a, atol=0.1, rtol=0.05)
