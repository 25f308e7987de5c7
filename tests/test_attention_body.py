"""The legacy attention body (PE_MAP embedding, arc encoding, input gating) and the BT-era
encoder options, each against an independent NumPy computation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lc0train import model_pb2, training_pb2
from tests.step_helpers import selfplay_batch
from tests.helpers import ROOT, SHRINK, TINY_CONFIG
from tests.test_model import np_act, np_dense, np_softmax, random_planes
from workers.training.setup import build_training
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.model import build_model
from workers.model.arc_encoding import arc_table
from workers.training.state import init_params

# SHRINK's tiny transformer turned into a legacy attention body.
MAP_STYLE = ("model.embedding_style=EMBEDDING_MAP", "model.embedding_dense_sz=0")


def body_config(**fields: object) -> model_pb2.ModelConfig:
    config = model_pb2.ModelConfig(
        input_type=model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES, embedding_size=12, embedding_dense_sz=0,
        encoder_layers=2, encoder_heads=3, encoder_d_model=9, encoder_dff=10, default_activation=model_pb2.MISH,
        ffn_activation=model_pb2.RELU_2, value_embedding_size=2, moves_left_embedding_size=2,
        embedding_style=model_pb2.EMBEDDING_MAP,
    )
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def perturbed(config: model_pb2.ModelConfig, seed: int) -> tuple[nnx.Module, dict]:
    """A model whose every parameter is off its init (gates of both signs), and its float64 params."""
    model = build_model(config, seed=seed)
    rng = np.random.default_rng(seed)
    _, params, _ = nnx.split(model, nnx.Param, ...)
    nnx.update(model, jax.tree.map(lambda a: a + rng.normal(0.0, 0.3, a.shape).astype(np.float32), params))
    model.embedding.mult_gate[...] = rng.normal(0.3, 1.0, model.embedding.mult_gate.shape).astype(np.float32)
    return model, jax.tree.map(lambda a: np.asarray(a, np.float64), nnx.to_pure_dict(nnx.state(model, nnx.Param)))


# ---- arc table ------------------------------------------------------------------------------


def test_arc_table_is_minus_one_on_the_square_and_one_on_queen_and_knight_reach() -> None:
    table = arc_table()
    for i in range(64):
        for j in range(64):
            dr, df = abs(i // 8 - j // 8), abs(i % 8 - j % 8)
            queen = (dr == 0) != (df == 0) or (dr == df and dr > 0)
            knight = {dr, df} == {1, 2}
            expected = -1.0 if i == j else 1.0 if queen or knight else 0.0
            assert table[i, j] == expected, (i, j)
    # a1: 21 queen squares + 2 knight squares; d4: 27 + 8.
    assert (table[0] == 1).sum() == 23 and (table[27] == 1).sum() == 35


# ---- PE_MAP embedding -----------------------------------------------------------------------


@pytest.mark.parametrize("arc", [True, False])
def test_map_embedding_matches_numpy(arc: bool) -> None:
    config = body_config(arc_encoding=arc)
    model, p = perturbed(config, seed=1)
    planes = random_planes(2, seed=2)
    out = np.asarray(model.embedding(jnp.asarray(planes))).reshape(2, 64, -1)
    emb = p["embedding"]
    assert emb["square"]["kernel"].shape == (176 if arc else 112, 12)
    for b in range(2):
        x = planes[b].astype(np.float64).reshape(112, 64).T  # token = square
        if arc:
            x = np.concatenate([x, arc_table()], axis=1)
        x = np_act(model_pb2.MISH, np_dense(x, emb["square"]))
        expected = x * emb["mult_gate"] + emb["add_gate"]  # gates used as stored, no clamp
        np.testing.assert_allclose(out[b], expected, rtol=1e-4, atol=1e-4)
    assert (emb["mult_gate"] < 0).any()  # the forward pass really sees negative gates


# ---- encoder options --------------------------------------------------------------------------


def np_norm(x: np.ndarray, p: dict, eps: float, rms: bool) -> np.ndarray:
    if rms:
        return x / np.sqrt((x**2).mean(-1, keepdims=True) + eps) * p["scale"]
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * p["scale"] + p["bias"]


def np_encoder(x: np.ndarray, p: dict, c: model_pb2.ModelConfig, eps: float) -> np.ndarray:
    """Tokens [64, E] through the encoder blocks as the options describe them."""
    alpha, heads = (2.0 * c.encoder_layers) ** -0.25, c.encoder_heads
    depth = c.encoder_d_model // heads
    for blk in p["encoder"]["blocks"].values():
        mha = blk["mha"]
        q, k, v = (np_dense(x, mha[n]).reshape(64, heads, depth) for n in ("q", "k", "v"))
        attended = np.stack([np_softmax(q[:, h] @ k[:, h].T / np.sqrt(depth)) @ v[:, h] for h in range(heads)], 1)
        x = x + alpha * np_dense(attended.reshape(64, -1), mha["out"])
        if not c.skip_first_ln:
            x = np_norm(x, blk["ln1"], eps, c.encoder_rms_norm)
        ffn = np_dense(np_act(c.ffn_activation, np_dense(x, blk["ffn"]["dense1"])), blk["ffn"]["dense2"])
        x = np_norm(x + alpha * ffn, blk["ln2"], eps, c.encoder_rms_norm)
    return x


@pytest.mark.parametrize(
    ("fields", "eps"),
    [
        ({}, 1e-6),  # the legacy attention body: LayerNorm eps 1e-6
        ({"embedding_style": model_pb2.EMBEDDING_DENSE, "embedding_dense_sz": 2}, 1e-3),
        ({"encoder_rms_norm": True}, 1e-5),
        ({"skip_first_ln": True}, 1e-6),
        ({"omit_qkv_biases": True}, 1e-6),
        ({"omit_other_biases": True}, 1e-6),
        ({"embedding_style": model_pb2.EMBEDDING_DENSE, "embedding_dense_sz": 2, "encoder_rms_norm": True,
          "skip_first_ln": True, "omit_qkv_biases": True, "omit_other_biases": True}, 1e-5),
    ],
    ids=["legacy", "dense", "rms", "skip_first_ln", "no_qkv_bias", "no_other_bias", "all_bt_options"],
)
def test_encoder_options_match_numpy(fields: dict, eps: float) -> None:
    config = body_config(**fields)
    model, p = perturbed(config, seed=3)
    # Small-variance tokens make the epsilon visible in the outputs.
    x = np.random.default_rng(4).normal(0.0, 0.03, (2 * 64, 12)).astype(np.float32)
    out = np.asarray(model.encoder(jnp.asarray(x))).reshape(2, 64, -1)
    for b in range(2):
        expected = np_encoder(x[b * 64 : (b + 1) * 64].astype(np.float64), p, config, eps)
        np.testing.assert_allclose(out[b], expected, rtol=2e-4, atol=2e-4)
    block = p["encoder"]["blocks"][0]
    assert ("bias" in block["mha"]["q"]) != config.omit_qkv_biases
    assert ("bias" in block["mha"]["out"]) != config.omit_other_biases
    assert ("bias" in block["ffn"]["dense1"]) != config.omit_other_biases
    assert ("bias" in block["ln2"]) != config.encoder_rms_norm
    assert ("ln1" in block) != config.skip_first_ln


def test_layer_norm_epsilon_is_the_legacy_one() -> None:
    """The same tokens through eps 1e-6 and 1e-3 norms differ: the test above can tell them apart."""
    config = body_config()
    model, p = perturbed(config, seed=3)
    x = np.random.default_rng(4).normal(0.0, 0.03, (64, 12))
    legacy, dense = (np_encoder(x, p, config, eps) for eps in (1e-6, 1e-3))
    assert np.abs(legacy - dense).max() > 2e-3  # ten times the tolerance below
    np.testing.assert_allclose(np.asarray(model.encoder(jnp.asarray(x, jnp.float32))), legacy, rtol=2e-4, atol=2e-4)


def test_deepnorm_initialisation_of_the_legacy_encoder() -> None:
    """q, k glorot-normal; v, out and the FFN truncated-normal fan_avg with scale β = (8N)^-1/4."""
    # d_model != E so that glorot (2/(in+out)) and LeCun (1/in) variances differ by 20%.
    config = body_config(embedding_size=96, encoder_d_model=64, encoder_heads=4, encoder_dff=144, encoder_layers=4)
    params = nnx.to_pure_dict(nnx.state(build_model(config, seed=0), nnx.Param))
    beta = (8.0 * 4) ** -0.25
    block = params["encoder"]["blocks"][2]
    for name, scale in {"q": 1.0, "k": 1.0, "v": beta, "out": beta}.items():
        kernel = np.asarray(block["mha"][name]["kernel"])
        assert np.std(kernel) == pytest.approx(np.sqrt(scale * 2.0 / sum(kernel.shape)), rel=0.05), name
    for name in ("dense1", "dense2"):
        kernel = np.asarray(block["ffn"][name]["kernel"])
        assert np.std(kernel) == pytest.approx(np.sqrt(beta * 2.0 / sum(kernel.shape)), rel=0.05), name
    # Truncated at two standard deviations of the underlying normal (σ/0.8796 keeps the variance).
    bound = 2.0 * np.sqrt(beta * 2.0 / (96 + 144)) / 0.87962566
    assert np.abs(np.asarray(block["ffn"]["dense1"]["kernel"])).max() <= bound * (1 + 1e-6)


# ---- input gate projection --------------------------------------------------------------------


@pytest.mark.slow
def test_a_gate_pushed_negative_by_a_train_step_is_zero_afterwards() -> None:
    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, *MAP_STYLE, "training.batch_size=8", "training.optimizer=SGD",
                                          "training.weight_decay=", "training.beta_1=", "training.beta_2=",
                                          "training.lr_values=[50.0]", "training.max_grad_norm=0"]))
    init = init_params(job.model, job.seed)
    init.params["embedding"]["mult_gate"] = np.full_like(init.params["embedding"]["mult_gate"], 1e-3)
    mesh, _, steps, state = build_training(job, init=init)
    state, _ = steps.train(state, steps.zero_sums(), selfplay_batch(mesh, 3, 8))
    mult, add = (np.asarray(state.params["embedding"][name]) for name in ("mult_gate", "add_gate"))
    assert (mult >= 0).all()
    assert (mult == 0).sum() > 10  # pushed below zero by the step, projected back to exactly 0
    assert (mult > 1e-3).any()  # the gate did train
    assert (add < 0).any()  # the additive gate is unconstrained


# ---- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.embedding_style=EMBEDDING_MAP"], r"model\.embedding_dense_sz: is 4: the EMBEDDING_MAP embedding"),
        (["model.arc_encoding=false"], r"model\.arc_encoding: only applies to embedding_style EMBEDDING_MAP"),
        (["model.policy=POLICY_CONVOLUTION"], r"model\.policy: the transformer body has an attention policy head only"),
        (["model.body=BODY_RESNET", "model.filters=8", "model.residual_blocks=1", "model.embedding_style=EMBEDDING_MAP",
          "model.skip_first_ln=true", "model.arc_encoding=true"],
         r"model\.embedding_style: requires body BODY_TRANSFORMER; model\.arc_encoding: requires body BODY_TRANSFORMER; "
         r"model\.skip_first_ln: requires body BODY_TRANSFORMER"),
    ],
)
def test_attention_body_options_are_validated(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(load_spec(TINY_CONFIG, [*SHRINK, *overrides]))


# ---- the shipped legacy attention-body example ----------------------------------------------------

LEGACY_ATTENTION = ROOT / "configs" / "legacy_attention_body.textproto"
# Shrinks the example to seconds on CPU; lc0-selfplay chunks are classical-input records.
SHRINK_ATTENTION = (
    "model.input_type=INPUT_CLASSICAL_112_PLANE", "model.embedding_size=16", "model.encoder_layers=1",
    "model.encoder_heads=2", "model.encoder_d_model=16", "model.encoder_dff=24", "model.smolgen_hidden_channels=4",
    "model.smolgen_hidden_sz=16", "model.smolgen_gen_sz=16", "model.policy_embedding_size=16", "model.policy_d_model=16",
    "model.value_embedding_size=4", "model.moves_left_embedding_size=2", "training.batch_size=32",
    "training.warmup_steps=0",
)


@pytest.mark.slow
def test_legacy_attention_example_trains_with_finite_falling_loss() -> None:
    job = resolve(load_spec(LEGACY_ATTENTION, list(SHRINK_ATTENTION)), source=str(LEGACY_ATTENTION))
    assert job.model.dims.map_embedding and job.optimizer.kind == training_pb2.SGD
    mesh, init, steps, state = build_training(job)
    assert init.params["embedding"]["square"]["kernel"].shape == (112 + 64, 16)
    batch = selfplay_batch(mesh, 1, 32)
    losses = []
    for _ in range(30):
        state, sums = steps.train(state, steps.zero_sums(), batch)
        losses.append(float(sums["total_loss"]))
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.8 * losses[0], losses
    assert (np.asarray(state.params["embedding"]["mult_gate"]) >= 0).all()
