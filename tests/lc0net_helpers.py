"""Shared helpers of the lc0 network tests: reference rows and output comparisons."""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from tests.helpers import DATA
from workers.lc0net.evaluate import Position
from workers.lc0net.importer import ImportedNet, import_net
from workers.lc0net.netfile import read_net

BT4_NET = DATA / "tiny_bt4_hecto.pb.gz"
# Positions with castling rights, en passant, a capture and a running rule-50 clock.
TEST_POSITIONS = [
    Position(()),
    Position(tuple("e2e4 d7d5 e4e5 f7f5".split())),
    Position(tuple("g1f3 g8f6 f3g1 f6g8 b1c3 b8c6 c3b1 c6b8".split())),
    Position(tuple("e2e4 d7d5 e4d5 d8d5 b1c3 d5a5 g1f3 c8g4 f1e2 b8c6".split())),
]


@functools.cache
def reference_rows(name: str) -> tuple[dict[str, Any], ...]:
    """lc0 0.32.1's outputs for the 24 positions of tests/data/<name>_lc0_reference.jsonl."""
    with (DATA / f"{name}_lc0_reference.jsonl").open() as lines:
        return tuple(json.loads(line) for line in lines)


def reference_planes(row: dict[str, Any]) -> np.ndarray:
    """lc0's 112 input planes of a reference row as float32 [112, 64] (bit s = square s)."""
    planes = np.zeros((len(row["planes"]), 64), np.float32)
    for p, (mask, value) in enumerate(row["planes"]):
        bits = int(mask, 16)
        planes[p] = [np.float32(value) if bits >> s & 1 else 0.0 for s in range(64)]
    return planes


def reference_positions(name: str) -> list[Position]:
    return [Position(tuple(row["moves"])) for row in reference_rows(name)]


@functools.cache
def imported_bt4() -> ImportedNet:
    return import_net(read_net(BT4_NET))


def relative_logit_error(logits: np.ndarray, reference: np.ndarray) -> float:
    """Largest |difference| relative to the reference logits' range."""
    return float(np.abs(np.asarray(logits) - reference).max() / np.ptp(reference))


def max_output_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, float]:
    """Worst differences between two `evaluate` results on the same positions."""
    worst = {"policy": 0.0, "wdl": 0.0, "moves_left": 0.0}
    for x, y in zip(a, b, strict=True):
        assert [m["index"] for m in x["legal"]] == [m["index"] for m in y["legal"]]
        legal = [m["index"] for m in x["legal"]]
        reference = np.asarray(y["policy_logits"])[legal]
        worst["policy"] = max(worst["policy"], relative_logit_error(np.asarray(x["policy_logits"])[legal], reference))
        worst["wdl"] = max(worst["wdl"], float(np.abs(np.subtract(x["wdl"], y["wdl"])).max()))
        worst["moves_left"] = max(worst["moves_left"], abs(x["moves_left"] - y["moves_left"]))
    return worst
