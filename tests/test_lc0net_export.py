"""Export of BTNet weights as lc0 nets: format, LINEAR16, input scaling, round trips."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

from lc0train import model_pb2, net_pb2
from tests.lc0net_helpers import BT4_NET, TEST_POSITIONS, imported_bt4, max_output_difference, reference_positions
from tests.test_model import odd_config, preset_config
from workers.lc0net.encoding import decode_layer, encode_linear16, linear16_step
from workers.lc0net.evaluate import encode_position, evaluate
from workers.lc0net.export import TrainingInfo, export_net
from workers.lc0net.importer import import_net, param_shapes
from workers.lc0net.mapping import btnet_slots, check_coverage
from workers.lc0net.netfile import find_layer, populated_layers, read_net, write_net
from workers.model.dims import NetDims

Layer = net_pb2.Weights.Layer


def test_linear16_error_is_at_most_half_a_step_and_constants_survive() -> None:
    values = np.random.default_rng(0).normal(0, 3, 1000).astype(np.float32)
    layer = Layer()
    encode_linear16(values, layer)
    decoded = decode_layer(layer, net_pb2.Format.LINEAR16)
    float32_rounding = 1e-6 * np.abs(values).max()
    assert np.abs(decoded - values).max() <= 0.5 * linear16_step(layer) + float32_rounding
    assert decoded.min() == pytest.approx(values.min()) and decoded.max() == pytest.approx(values.max())
    encode_linear16(np.full(7, 0.25, np.float32), layer)
    np.testing.assert_array_equal(decode_layer(layer, net_pb2.Format.LINEAR16), np.full(7, 0.25, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        encode_linear16(np.array([1.0, np.nan]), layer)


def test_per_layer_float_encodings_decode() -> None:
    values = np.array([1.5, -2.25, 0.0, 3e-3], np.float32)
    for encoding, raw in ((Layer.FLOAT32, values.astype("<f4").tobytes()), (Layer.FLOAT16, values.astype("<f2").tobytes()),
                          (Layer.BFLOAT16, (values.view(np.uint32) >> 16).astype("<u2").tobytes())):
        decoded = decode_layer(Layer(params=raw, encoding=encoding), net_pb2.Format.LINEAR16)
        np.testing.assert_allclose(decoded, values, rtol=1e-2)


@pytest.mark.parametrize("config", [odd_config(), preset_config("tiny"), preset_config("small")], ids=["odd", "tiny", "small"])
def test_mapping_covers_every_parameter_exactly_once(config: model_pb2.ModelConfig) -> None:
    slots = btnet_slots(NetDims.from_config(config))
    check_coverage(param_shapes(config), slots)
    assert len({slot.lc0 for slot in slots}) == len(slots)


def test_network_format_is_derived_from_the_model_config() -> None:
    config = odd_config()
    config.input_type = model_pb2.INPUT_112_WITH_CANONICALIZATION_V2
    config.default_activation = model_pb2.RELU
    params = jax.tree.map(lambda x: np.zeros(x.shape, np.float32), param_shapes(config))
    fmt = export_net(config, params, TrainingInfo(steps=0)).format.network_format
    assert (fmt.input, fmt.default_activation) == (5, net_pb2.NetworkFormat.DEFAULT_ACTIVATION_RELU)
    assert (fmt.ffn_activation, fmt.smolgen_activation) == (net_pb2.NetworkFormat.ACTIVATION_RELU_2, net_pb2.NetworkFormat.ACTIVATION_SWISH)
    config.default_activation = model_pb2.SWISH
    with pytest.raises(ValueError, match="MISH or RELU"):
        export_net(config, params, TrainingInfo(steps=0))
    config.default_activation, config.body = model_pb2.MISH, 7
    with pytest.raises(ValueError, match="model.body 7 is not a known body"):
        export_net(config, params, TrainingInfo(steps=0))


def test_import_export_import_round_trip_keeps_format_tensors_and_outputs(tmp_path: Path) -> None:
    original = read_net(BT4_NET)
    first = imported_bt4()
    exported = export_net(first.config, first.params, TrainingInfo(steps=1234, learning_rate=0.01))
    write_net(exported, tmp_path / "net.pb.gz")
    written = read_net(tmp_path / "net.pb.gz")
    assert written.format.network_format == original.format.network_format
    assert written.format.weights_encoding == net_pb2.Format.LINEAR16
    assert (written.min_version.major, written.min_version.minor) == (0, 31)
    assert written.training_params.training_steps == 1234
    assert written.weights.headcount == original.weights.headcount
    kept = set(populated_layers(original.weights)) - set(first.ignored)
    assert set(populated_layers(written.weights)) == kept
    for path in kept:
        before = decode_layer(find_layer(original.weights, path), original.format.weights_encoding)
        after = decode_layer(find_layer(written.weights, path), net_pb2.Format.LINEAR16)
        assert after.shape == before.shape
        assert np.abs(after - before).max() <= linear16_step(find_layer(original.weights, path)), path
    second = import_net(written)
    positions = reference_positions("tiny_bt4_hecto")
    worst = max_output_difference(evaluate(second.config, second.params, positions), evaluate(first.config, first.params, positions))
    assert worst["policy"] < 1e-6 and worst["wdl"] < 1e-6 and worst["moves_left"] < 1e-6, worst


def test_classical_rule50_plane_is_folded_so_lc0_sees_the_same_first_layer() -> None:
    """lc0 feeds the raw rule-50 count: its ip_emb_w must give our pre-activations."""
    config = odd_config()
    config.input_type = model_pb2.INPUT_CLASSICAL_112_PLANE
    rng = np.random.default_rng(4)
    params = jax.tree.map(lambda x: rng.normal(0, 0.5, x.shape).astype(np.float32), param_shapes(config))
    net = export_net(config, params, TrainingInfo(steps=0))
    w_lc0 = decode_layer(net.weights.ip_emb_w, net_pb2.Format.LINEAR16).reshape(config.embedding_size, -1)
    encoded = encode_position(TEST_POSITIONS[2].board(), config.input_type)
    assert encoded.lc0_planes[109, 0] == 8.0
    ours = encoded.planes.reshape(112, 64).T @ np.asarray(params["embedding"]["square"]["kernel"])[:112]
    lc0 = encoded.lc0_planes.T @ w_lc0[:, :112].T
    np.testing.assert_allclose(lc0, ours, atol=2e-3 * np.abs(ours).max())
    unfolded = encoded.lc0_planes.T @ np.asarray(params["embedding"]["square"]["kernel"])[:112]
    assert np.abs(unfolded - ours).max() > 0.1 * np.abs(ours).max()
