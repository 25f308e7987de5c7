"""python-chess board (with its move stack as history) -> V6 position fields.

Owns lc0's input encoding as its self-play writes it into V6 records: the 104
history bit planes, castling bytes, side_to_move_or_enpassant, rule50_count and
invariance_info, for all seven `InputFormat`s, including the canonical
transform choice (flip / mirror / transpose) of formats >= 3.

lc0 conventions reproduced here:

* Every history position is drawn from the *current* side to move's point of
  view: "our" pieces are the current mover's, and all boards are rank-flipped
  when black is to move, whoever was to move in that older position.
* History before the game's root (lc0's FEN_ONLY fill): left zero when the
  root is the standard start position; from any other root (a FEN) the
  remaining slots repeat the root, with the double pawn push its en-passant
  square implies undone. A FEN's en-passant square counts as lc0 parses it,
  whether or not a pawn can take.
* The repetition plane is set when the same position (pieces, side to move,
  castling rights, en-passant flag) occurred earlier in the game.
* lc0 only sets an en-passant flag after a double push if an enemy pawn
  attacks the passed square (python-chess's pseudo-legal en passant).
* Canonical formats stop the history at a castling-rights change, before an
  older position with an en-passant flag, and after a zeroing move; the V2
  formats keep only older positions that are repetitions.
"""

import functools
import operator
from typing import NamedTuple

import chess
import numpy as np

from workers.data.policy_map import (
    FLIP_TRANSFORM,
    MIRROR_TRANSFORM,
    TRANSPOSE_TRANSFORM,
    transform_bitboard,
)
from workers.data.v6 import NUM_BIT_PLANES, InputFormat

HISTORY_LENGTH = 8
PLANES_PER_POSITION = 13
_ALL_SQUARES = chess.BB_ALL
_PIECE_TYPES = (chess.PAWN, chess.KNIGHT, chess.BISHOP, chess.ROOK, chess.QUEEN, chess.KING)
_START_EPD = chess.Board().epd()
# Standard chess: castling rooks start on the a-file (ooo) and h-file (oo).
_OOO_ROOK_FILE_MASK = 1 << 0
_OO_ROOK_FILE_MASK = 1 << 7
# Our king after flip/mirror is in the e1-h4 quadrant; these split it at the
# h1-a8 diagonal, lc0's transpose axis.
_ABOVE_TRANSPOSE_AXIS = int(chess.SquareSet([chess.H2, chess.G3, chess.H3, chess.F4, chess.G4, chess.H4]))
_ON_TRANSPOSE_AXIS = int(chess.SquareSet([chess.H1, chess.G2, chess.F3, chess.E4]))
_LEFT_HALF = chess.BB_FILE_A | chess.BB_FILE_B | chess.BB_FILE_C | chess.BB_FILE_D
_TOP_HALF = chess.BB_RANK_5 | chess.BB_RANK_6 | chess.BB_RANK_7 | chess.BB_RANK_8


class PositionFields(NamedTuple):
    """The V6 record fields that describe a position (names as in V6_DTYPE)."""

    planes: np.ndarray  # uint64 [104] masks, bit s = square s (not yet bit-reversed)
    castling_us_ooo: int
    castling_us_oo: int
    castling_them_ooo: int
    castling_them_oo: int
    side_to_move_or_enpassant: int
    rule50_count: int
    invariance_info: int

    @property
    def transform(self) -> int:
        """The canonical transform applied to planes and policy indices (0 if none)."""
        return self.invariance_info & (FLIP_TRANSFORM | MIRROR_TRANSFORM | TRANSPOSE_TRANSFORM)


class _Snapshot(NamedTuple):
    """One history position, drawn from the current mover's point of view."""

    key: tuple[int | bool | None, ...]  # what lc0 compares to detect repetitions
    pieces: tuple[int, ...]  # 12 masks: our P N B R Q K, their P N B R Q K
    castling_rights: int
    rule50: int
    en_passant_file: int | None  # set if an enemy pawn could take en passant (a FEN root: as given)


