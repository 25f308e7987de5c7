"""lc0's 1858-entry policy index space, generated from move geometry.

Owns the mapping between chess moves and lc0 policy indices. The list is not
pasted: it is rebuilt from python-chess move geometry in lc0's order:

* 1792 entries: for each from-square a1, b1, ..., h8, every to-square a queen or
  a knight could reach on an empty board, in ascending square order;
* 66 entries: for each pawn on a7..h7, each reachable square on the last rank
  (capture left, push, capture right), promoting to queen, rook, bishop.

Indices live in the side-to-move frame: black's moves are mirrored (ranks
flipped) first. Knight promotions use the plain from/to entry (lc0's
convention, confirmed by lc0 0.32.1 reference positions), the other three
promotions use the suffixed entries. Castling is encoded as the king taking
its own rook (e1h1 / e1a1), as lc0 0.32 writes it in V6 data, not as
python-chess's e1g1 / e1c1.

Canonical input formats also apply a board transform (bits 0-2 of lc0's
``invariance_info``: 1 flips files, 2 flips ranks, 4 transposes across the
a8-h1 diagonal, applied in that order) to both squares of a move.

`replay_played_indices` rebuilds a chunk's game from its played_idx fields.
"""

from collections.abc import Sequence

import chess

FLIP_TRANSFORM = 1
MIRROR_TRANSFORM = 2
TRANSPOSE_TRANSFORM = 4

# Promotion pieces with their own policy entries, in lc0's order.
_SUFFIXED_PROMOTIONS = (chess.QUEEN, chess.ROOK, chess.BISHOP)


def _queen_or_knight_targets(square: chess.Square) -> chess.SquareSet:
    """Squares a queen or a knight on `square` reaches on an empty board."""
    board = chess.BaseBoard.empty()
    board.set_piece_at(square, chess.Piece(chess.QUEEN, chess.WHITE))
    return board.attacks(square) | chess.SquareSet(chess.BB_KNIGHT_ATTACKS[square])


def _generate_policy_moves() -> tuple[str, ...]:
    """Build the 1858 UCI strings in lc0 order."""
    moves = [
        chess.Move(from_sq, to_sq).uci()
        for from_sq in chess.SQUARES
        for to_sq in _queen_or_knight_targets(from_sq)
    ]
    for from_sq in chess.SquareSet(chess.BB_RANK_7):
        pawn_targets = chess.SquareSet(
            chess.BB_PAWN_ATTACKS[chess.WHITE][from_sq] | chess.BB_SQUARES[from_sq + 8]
        )
        for to_sq in pawn_targets:
            moves.extend(
                chess.Move(from_sq, to_sq, promotion=piece).uci()
                for piece in _SUFFIXED_PROMOTIONS
            )
    return tuple(moves)


POLICY_MOVES: tuple[str, ...] = _generate_policy_moves()
POLICY_INDEX: dict[str, int] = {uci: idx for idx, uci in enumerate(POLICY_MOVES)}


def transform_bitboard(mask: int, transform: int) -> int:
    """Apply an lc0 canonical transform (flip, then mirror, then transpose) to a bitboard."""
    if transform & FLIP_TRANSFORM:
        mask = chess.flip_horizontal(mask)
    if transform & MIRROR_TRANSFORM:
        mask = chess.flip_vertical(mask)
    if transform & TRANSPOSE_TRANSFORM:
        mask = chess.flip_anti_diagonal(mask)
    return mask


def transform_square(square: chess.Square, transform: int) -> chess.Square:
    """Apply an lc0 canonical transform to a square."""
    return chess.lsb(transform_bitboard(chess.BB_SQUARES[square], transform))


def king_takes_rook(board: chess.Board, move: chess.Move) -> chess.Move:
    """`move` with castling rewritten as lc0 encodes it: king to its rook's square."""
    if board.chess960 or not board.is_castling(move):
        return move  # Chess960 boards already write castling king-takes-rook.
    rook_file = 7 if board.is_kingside_castling(move) else 0
    return chess.Move(move.from_square, chess.square(rook_file, chess.square_rank(move.from_square)))


def move_to_policy_index(move: chess.Move, turn: chess.Color, transform: int = 0) -> int:
    """lc0 policy index of `move` played by `turn` (optionally canonically transformed).

    Castling must already be written king-takes-rook (see `king_takes_rook`).
    """
    from_sq, to_sq = move.from_square, move.to_square
    if turn == chess.BLACK:
        from_sq, to_sq = chess.square_mirror(from_sq), chess.square_mirror(to_sq)
    if transform:
        from_sq = transform_square(from_sq, transform)
        to_sq = transform_square(to_sq, transform)
    promotion = None if move.promotion == chess.KNIGHT else move.promotion
    return POLICY_INDEX[chess.Move(from_sq, to_sq, promotion=promotion).uci()]


def legal_policy_indices(board: chess.Board, transform: int = 0) -> dict[chess.Move, int]:
    """Policy index of every legal move of `board`."""
    return {
        move: move_to_policy_index(king_takes_rook(board, move), board.turn, transform)
        for move in board.legal_moves
    }


def replay_played_indices(
    played_indices: Sequence[int], transforms: Sequence[int] | None = None
) -> list[chess.Board]:
    """Boards of a game from the start position, one per record, before its played move.

    lc0 chunks hold consecutive positions of one game; each record's
    played_idx (in its transform's frame) names the move to the next one.
    """
    transforms = transforms if transforms is not None else [0] * len(played_indices)
    board = chess.Board()
    boards = []
    for ply, (played, transform) in enumerate(zip(played_indices, transforms, strict=True)):
        by_index = {idx: move for move, idx in legal_policy_indices(board, transform).items()}
        if played not in by_index:
            raise ValueError(f"played_idx {played} is not a legal move at ply {ply}: {board.fen()}")
        boards.append(board.copy())
        board.push(by_index[played])
    return boards
