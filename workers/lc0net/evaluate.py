"""Our forward pass on chess positions, reported the way lc0 sees them (`lc0-train net eval`).

The network input is built exactly as training data reaches the model: the position's
V6 fields (`position_fields`) go through a V6 record and the loader's decoder. The
reported `input_planes` are lc0's own encoding of the same position, which differs only
in the rule-50 plane's unit (see `mapping.rule50_divisors`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chess
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lc0train import model_pb2

from workers.data.planes import position_fields
from workers.data.policy_map import legal_policy_indices
from workers.data.v6 import NUM_POLICY, InputFormat, decode_records, encode_record
from workers.lc0net.mapping import RULE50_PLANE, Params, rule50_divisors
from workers.model import BTNet, ResNet, build_model

_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Position:
    """A position to evaluate: UCI moves played from `fen` (default: the start position)."""

    moves: tuple[str, ...] = ()
    fen: str | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Position":
        unknown = set(obj) - {"moves", "fen"}
        if unknown:
            raise ValueError(f"unknown position keys {sorted(unknown)} (expected moves and/or fen)")
        moves = obj.get("moves", [])
        if isinstance(moves, str):
            moves = moves.split()
        return cls(tuple(moves), obj.get("fen"))

    def board(self) -> chess.Board:
        try:
            board = chess.Board(self.fen) if self.fen else chess.Board()
        except ValueError as err:
            raise ValueError(f"bad FEN {self.fen!r}: {err}") from err
        for ply, uci in enumerate(self.moves):
            try:
                board.push_uci(uci)
            except ValueError as err:
                raise ValueError(f"move {ply + 1} {uci!r} is not legal in {board.fen()}") from err
        return board


@dataclasses.dataclass(frozen=True)
class EncodedPosition:
    """One position's network input (our units) and lc0's planes for it."""

    board: chess.Board
    planes: np.ndarray  # float32 [112, 8, 8], as our loader feeds the net
    lc0_planes: np.ndarray  # float32 [112, 64], square a1 = 0, lc0's units
    transform: int


def encode_position(board: chess.Board, input_type: int) -> EncodedPosition:
    """The position's input planes via a V6 record, as training data would give them."""
    fmt = InputFormat(input_type)
    fields = position_fields(board, fmt)
    scalars = fields._asdict()
    masks = scalars.pop("planes")
    record = encode_record(fmt, masks, np.zeros(NUM_POLICY, np.float32), **scalars)
    planes = decode_records(np.frombuffer(record, np.uint8)[None]).planes[0]
    lc0_planes = planes.reshape(planes.shape[0], -1).copy()
    lc0_divisor, _ = rule50_divisors(input_type)
    lc0_planes[RULE50_PLANE] = np.float32(fields.rule50_count) / np.float32(lc0_divisor)
    return EncodedPosition(board, planes, lc0_planes, fields.transform)


def evaluate(config: model_pb2.ModelConfig, params: Params, positions: list[Position]) -> list[dict[str, Any]]:
    """One result dict per position (keys as `lc0-train net eval --json` prints them)."""
    model = inference_model(config, params)
    forward = nnx.jit(lambda m, x: m(x))
    encoded = [encode_position(p.board(), config.input_type) for p in positions]
    results = []
    for start in range(0, len(encoded), _BATCH):
        chunk = encoded[start : start + _BATCH]
        out = jax.device_get(forward(model, jnp.asarray(np.stack([e.planes for e in chunk]))))
        wdl = _wdl(out)
        moves_left = np.zeros(len(chunk)) if out.moves_left is None else np.asarray(out.moves_left)
        for i, enc in enumerate(chunk):
            results.append(_result(enc, np.asarray(out.policy_logits[i]), wdl[i], float(moves_left[i])))
    return results


def _wdl(out: Any) -> np.ndarray:
    """Win/draw/loss probabilities [B, 3]; a classical value head gives ((1 + q)/2, 0, (1 − q)/2), as lc0 does."""
    if out.wdl_logits is not None:
        return np.asarray(jax.nn.softmax(out.wdl_logits, axis=-1))
    q = np.asarray(out.value, np.float64)
    return np.stack([(1 + q) / 2, np.zeros_like(q), (1 - q) / 2], axis=-1)


def inference_model(config: model_pb2.ModelConfig, params: Params) -> BTNet | ResNet:
    """The model holding `params` (batch statistics merged in) in inference mode,
    built without initialising (and compiling) random weights."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: build_model(config, seed=0)))
    nnx.replace_by_pure_dict(state, params)
    model = nnx.merge(graphdef, state)
    model.eval()
    return model


def _result(enc: EncodedPosition, logits: np.ndarray, wdl: np.ndarray, moves_left: float) -> dict[str, Any]:
    indices = sorted((idx, move.uci()) for move, idx in legal_policy_indices(enc.board, enc.transform).items())
    legal_logits = np.array([logits[idx] for idx, _ in indices], np.float64)
    probs = np.exp(legal_logits - legal_logits.max()) if indices else legal_logits
    probs = probs / probs.sum() if indices else probs
    return {
        "fen": enc.board.fen(),
        "transform": enc.transform,
        "input_planes": enc.lc0_planes.tolist(),
        "policy_logits": logits.tolist(),
        "wdl": wdl.tolist(),
        "q": float(wdl[0] - wdl[2]),
        "d": float(wdl[1]),
        "moves_left": moves_left,
        "legal": [{"uci": uci, "index": idx, "prob": float(p)} for (idx, uci), p in zip(indices, probs)],
    }
