"""lc0 policy index: generated list versus lc0's own indices."""

import json
from pathlib import Path

import chess
import pytest

from workers.data.policy_map import (
    POLICY_INDEX,
    POLICY_MOVES,
    legal_policy_indices,
    move_to_policy_index,
    replay_played_indices,
    transform_square,
)

DATA = Path(__file__).parent / "data"
REFERENCE = [json.loads(line) for line in (DATA / "maia1900_lc0_reference.jsonl").read_text().splitlines()]


def test_index_has_1858_unique_entries() -> None:
    assert len(POLICY_MOVES) == 1858
    assert len(set(POLICY_MOVES)) == 1858
    assert all(POLICY_INDEX[move] == idx for idx, move in enumerate(POLICY_MOVES))
    assert sum(len(move) == 5 for move in POLICY_MOVES) == 66


@pytest.mark.parametrize("row", REFERENCE, ids=lambda row: row["fen"])
def test_legal_moves_match_lc0(row: dict) -> None:
    board = chess.Board()
    for uci in row["moves"]:
        board.push_uci(uci)
    assert board.fen() == row["fen"]
    ours = {move.uci(): idx for move, idx in legal_policy_indices(board).items()}
    assert ours == {entry["move"]: entry["idx"] for entry in row["legal"]}


def test_promotions_match_lc0_canonical_reference() -> None:
    # Values from lc0 0.32.1 (tiny_bt4_hecto reference, transform 1 = file
    # flip): knight promotion uses the plain move, q/r/b the suffixed entries.
    board = chess.Board("8/4P1k1/p5Np/1N5b/P1P2p2/3P2bp/8/1K6 w - - 1 66")
    ours = {move.uci(): idx for move, idx in legal_policy_indices(board, transform=1).items()}
    assert {move: ours[move] for move in ("e7e8q", "e7e8r", "e7e8b", "e7e8n")} == {
        "e7e8q": 1819,
        "e7e8r": 1820,
        "e7e8b": 1821,
        "e7e8n": 1486,
    }
    assert POLICY_MOVES[1486] == "d7d8"


def test_black_moves_are_mirrored_and_castling_is_king_takes_rook() -> None:
    board = chess.Board("r3k2r/8/8/8/8/8/8/R3K2R b KQkq - 0 1")
    indices = legal_policy_indices(board)
    assert indices[chess.Move.from_uci("e8g8")] == POLICY_INDEX["e1h1"]
    assert indices[chess.Move.from_uci("e8c8")] == POLICY_INDEX["e1a1"]
    assert move_to_policy_index(chess.Move.from_uci("a8a1"), chess.BLACK) == POLICY_INDEX["a1a8"]


def test_transpose_maps_across_the_h1_a8_diagonal() -> None:
    assert transform_square(chess.H2, 4) == chess.G1
    assert transform_square(chess.A1, 4) == chess.H8
    assert transform_square(chess.B1, 1 | 2) == chess.G8


def test_replay_rejects_an_illegal_played_index() -> None:
    with pytest.raises(ValueError, match="not a legal move at ply 0"):
        replay_played_indices([POLICY_INDEX["e2e5"]])
