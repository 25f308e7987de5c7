"""lc0's convolution-policy layout: 80 planes × 64 squares mapped onto the 1858 policy.

The convolution policy head ends in a 3×3 conv with 80 output channels; plane p at
square s (a1 = 0, rank-major) scores the move from s described by p. The layout is the
AlphaZero one as lc0 (and the legacy trainer's `lc0_az_policy_map`) orders it, generated
here from move geometry:

* planes 0–55, queen-like moves: plane = 7·direction + (distance − 1), directions in the
  order N, NE, E, SE, S, SW, W, NW (N = towards rank 8, E = towards the h-file);
* planes 56–63, knight moves in the order (Δfile, Δrank) = (1, 2), (2, 1), (2, −1),
  (1, −2), (−1, −2), (−2, −1), (−2, 1), (−1, 2);
* planes 64–72, promotions from rank 7 with a suffixed policy entry: plane =
  64 + 3·direction + piece, direction NW, N, NE (capture towards the a-file, push, capture
  towards the h-file) and piece r, b, q. A knight promotion is the plain queen-like move
  from rank 7 (lc0 policy has no suffix for it), as is every other one-step move;
* planes 73–79 are padding and never read.

Every one of the 1858 policy moves has exactly one (plane, square); the other 5120 − 1858
cells are off-board or unused. `conv_policy_gather_index()` gives, for each policy index,
its position in the flattened `[80, 64]` (plane-major, lc0/NCHW order) head output.
"""

import functools

import chess
import numpy as np

from workers.data.policy_map import POLICY_INDEX, POLICY_MOVES

NUM_CONV_POLICY_PLANES = 80
NUM_USED_PLANES = 73

# (Δfile, Δrank) per direction, in plane order.
QUEEN_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
KNIGHT_DIRECTIONS = ((1, 2), (2, 1), (2, -1), (1, -2), (-1, -2), (-2, -1), (-2, 1), (-1, 2))
PROMOTION_FILE_STEPS = (-1, 0, 1)
PROMOTION_PIECES = (chess.ROOK, chess.BISHOP, chess.QUEEN)
KNIGHT_PLANE_OFFSET = 56
PROMOTION_PLANE_OFFSET = 64


def _offset_square(square: chess.Square, d_file: int, d_rank: int) -> chess.Square | None:
    f, r = chess.square_file(square) + d_file, chess.square_rank(square) + d_rank
    if 0 <= f < 8 and 0 <= r < 8:
        return chess.square(f, r)
    return None


def plane_move(plane: int, square: chess.Square) -> chess.Move | None:
    """The move plane `plane` scores at `square`, or None for an off-board / unused cell."""
    if plane < KNIGHT_PLANE_OFFSET:
        d_file, d_rank = QUEEN_DIRECTIONS[plane // 7]
        distance = plane % 7 + 1
        to = _offset_square(square, d_file * distance, d_rank * distance)
        return None if to is None else chess.Move(square, to)
    if plane < PROMOTION_PLANE_OFFSET:
        to = _offset_square(square, *KNIGHT_DIRECTIONS[plane - KNIGHT_PLANE_OFFSET])
        return None if to is None else chess.Move(square, to)
    if plane < NUM_USED_PLANES:
        if chess.square_rank(square) != 6:
            return None
        direction, piece = divmod(plane - PROMOTION_PLANE_OFFSET, len(PROMOTION_PIECES))
        to = _offset_square(square, PROMOTION_FILE_STEPS[direction], 1)
        return None if to is None else chess.Move(square, to, promotion=PROMOTION_PIECES[piece])
    return None


@functools.cache
def conv_policy_cells() -> np.ndarray:
    """[80, 64] int32: the lc0 policy index of each (plane, square) cell, −1 where none."""
    cells = np.full((NUM_CONV_POLICY_PLANES, 64), -1, np.int32)
    for plane in range(NUM_CONV_POLICY_PLANES):
        for square in chess.SQUARES:
            move = plane_move(plane, square)
            if move is None:
                continue
            index = POLICY_INDEX.get(move.uci())
            if index is None:
                # Queen-like moves are all in the policy; only the geometry of a bug lands here.
                raise ValueError(f"conv policy plane {plane} square {square}: {move.uci()} is not an lc0 move")
            cells[plane, square] = index
    cells.flags.writeable = False
    return cells


@functools.cache
def conv_policy_gather_index() -> np.ndarray:
    """[1858] int32: for each lc0 policy index, plane·64 + square in the flattened head output."""
    flat = conv_policy_cells().reshape(-1)
    used = np.flatnonzero(flat >= 0)
    if len(used) != len(POLICY_MOVES) or sorted(flat[used].tolist()) != list(range(len(POLICY_MOVES))):
        raise ValueError("the convolution policy layout does not cover each lc0 move exactly once")
    index = np.empty(len(POLICY_MOVES), np.int32)
    index[flat[used]] = used
    index.flags.writeable = False
    return index


def conv_policy_matrix() -> np.ndarray:
    """The legacy trainer's [5120, 1858] 0/1 matrix (flattened head output @ matrix = logits)."""
    matrix = np.zeros((NUM_CONV_POLICY_PLANES * 64, len(POLICY_MOVES)), np.float32)
    matrix[conv_policy_gather_index(), np.arange(len(POLICY_MOVES))] = 1.0
    return matrix