def _snapshot(board: chess.Board, us: chess.Color, fen_root: bool = False) -> _Snapshot:
    """`board` drawn for `us`; a FEN root keeps its en-passant square even if no pawn can take."""
    has_en_passant = board.ep_square is not None if fen_root else board.has_pseudo_legal_en_passant()
    ep_file = chess.square_file(board.ep_square) if has_en_passant and board.ep_square is not None else None
    castling = board.clean_castling_rights()
    pieces = tuple(board.pieces_mask(pt, color) for color in (us, not us) for pt in _PIECE_TYPES)
    key = (*pieces, board.turn, castling, ep_file)
    if us == chess.BLACK:
        pieces = tuple(chess.flip_vertical(mask) for mask in pieces)
    return _Snapshot(key, pieces, castling, board.halfmove_clock, ep_file)


def _history(board: chess.Board) -> tuple[list[_Snapshot], _Snapshot | None]:
    """Snapshots newest first: 8 positions, and back to the last zeroing move.

    Older positions can only repeat ones after the last zeroing move, and the
    V2 formats scan back to it, so the walk always reaches it. Also returns the
    copy of the root that fills older history when the walk reached a root
    other than the standard start (None otherwise).
    """
    walker = board.copy(stack=max(HISTORY_LENGTH - 1, board.halfmove_clock))
    whole_game = len(walker.move_stack) == len(board.move_stack)

    def snapshot() -> _Snapshot:
        return _snapshot(walker, board.turn, fen_root=whole_game and not walker.move_stack)

    snapshots = [snapshot()]
    while walker.move_stack and (len(snapshots) < HISTORY_LENGTH or snapshots[-1].rule50 > 0):
        walker.pop()
        snapshots.append(snapshot())
    reached_root = whole_game and not walker.move_stack
    if not reached_root or walker.epd(en_passant="fen") == _START_EPD:
        return snapshots, None
    return snapshots, _root_copy(walker, snapshots[-1], board.turn)


def _root_copy(root: chess.Board, snap: _Snapshot, us: chess.Color) -> _Snapshot:
    """The root as lc0 repeats it before the game: an en-passant square's double push undone.

    Its other fields stay the root's (lc0's stop rules read the root itself).
    """
    if root.ep_square is None:
        return snap
    back = 8 if root.turn == chess.WHITE else -8  # from the en-passant square to the pawn's start
    pawn = chess.Piece(chess.PAWN, not root.turn)
    pushed_to, pushed_from = root.ep_square - back, root.ep_square + back
    if root.piece_at(pushed_to) != pawn or root.piece_at(pushed_from) is not None:
        raise ValueError(
            f"FEN {root.fen(en_passant='fen')!r}: en-passant square {chess.square_name(root.ep_square)} "
            "does not follow a double pawn push"
        )
    undone = root.copy(stack=False)
    undone.remove_piece_at(pushed_to)
    undone.set_piece_at(pushed_from, pawn)
    return snap._replace(pieces=_snapshot(undone, us).pieces)


def _history_planes(
    snapshots: list[_Snapshot], root_copy: _Snapshot | None, input_format: InputFormat
) -> np.ndarray:
    """The 104 history masks of lc0's EncodePositionNoTransform."""
    canonical = input_format >= InputFormat.CANONICAL
    repeats_only = input_format in (InputFormat.CANONICAL_V2, InputFormat.CANONICAL_V2_ARMAGEDDON)
    repeated = [any(snap.key == older.key for older in snapshots[age + 1 :]) for age, snap in enumerate(snapshots)]
    copies = [] if root_copy is None else [root_copy] * HISTORY_LENGTH
    planes = np.zeros(NUM_BIT_PLANES, np.uint64)
    slot = 0
    for age, (snap, repeat) in enumerate(zip(snapshots + copies, repeated + [False] * len(copies))):
        if slot == HISTORY_LENGTH:
            break
        if canonical and snap.castling_rights != snapshots[0].castling_rights:
            break
        if canonical and age > 0 and snap.en_passant_file is not None:
            break
        if repeats_only and age > 0 and not repeat:
            # lc0 skips non-repeats back to a zeroing move; on the root's copies
            # (never repeats) that scan would not end, so they end the history.
            if snap.rule50 == 0 or age >= len(snapshots):
                break
            continue
        base = slot * PLANES_PER_POSITION
        planes[base : base + 12] = snap.pieces
        planes[base + 12] = _ALL_SQUARES if repeat else 0
        slot += 1
        if canonical and snap.rule50 == 0:
            break
    return planes


