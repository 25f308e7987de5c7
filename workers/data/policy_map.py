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
promotions use the suffixed entries. Castling is the king's two-square move
(e1g1 / e1c1), as lc0 writes it in V6 data.

Canonical input formats also apply a board transform (bits 0-2 of lc0's
``invariance_info``: 1 flips files, 2 flips ranks, 4 transposes across the
a8-h1 diagonal, applied in that order) to both squares of a move.
"""

import chess

NUM_POLICY_MOVES = 1858
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


def transform_square(square: chess.Square, transform: int) -> chess.Square:
    """Apply an lc0 canonical transform (flip, mirror, transpose bits) to a square."""
    rank, file = chess.square_rank(square), chess.square_file(square)
    if transform & FLIP_TRANSFORM:
        file = 7 - file
    if transform & MIRROR_TRANSFORM:
        rank = 7 - rank
    if transform & TRANSPOSE_TRANSFORM:
        rank, file = 7 - file, 7 - rank
    return chess.square(file, rank)


def move_to_policy_index(move: chess.Move, turn: chess.Color, transform: int = 0) -> int:
    """lc0 policy index of `move` played by `turn` (optionally canonically transformed)."""
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
        move: move_to_policy_index(move, board.turn, transform)
        for move in board.legal_moves
    }
