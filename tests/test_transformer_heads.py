"""Value (WDL or classical) and moves-left (v1 or none) heads on the transformer bodies:
validation, training, and lc0 export / import of both structures."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from lc0train import model_pb2, net_pb2

from tests.step_helpers import selfplay_batch
from tests.helpers import DATA
from tests.lc0net_helpers import max_output_difference, reference_positions
from tests.test_attention_body import LEGACY_ATTENTION, SHRINK_ATTENTION
from workers.training.setup import build_training
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.files import read_chunk
from workers.data.v6 import decode_records
from workers.lc0net.encoding import decode_layer
from workers.lc0net.evaluate import evaluate
from workers.lc0net.export import TrainingInfo, export_net
from workers.lc0net.importer import import_net
from workers.lc0net.jobs import init_from_problem, initial_params
from workers.lc0net.netfile import find_layer, populated_layers, read_net, write_net
from workers.lc0net.store import save_imported
from workers.model import build_model
from workers.training.state import init_params
from workers.training.step import Batch

NetworkFormat = net_pb2.NetworkFormat
CLASSICAL_NO_MOVES_LEFT = ("model.value=VALUE_CLASSICAL", "model.moves_left=MOVES_LEFT_NONE", "training.moves_left_loss_weight=")
# The modern body: PE_DENSE embedding, written in lc0's multi-head structure.
DENSE = ("model.embedding_style=EMBEDDING_DENSE", "model.arc_encoding=", "model.embedding_dense_sz=4")


def _job(*overrides: str):
    return resolve(load_spec(LEGACY_ATTENTION, [*SHRINK_ATTENTION, *overrides]))


def _train(job, steps_count: int, *, batch_size: int = 32):
    """Trains on one fixed batch; returns (params as NumPy, per-step loss sums)."""
    mesh, _, steps, state = build_training(job)
    batch = selfplay_batch(mesh, 1, batch_size)
    history = []
    for _ in range(steps_count):
        state, sums = steps.train(state, steps.zero_sums(), batch)
        history.append({name: float(value) for name, value in jax.device_get(sums).items()})
    return jax.tree.map(np.asarray, jax.device_get(state.params)), history


# ---- validation -------------------------------------------------------------------------------


def test_transformer_accepts_the_classical_value_head_and_no_moves_left_head() -> None:
    for style in ((), DENSE):
        job = _job(*style, *CLASSICAL_NO_MOVES_LEFT)
        assert (job.model.dims.wdl_value, job.model.dims.moves_left_head) == (False, False)
        assert job.losses.moves_left == 0.0


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        (("model.value=VALUE_CLASSICAL", "model.aux_value_heads=[VALUE_HEAD_Q]", *DENSE), "model.value",
         "auxiliary value heads .* are WDL heads"),
        (("model.moves_left=MOVES_LEFT_NONE", "training.moves_left_loss_weight=1"), "training.moves_left_loss_weight",
         "requires a moves-left head"),
    ],
)
def test_head_combinations_that_make_no_sense_are_refused(overrides: tuple[str, ...], field: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=f"{field}: .*{reason}"):
        _job(*overrides)


# ---- the classical head against NumPy --------------------------------------------------------


def _np_mish(x: np.ndarray) -> np.ndarray:
    return x * np.tanh(np.log1p(np.exp(x)))


def test_classical_value_is_tanh_of_one_output_on_the_value_embedding() -> None:
    """value = tanh(W2·mish(W1·flatten(mish(E·x_sq + b)) + b1) + b2), token-major flatten (legacy Phase 7)."""
    job = _job(*CLASSICAL_NO_MOVES_LEFT)
    model = build_model(job.model, seed=3)
    assert model.moves_left is None
    planes = np.asarray(Batch.from_decoded(decode_records(read_chunk(DATA / "lc0-selfplay" / "game_000001.gz")[:6])).planes)
    out = model(jnp.asarray(planes))
    assert out.wdl_logits is None and out.moves_left is None and out.value.shape == (6,)
    x_te = np.asarray(model.encoder(model.embedding(jnp.asarray(planes))), np.float64)
    head = nnx.to_pure_dict(nnx.state(model.value, nnx.Param))
    embed = _np_mish(x_te @ head["embed"]["kernel"] + head["embed"]["bias"]).reshape(6, -1)
    hidden = _np_mish(embed @ head["dense1"]["kernel"] + head["dense1"]["bias"])
    expected = np.tanh(hidden @ head["dense2"]["kernel"] + head["dense2"]["bias"])[:, 0]
    assert head["dense2"]["kernel"].shape[1] == 1
    np.testing.assert_allclose(np.asarray(out.value), expected, rtol=2e-5, atol=2e-6)
    assert np.ptp(expected) > 0


# ---- training ---------------------------------------------------------------------------------

# Each value head meets each moves-left choice; the embedding style alternates.
HEADS = [
    ("VALUE_WDL", "MOVES_LEFT_V1", ()),
    ("VALUE_CLASSICAL", "MOVES_LEFT_NONE", ()),
    ("VALUE_WDL", "MOVES_LEFT_NONE", DENSE),
    ("VALUE_CLASSICAL", "MOVES_LEFT_V1", DENSE),
]


@pytest.mark.parametrize(("value", "moves_left", "style"), HEADS)
def test_head_combination_trains_with_falling_loss(value: str, moves_left: str, style: tuple[str, ...]) -> None:
    no_moves_left = moves_left == "MOVES_LEFT_NONE"
    job = _job(*style, f"model.value={value}", f"model.moves_left={moves_left}", "training.optimizer=ADAM", "training.weight_decay=",
               "training.lr_values=[0.002]", "training.lr_boundaries=[]", "training.max_grad_norm=0",
               *(["training.moves_left_loss_weight="] if no_moves_left else []))
    _, history = _train(job, 25)
    terms = ["policy_loss", "value_winner_loss", "total_loss"] + ([] if no_moves_left else ["moves_left_loss"])
    for term in terms:
        curve = np.array([step[term] for step in history])
        assert np.all(np.isfinite(curve)), term
        assert curve[-5:].mean() < 0.8 * curve[:5].mean(), (term, curve)
    if no_moves_left:
        assert all(step["moves_left_loss"] == 0.0 for step in history)
    if value == "VALUE_CLASSICAL":  # the classical head trains by MSE on the scalar: (z − tanh v)² ≤ 4
        assert all(0.0 <= step["value_winner_loss"] <= 4.0 for step in history)


# ---- lc0 export / import (the PE_MAP net evaluated by lc0 itself: test_lc0net_attention.py) --------


@pytest.mark.parametrize("style", [(), DENSE], ids=["pe_map", "pe_dense_multihead"])
def test_classical_value_and_no_moves_left_export_and_import_back(tmp_path: Path, style: tuple[str, ...]) -> None:
    job = _job(*style, *CLASSICAL_NO_MOVES_LEFT, "training.optimizer=ADAM", "training.weight_decay=", "training.lr_values=[0.002]",
               "training.lr_boundaries=[]")
    params, _ = _train(job, 3, batch_size=8)
    write_net(export_net(job.model.config, params, TrainingInfo(steps=3)), tmp_path / "net.pb.gz")
    net = read_net(tmp_path / "net.pb.gz")
    fmt = net.format.network_format
    multihead = bool(style)
    assert fmt.network == (NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT if multihead
                           else NetworkFormat.NETWORK_ATTENTIONBODY_WITH_HEADFORMAT)
    assert (fmt.value, fmt.output, fmt.moves_left) == (NetworkFormat.VALUE_CLASSICAL, NetworkFormat.OUTPUT_CLASSICAL,
                                                       NetworkFormat.MOVES_LEFT_NONE)
    layers = set(populated_layers(net.weights))
    assert not {path for path in layers if "_mov_" in path}
    winner = "value_heads.winner." if multihead else ""
    assert decode_layer(find_layer(net.weights, f"{winner}ip2_val_b"), net_pb2.Format.LINEAR16).shape == (1,)

    imported = import_net(net)
    assert (imported.config.value, imported.config.moves_left) == (model_pb2.VALUE_CLASSICAL, model_pb2.MOVES_LEFT_NONE)
    assert imported.ignored == ()
    positions = reference_positions("tiny_attn_pemap_hecto")[:8]
    ours, back = evaluate(job.model.config, params, positions), evaluate(imported.config, imported.params, positions)
    assert all(result["d"] == 0.0 and result["moves_left"] == 0.0 for result in back)
    assert len({round(result["q"], 6) for result in ours}) > 1
    worst = max_output_difference(back, ours)
    assert worst["policy"] < 1e-3 and worst["wdl"] < 1e-3 and worst["moves_left"] == 0.0, worst

    # A job of the same architecture starts from the imported net (moves-left widths of an absent head do not count);
    # one with a WDL value head is refused.
    save_imported(tmp_path / "stored", imported.config, imported.params, net_pb2.TrainingParams())
    assert init_from_problem(tmp_path / "stored", job.model) is None
    loaded, _ = initial_params(tmp_path / "stored", init_params(job.model, seed=0).params)
    np.testing.assert_array_equal(loaded["value"]["dense2"]["kernel"], imported.params["value"]["dense2"]["kernel"])
    with pytest.raises(ConfigError, match="init_from.path: .* has another architecture: model wdl_value True vs False"):
        _job(*style, "model.moves_left=MOVES_LEFT_NONE", "training.moves_left_loss_weight=", f"init_from.path={tmp_path / 'stored'}")