def _compare_transposing(mask: int, transform: int) -> int:
    """Sign of (mask - its transpose) after `transform` (lc0's CompareTransposing)."""
    value = transform_bitboard(mask, transform)
    alternative = chess.flip_anti_diagonal(value)
    return (value > alternative) - (value < alternative)


def _choose_transform(pieces: tuple[int, ...], castling_rights: int) -> int:
    """lc0's ChooseTransform for the current position's (untransformed) pieces."""
    if castling_rights:
        return 0
    our_king = pieces[5]
    transform = 0
    if our_king & _LEFT_HALF:
        transform |= FLIP_TRANSFORM
        our_king = chess.flip_horizontal(our_king)
    if pieces[0] | pieces[6]:  # With pawns only the horizontal flip is valid.
        return transform
    if our_king & _TOP_HALF:
        transform |= MIRROR_TRANSFORM
        our_king = chess.flip_vertical(our_king)
    if our_king & _ABOVE_TRANSPOSE_AXIS:
        return transform | TRANSPOSE_TRANSFORM
    if our_king & _ON_TRANSPOSE_AXIS:
        ours = functools.reduce(operator.or_, pieces[:6])
        theirs = functools.reduce(operator.or_, pieces[6:])
        # Tie-breaks in lc0's order: all, ours, then K, Q, R, N, B of both sides.
        by_type = [pieces[i] | pieces[i + 6] for i in (5, 4, 3, 1, 2)]
        for mask in (ours | theirs, ours, *by_type):
            outcome = _compare_transposing(mask, transform)
            if outcome:
                return transform | TRANSPOSE_TRANSFORM if outcome > 0 else transform
    return transform


def _castling_bytes(board: chess.Board, input_format: InputFormat) -> tuple[int, int, int, int]:
    """us_ooo, us_oo, them_ooo, them_oo: 0/1 for format 1, rook-file masks after."""
    ooo, oo = (1, 1) if input_format == InputFormat.CLASSICAL else (_OOO_ROOK_FILE_MASK, _OO_ROOK_FILE_MASK)
    us, them = board.turn, not board.turn
    return (
        ooo if board.has_queenside_castling_rights(us) else 0,
        oo if board.has_kingside_castling_rights(us) else 0,
        ooo if board.has_queenside_castling_rights(them) else 0,
        oo if board.has_kingside_castling_rights(them) else 0,
    )


def position_fields(board: chess.Board, input_format: InputFormat) -> PositionFields:
    """The V6 fields lc0 self-play writes for `board`'s current position."""
    input_format = InputFormat(input_format)
    snapshots, root_copy = _history(board)
    planes = _history_planes(snapshots, root_copy, input_format)
    current = snapshots[0]
    black = board.turn == chess.BLACK
    if input_format < InputFormat.CANONICAL:
        return PositionFields(
            planes, *_castling_bytes(board, input_format), int(black), board.halfmove_clock, 0
        )
    transform = _choose_transform(current.pieces, current.castling_rights)
    if transform:
        planes = np.array([transform_bitboard(int(mask), transform) for mask in planes], np.uint64)
    en_passant = 0 if current.en_passant_file is None else 1 << current.en_passant_file
    if transform & FLIP_TRANSFORM:  # Only the flip can apply when pawns exist.
        en_passant = int(transform_bitboard(en_passant << 56, transform)) >> 56
    return PositionFields(
        planes,
        *_castling_bytes(board, input_format),
        en_passant,
        board.halfmove_clock,
        transform | (0x80 if black else 0),
    )
