"""The legacy attention body's fixed "arc" positional table (lc0's PE_MAP encoding)."""

import functools

import chess
import numpy as np

from workers.model.dims import NUM_SQUARES


@functools.cache
def arc_table() -> np.ndarray:
    """float32 [64, 64]: row i is −1 at i, +1 where a queen or knight on i reaches, else 0.

    Reach is on an empty board (python-chess attack sets), squares a1 = 0 … h8 = 63.
    """
    table = np.zeros((NUM_SQUARES, NUM_SQUARES), np.float32)
    for square in chess.SQUARES:
        board = chess.Board.empty()
        for piece in (chess.QUEEN, chess.KNIGHT):
            board.set_piece_at(square, chess.Piece(piece, chess.WHITE))
            table[square, list(board.attacks(square))] = 1.0
        table[square, square] = -1.0
    table.flags.writeable = False
    return table
