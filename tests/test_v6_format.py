"""V6 records: layout, encode/decode round trip, planes versus lc0's own output."""

import itertools
import json
from pathlib import Path

import chess
import numpy as np
import pytest

from workers.data.planes import position_fields
from workers.data.policy_map import legal_policy_indices, replay_played_indices
from tests.chunk_helpers import board_planes, read_chunk
from workers.data.v6 import RECORD_SIZE, V6_DTYPE, InputFormat, decode_records, encode_record

DATA = Path(__file__).parent / "data"
LC0_CHUNKS = sorted((DATA / "lc0-selfplay").glob("game_*.gz"))
REFERENCE = [json.loads(line) for line in (DATA / "maia1900_lc0_reference.jsonl").read_text().splitlines()]




def expand_lc0_planes(planes: list[list], rule50_divisor: float) -> np.ndarray:
    """lc0 InputPlanes ([hex mask, fill value] each) as float32 [112, 8, 8]."""
    out = np.zeros((112, 64), np.float32)
    for p, (mask, value) in enumerate(planes):
        bits = np.array([(int(mask, 16) >> s) & 1 for s in range(64)], bool)
        out[p, bits] = np.float32(value)
    # lc0 fills plane 109 with the raw rule-50 count for classical nets (the
    # backend scales it); V6 decoding divides by 99 as the trainer does.
    out[109] /= np.float32(rule50_divisor)
    return out.reshape(112, 8, 8)


def test_dtype_is_packed_with_lc0_offsets() -> None:
    assert V6_DTYPE.itemsize == RECORD_SIZE
    offsets = {name: V6_DTYPE.fields[name][1] for name in V6_DTYPE.names}
    assert offsets["probabilities"] == 8
    assert offsets["planes"] == 7440
    assert offsets["castling_us_ooo"] == 8272
    assert offsets["side_to_move_or_enpassant"] == 8276
    assert offsets["invariance_info"] == 8278
    assert offsets["root_q"] == 8280
    assert offsets["plies_left"] == 8304
    assert offsets["orig_m"] == 8336
    assert offsets["visits"] == 8340
    assert offsets["played_idx"] == 8344
    assert offsets["best_idx"] == 8346


