"""Bad network files and bad requests fail with errors that name the problem."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from lc0train import net_pb2
from tests.lc0net_helpers import BT4_NET
from service.cli import main
from workers.lc0net.importer import import_net
from workers.lc0net.netfile import NetFileError, read_net, write_net

NetworkFormat = net_pb2.NetworkFormat


def _bt4() -> net_pb2.Net:
    return read_net(BT4_NET)


def test_files_that_are_not_lc0_nets(tmp_path: Path) -> None:
    cases = {
        "text.pb.gz": b"hello, not a network\n" * 10,
        "garbage.pb.gz": gzip.compress(bytes(range(256)) * 4),
        "truncated.pb.gz": BT4_NET.read_bytes()[:5000],
        "magic.pb.gz": gzip.compress(net_pb2.Net(magic=0x1234).SerializeToString()),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(NetFileError, match="not an lc0 network|corrupt gzip"):
            read_net(tmp_path / name)


def _set_format(field: str, value: int) -> Callable[[net_pb2.Net], None]:
    return lambda net: setattr(net.format.network_format, field, value)


def _classical_value(net: net_pb2.Net) -> None:
    """A classical value format in a net with WDL auxiliary value heads (q, st)."""
    net.format.network_format.value = NetworkFormat.VALUE_CLASSICAL
    net.format.network_format.output = NetworkFormat.OUTPUT_CLASSICAL


def _truncate(net: net_pb2.Net) -> None:
    layer = net.weights.encoder[1].ffn.dense2_w
    layer.params = layer.params[:-2]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_set_format("network", NetworkFormat.NETWORK_SE_WITH_HEADFORMAT), "NETWORK_SE_WITH_HEADFORMAT"),
        (_set_format("input_embedding", NetworkFormat.INPUT_EMBEDDING_PE_MAP), "ip_emb_w has 3840 values: a PE_MAP embedding"),
        (_set_format("value", NetworkFormat.VALUE_CLASSICAL), "output format OUTPUT_WDL does not match value format VALUE_CLASSICAL"),
        (_set_format("value", NetworkFormat.VALUE_UNKNOWN), "unsupported value format VALUE_UNKNOWN"),
        (_classical_value, "model.value is VALUE_CLASSICAL, but the auxiliary value heads"),
        (_set_format("moves_left", NetworkFormat.MOVES_LEFT_NONE), "no place for .*ip1_mov_b, ip1_mov_w, ip2_mov_b"),
        (_set_format("input", NetworkFormat.INPUT_UNKNOWN), "unsupported input format INPUT_UNKNOWN"),
        (_set_format("ffn_activation", NetworkFormat.ACTIVATION_SOFTMAX), "ACTIVATION_SOFTMAX"),
        (_truncate, r"encoder\[1\].ffn.dense2_w has 2047 values, but .* 32×64 = 2048"),
        (lambda net: net.weights.encoder[1].mha.ClearField("k_w"), r"missing tensor encoder\[1\].mha.k_w"),
        (lambda net: net.weights.ClearField("ip1_mov_b"), "missing tensor ip1_mov_b"),
        (lambda net: net.weights.smolgen_b.CopyFrom(net.weights.ip_emb_b), "no place for.*smolgen_b"),
        (lambda net: net.weights.ip_emb_b.__setattr__("max_val", float("nan")), "ip_emb_b holds NaN"),
        (lambda net: net.format.__setattr__("weights_encoding", 0), "unsupported weights encoding UNKNOWN_ENCODING"),
    ],
)
def test_unsupported_or_damaged_nets_are_refused(damage: Callable[[net_pb2.Net], None], message: str) -> None:
    net = _bt4()
    damage(net)
    with pytest.raises(NetFileError, match=message):
        import_net(net)


def test_cli_reports_errors_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a net")
    assert main(["net", "import", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "out")]) == 2
    assert "notes.txt: not an lc0 network" in capsys.readouterr().err
    net = _bt4()
    net.format.network_format.network = NetworkFormat.NETWORK_ONNX
    write_net(net, tmp_path / "onnx.pb.gz")
    assert main(["net", "eval", str(tmp_path / "onnx.pb.gz")]) == 2
    assert "unsupported network format NETWORK_ONNX" in capsys.readouterr().err
    assert main(["net", "eval", str(BT4_NET), "--moves", "e2e4 e2e4"]) == 2
    assert "move 2 'e2e4' is not legal" in capsys.readouterr().err
    assert main(["net", "export", str(tmp_path), "--out", str(tmp_path / "x.pb.gz")]) == 2
    assert "neither a job directory" in capsys.readouterr().err
    assert not (tmp_path / "x.pb.gz").exists()


def test_cli_eval_prints_one_json_line_per_position(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    positions = tmp_path / "positions.jsonl"
    positions.write_text(
        json.dumps({"moves": ["e2e4", "c7c5"]}) + "\n"
        + json.dumps({"fen": "4k3/8/8/8/8/8/8/4K2R w K - 3 40", "moves": ["e1g1"]}) + "\n"
    )
    assert main(["net", "eval", str(BT4_NET), "--positions", str(positions), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert np.shape(first["input_planes"]) == (112, 64) and len(first["policy_logits"]) == 1858
    assert first["fen"].startswith("rnbqkbnr/pp1ppppp/8/2p5/4P3")
    assert sum(m["prob"] for m in first["legal"]) == pytest.approx(1.0)
    assert first["q"] == pytest.approx(first["wdl"][0] - first["wdl"][2])
    # Castling does not reset the rule-50 clock: 3 + 1 plies, in hectoplies.
    assert second["input_planes"][109][0] == pytest.approx(0.04)
    assert {m["uci"] for m in second["legal"]} == {"e8d7", "e8d8", "e8e7"}
