"""Imported lc0 nets against lc0 0.32.1's own outputs (tests/data/*_lc0_reference.jsonl)."""

from __future__ import annotations

import chess
import numpy as np
import pytest

from lc0train import model_pb2
from tests.lc0net_helpers import imported_bt4, reference_planes, reference_positions, reference_rows, relative_logit_error
from workers.lc0net.evaluate import encode_position, evaluate


def test_bt4_config_comes_from_the_file_format_and_tensor_shapes() -> None:
    config = imported_bt4().config
    expected = model_pb2.ModelConfig(
        input_type=model_pb2.INPUT_112_WITH_CANONICALIZATION_HECTOPLIES,
        embedding_size=32, embedding_dense_sz=8, embedding_dff=64, encoder_layers=2, encoder_heads=4,
        encoder_d_model=32, encoder_dff=64, default_activation=model_pb2.MISH, ffn_activation=model_pb2.RELU_2,
        use_smolgen=True, smolgen_hidden_channels=4, smolgen_hidden_sz=32, smolgen_gen_sz=16,
        smolgen_activation=model_pb2.SWISH, policy_embedding_size=32, policy_d_model=32,
        value_embedding_size=8, value_hidden_size=32, moves_left_embedding_size=8, moves_left_hidden_size=16,
        value=model_pb2.VALUE_WDL, moves_left=model_pb2.MOVES_LEFT_V1,
        # The fixture also carries auxiliary training heads (q value, optimistic policy): imported too.
        aux_policy_heads=[model_pb2.POLICY_HEAD_OPTIMISTIC_ST], aux_value_heads=[model_pb2.VALUE_HEAD_Q],
    )
    assert config == expected
    assert imported_bt4().ignored == ()


def test_bt4_outputs_match_lc0_on_its_reference_positions() -> None:
    rows = reference_rows("tiny_bt4_hecto")
    net = imported_bt4()
    results = evaluate(net.config, net.params, reference_positions("tiny_bt4_hecto"))
    assert sum(row["transform"] != 0 for row in rows) >= 3  # canonical transforms are exercised
    for row, result in zip(rows, results, strict=True):
        np.testing.assert_array_equal(np.asarray(result["input_planes"], np.float32), reference_planes(row))
        assert result["transform"] == row["transform"]
        assert {m["uci"]: m["index"] for m in result["legal"]} == {m["move"]: m["idx"] for m in row["legal"]}
        legal = [m["idx"] for m in row["legal"]]
        ref_logits = np.array([m["logit"] for m in row["legal"]])
        assert relative_logit_error(np.asarray(result["policy_logits"])[legal], ref_logits) < 1e-3
        np.testing.assert_allclose(result["wdl"], row["wdl"], atol=1e-3)
        assert result["q"] == pytest.approx(row["q"], abs=1e-3)
        assert result["d"] == pytest.approx(row["d"], abs=1e-3)
        assert result["moves_left"] == pytest.approx(row["m"], abs=1e-3)
        probs = {m["uci"]: m["prob"] for m in result["legal"]}
        np.testing.assert_allclose([probs[m["move"]] for m in row["legal"]], [m["p"] for m in row["legal"]], atol=1e-3)


def test_classical_input_planes_equal_lc0s_including_the_raw_rule50_count() -> None:
    """maia-1900 (input format 1): lc0 feeds the rule-50 plane as a raw ply count."""
    rows = reference_rows("maia1900")
    assert any(reference_planes(row)[109].max() > 1 for row in rows)
    for row in rows:
        board = chess.Board()
        for uci in row["moves"]:
            board.push_uci(uci)
        encoded = encode_position(board, model_pb2.INPUT_CLASSICAL_112_PLANE)
        np.testing.assert_array_equal(encoded.lc0_planes, reference_planes(row))
        # The network itself sees the loader's units: rule50 / 99.
        np.testing.assert_allclose(encoded.planes[109], board.halfmove_clock / 99.0, rtol=1e-6)