def test_encode_record_round_trips_field_for_field() -> None:
    rng = np.random.default_rng(0)
    planes = rng.integers(0, 2**63, 104, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    probabilities = np.where(rng.random(1858) < 0.9, -1.0, rng.random(1858)).astype(np.float32)
    scalars = {
        "castling_us_ooo": 1, "castling_us_oo": 0, "castling_them_ooo": 1, "castling_them_oo": 1,
        "side_to_move_or_enpassant": 1, "rule50_count": 37, "invariance_info": 0x28,
        "root_q": 0.25, "best_q": -0.5, "root_d": 0.125, "best_d": 0.375, "root_m": 11.0,
        "best_m": 12.0, "plies_left": 13.0, "result_q": -1.0, "result_d": 0.0,
        "played_q": 0.75, "played_d": 0.0625, "played_m": 14.0, "orig_q": 0.1, "orig_d": 0.2,
        "orig_m": 15.0, "visits": 800, "played_idx": 1857, "best_idx": 1792, "policy_kld": 0.5,
    }  # fmt: skip
    raw = encode_record(InputFormat.CLASSICAL, planes, probabilities, **scalars)
    assert len(raw) == RECORD_SIZE

    record = np.frombuffer(raw, V6_DTYPE)[0]
    assert record["version"] == 6 and record["input_format"] == 1
    np.testing.assert_array_equal(record["probabilities"], probabilities)
    for name, value in scalars.items():
        assert record[name] == np.asarray(value, V6_DTYPE[name]), name

    batch = decode_records(np.frombuffer(raw, np.uint8)[None])
    expected_bits = (planes[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    np.testing.assert_array_equal(batch.planes[0, :104].reshape(104, 64), expected_bits)
    np.testing.assert_array_equal(batch.policy[0], probabilities)
    np.testing.assert_array_equal(batch.result_wdl[0], [0.0, 0.0, 1.0])
    for name in ("best_q", "best_d", "root_q", "root_d", "played_q", "played_d", "plies_left"):
        assert getattr(batch, name)[0] == np.float32(scalars[name]), name
    assert batch.input_format.tolist() == [1]
    # The structured view decodes the same way as raw bytes.
    assert np.array_equal(decode_records(np.frombuffer(raw, V6_DTYPE)).planes, batch.planes)


def test_square_order_is_rank_then_file() -> None:
    planes = np.zeros(104, np.uint64)
    planes[0] = 1 << chess.E2
    raw = encode_record(InputFormat.CLASSICAL, planes, np.zeros(1858))
    decoded = decode_records(np.frombuffer(raw, np.uint8)[None]).planes[0, 0]
    assert decoded[1, 4] == 1.0 and decoded.sum() == 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("version", 5, "not V6 records"), ("input_format", 7, "unknown lc0 input formats")],
)
def test_decode_rejects_bad_headers(field: str, value: int, message: str) -> None:
    record = np.frombuffer(encode_record(InputFormat.CLASSICAL, np.zeros(104), np.zeros(1858)), V6_DTYPE).copy()
    record[field] = value
    with pytest.raises(ValueError, match=message):
        decode_records(record)


@pytest.mark.parametrize("row", REFERENCE, ids=lambda row: row["fen"])
def test_planes_match_lc0_reference(row: dict) -> None:
    board = chess.Board()
    for uci in row["moves"]:
        board.push_uci(uci)
    np.testing.assert_array_equal(
        board_planes(board, InputFormat.CLASSICAL), expand_lc0_planes(row["planes"], 99)
    )


# lc0 0.32.1 reference (tiny_bt4_hecto, hectoplies input): canonical transform
# 1 (file flip), history stopped after the last zeroing move; the non-zero
# history masks, bit s = square s. Plane 109 is 5/100, plane 111 ones.
CANONICAL_MOVES = (
    "h2h3 e7e5 b2b4 h7h5 f2f3 g8e7 f3f4 e5f4 g2g3 f4g3 e2e3 d7d5 e3e4 d5d4 b1c3 d8d6 d1g4 g7g5 "
    "c3b5 d6b6 c2c3 c8g4 c3d4 f7f5 b5d6 b6d6 g1f3 e7c6 e1d1 a7a6 f1e2 g4f3 c1b2 f8g7 b2c1 e8g8 "
    "e4e5 g7e5 d4e5 d6b4 h1g1 b4b5 a2a3 b5c4 g1g2 c4c3 a1a2 f3d5 a2a1 f8f6 d2d4 c3c5 a1b1 c6d8 "
    "h3h4 f6c6 e2d3 c6g6 d3c2 g6d6 c1f4 d6h6 b1b4 h6h8 c2d3 d8c6 b4c4 c6b4 g2h2 b7b6 h2h1 c5c4 "
    "a3a4 c4d3 d1c1 g5h4 h1g1 d3b1 c1b1 b4a2 g1c1 a6a5 c1c3 d5f3 b1a2 c7c6 e5e6 g8f8 c3c5 a8a7 "
    "f4h6 h8h6 c5a5 h6h8 a5c5 b6b5 d4d5 f8g7 a4a5 g7h7 c5c1 f3e2 a2a1 h8f8 c1c3 a7a5 a1b2 e2c4 "
    "c3g3 h4h3 d5d6 a5a6 g3g8 c4e6 g8g4 e6c4 b2c3 c4g8 c3b4 a6a2 d6d7 f8f6 d7d8r c6c5 b4c5 h7h6 "
    "g4a4 f6f8 d8d1 h6g6"
).split()
CANONICAL_MASKS = {
    3: 0x0000000080000010, 5: 0x0000002000000000, 6: 0x0000004500010000, 7: 0x4000000000000000,
    8: 0x0200000000000000, 9: 0x0400000000008000, 11: 0x0000020000000000, 16: 0x0000000080000010,
    18: 0x0000002000000000, 19: 0x0000004500010000, 20: 0x4000000000000000, 21: 0x0200000000000000,
    22: 0x0400000000008000, 24: 0x0000010000000000, 29: 0x1000000080000000, 31: 0x0000002000000000,
    32: 0x0000004500010000, 33: 0x4000000000000000, 34: 0x0200000000000000, 35: 0x0400000000008000,
    37: 0x0000010000000000, 42: 0x1000000080000000, 44: 0x0000002000000000, 45: 0x0000004500010000,
    46: 0x4000000000000000, 47: 0x0200000000000000, 48: 0x0000040000008000, 50: 0x0000010000000000,
    55: 0x1000000002000000, 57: 0x0000002000000000, 58: 0x0000004500010000, 59: 0x4000000000000000,
    60: 0x0200000000000000, 61: 0x0000040000008000, 63: 0x0000010000000000, 68: 0x1000000002000000,
    70: 0x0000002000000000, 71: 0x0000004500010000, 72: 0x4000000000000000, 73: 0x0200000000000000,
    74: 0x0000040000008000, 76: 0x0001000000000000,
}  # fmt: skip


def test_canonical_planes_match_lc0_reference() -> None:
    board = chess.Board()
    for uci in CANONICAL_MOVES:
        board.push_uci(uci)
    fields = position_fields(board, InputFormat.HECTOPLIES)
    assert fields.transform == 1
    assert fields.invariance_info == 1  # White to move.
    expected = np.zeros(104, np.uint64)
    for plane, mask in CANONICAL_MASKS.items():
        expected[plane] = mask
    np.testing.assert_array_equal(fields.planes, expected)
    aux = board_planes(board, InputFormat.HECTOPLIES)[104:]
    assert not aux[:5].any() and not aux[6].any() and aux[7].all()
    assert (aux[5] == np.float32(5) / np.float32(100)).all()


def test_repetition_plane_marks_repeated_positions() -> None:
    board = chess.Board()
    for uci in ("g1f3", "g8f6", "f3g1", "f6g8"):
        board.push_uci(uci)
    planes = board_planes(board, InputFormat.CLASSICAL)
    repetition = planes[12::13][:8].any(axis=(1, 2))
    # The start position again: current position repeated, older ones not.
    assert repetition.tolist() == [True, False, False, False, False, False, False, False]


def random_pawnless_board(rng: np.random.Generator) -> chess.Board:
    """A legal position with two kings and three other pieces, no castling, clock 0."""
    while True:
        board = chess.Board(None)
        squares = rng.choice(64, 5, replace=False).tolist()
        board.set_piece_at(squares[0], chess.Piece(chess.KING, chess.WHITE))
        board.set_piece_at(squares[1], chess.Piece(chess.KING, chess.BLACK))
        for square in squares[2:]:
            piece_type = int(rng.choice([chess.KNIGHT, chess.BISHOP, chess.ROOK, chess.QUEEN]))
            board.set_piece_at(square, chess.Piece(piece_type, bool(rng.integers(2))))
        board.turn = bool(rng.integers(2))
        if board.is_valid():
            return board


def symmetric_images(board: chess.Board) -> list[chess.Board]:
    """`board` under all 8 symmetries of the square."""
    images = []
    for flips in itertools.product((False, True), repeat=3):
        image = board
        for flip, mirror in zip(flips, (chess.flip_horizontal, chess.flip_vertical, chess.flip_diagonal)):
            image = image.transform(mirror) if flip else image
        images.append(image)
    return images


@pytest.mark.parametrize("seed", range(12))
def test_canonical_transform_picks_one_image_of_all_symmetries(seed: int) -> None:
    # Without pawns or castling lc0 may flip, mirror and transpose: all eight
    # images of a position must encode identically, our king in e1-h1-e4.
    board = random_pawnless_board(np.random.default_rng(seed))
    encodings = [position_fields(image, InputFormat.CANONICAL) for image in symmetric_images(board)]
    for fields in encodings[1:]:
        np.testing.assert_array_equal(fields.planes, encodings[0].planes)
    king = chess.lsb(int(encodings[0].planes[5]))
    rank, file = chess.square_rank(king), chess.square_file(king)
    assert file >= 4 and rank + file <= 7


def test_canonical_transform_only_flips_files_with_pawns() -> None:
    board = chess.Board("8/8/4k3/8/2P5/8/1K6/8 w - - 0 1")
    flipped = board.transform(chess.flip_horizontal)
    left, right = (position_fields(image, InputFormat.CANONICAL) for image in (board, flipped))
    assert (left.transform, right.transform) == (1, 0)
    np.testing.assert_array_equal(left.planes, right.planes)


@pytest.mark.parametrize("path", LC0_CHUNKS, ids=lambda path: path.name)
def test_lc0_selfplay_chunk_replays(path: Path) -> None:
    raw = read_chunk(path)
    fields = raw.view(V6_DTYPE)[:, 0]
    batch = decode_records(raw)
    assert (batch.input_format == InputFormat.CLASSICAL).all()
    boards = replay_played_indices(fields["played_idx"].tolist())
    for board, planes, policy in zip(boards, batch.planes, batch.policy, strict=True):
        legal = np.zeros(1858, bool)
        legal[list(legal_policy_indices(board).values())] = True
        np.testing.assert_array_equal(policy >= 0, legal, err_msg=board.fen())
        assert abs(policy[legal].sum() - 1.0) < 1e-4, board.fen()
        np.testing.assert_array_equal(planes, board_planes(board, InputFormat.CLASSICAL), err_msg=board.fen())


def reference_aux_planes(fmt: int, castling: list[int], stm_or_ep: int, rule50: int, invariance: int) -> np.ndarray:
    """Planes 104-111 square by square, straight from the format table."""
    out = np.zeros((8, 64), np.float32)
    for square in range(64):
        rank, file = divmod(square, 8)
        if fmt == 1:
            out[0:4, square] = castling
        elif rank == 0:
            out[0, square] = (castling[0] >> file) & 1
            out[1, square] = (castling[1] >> file) & 1
        elif rank == 7:
            out[0, square] = (castling[2] >> file) & 1
            out[1, square] = (castling[3] >> file) & 1
        if fmt <= 2:
            out[4, square] = stm_or_ep
        elif rank == 7:
            out[4, square] = (stm_or_ep >> file) & 1
        out[5, square] = np.float32(rule50) / np.float32(99 if fmt <= 3 else 100)
        out[6, square] = 1.0 if fmt in (132, 133) and invariance >= 128 else 0.0
        out[7, square] = 1.0
    return out.reshape(8, 8, 8)


def test_aux_planes_of_all_formats_match_square_loop() -> None:
    rng = np.random.default_rng(1)
    cases = []
    for fmt in list(InputFormat) * 6:
        if fmt == InputFormat.CLASSICAL:
            castling = rng.integers(0, 2, 4).tolist()
        else:
            castling = [int(rng.integers(0, 2)) << int(rng.integers(0, 8)) for _ in range(4)]
        stm_or_ep = int(rng.integers(0, 2)) << (int(rng.integers(0, 8)) if fmt >= 3 else 0)
        cases.append((int(fmt), castling, stm_or_ep, int(rng.integers(0, 101)), int(rng.integers(0, 256))))
    raw = b"".join(
        encode_record(
            fmt, np.zeros(104), np.zeros(1858),
            castling_us_ooo=castling[0], castling_us_oo=castling[1],
            castling_them_ooo=castling[2], castling_them_oo=castling[3],
            side_to_move_or_enpassant=stm_or_ep, rule50_count=rule50, invariance_info=invariance,
        )  # fmt: skip
        for fmt, castling, stm_or_ep, rule50, invariance in cases
    )
    decoded = decode_records(np.frombuffer(raw, np.uint8).reshape(-1, RECORD_SIZE)).planes[:, 104:]
    for case, planes in zip(cases, decoded, strict=True):
        np.testing.assert_array_equal(planes, reference_aux_planes(*case), err_msg=str(case))
