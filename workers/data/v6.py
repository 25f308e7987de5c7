"""The lc0 V6 and V7 training records: their byte layout, batch decoding and encoding.

Owns the 8356-byte V6 record format written by lc0 self-play, its 8396-byte V7
extension (the legacy tf-214 trainer's; written here by `workers.data.rescore`)
and their conversion to training tensors (what the legacy trainer's
``convert_v6_to_tuple`` does). Reading files and chunk directories lives
elsewhere; this module only turns raw records into arrays and fields into raw
records.

Layout (little-endian, packed; field names follow lc0's ``V6TrainingData``)::

    offset  field
         0  version u32 (6), input_format u32 (an `InputFormat` value)
         8  probabilities f32[1858]  (search visit fractions, -1 = illegal move)
      7440  planes u64[104]          (8 history positions x 13 bit planes)
      8272  castling_us_ooo, castling_us_oo, castling_them_ooo, castling_them_oo,
            side_to_move_or_enpassant, rule50_count, invariance_info u8, dummy i8
      8280  root_q best_q root_d best_d root_m best_m plies_left result_q result_d
            played_q played_d played_m orig_q orig_d orig_m  (f32 each)
      8340  visits u32, played_idx u16, best_idx u16, policy_kld f32, reserved u32

V7 is V6 with the reserved word reinterpreted and the record extended::

      8348  policy_kld f32, q_st f32, d_st f32, opp_played_idx u16,
            next_played_idx u16, extra f32[8]        (8396 bytes in all)

q_st/d_st are the short-term value targets (a backward EMA of root_q/root_d,
see `workers.data.rescore`); opp_played_idx/next_played_idx the policy indices
played one and two plies later (65535 past the end of the game).

Bit planes are stored as lc0's ``ReverseBitsInBytes(mask)`` where bit s of the
mask is square s (a1 = 0, h8 = 63): unpacking the 832 bytes most significant
bit first yields squares in order.
"""

import enum
from typing import NamedTuple

import numpy as np

RECORD_SIZE = 8356
VERSION = 6
V7_RECORD_SIZE = 8396
V7_VERSION = 7
RECORD_SIZES = {VERSION: RECORD_SIZE, V7_VERSION: V7_RECORD_SIZE}  # record size by version field
NO_MOVE = 65535  # opp/next_played_idx past the end of the game (and for V6 records when decoded)
NUM_POLICY = 1858
NUM_BIT_PLANES = 104
NUM_PLANES = 112
_POLICY_OFFSET = 8
_BIT_PLANES_OFFSET = 7440
_TAIL_OFFSET = 8272  # the small fields after the bit planes


class InputFormat(enum.IntEnum):
    """lc0's ``NetworkFormat.InputFormat`` values that V6 data can carry."""

    CLASSICAL = 1
    CASTLING_PLANE = 2
    CANONICAL = 3
    HECTOPLIES = 4
    CANONICAL_V2 = 5
    HECTOPLIES_ARMAGEDDON = 132
    CANONICAL_V2_ARMAGEDDON = 133


V6_DTYPE = np.dtype(
    [
        ("version", "<u4"),
        ("input_format", "<u4"),
        ("probabilities", "<f4", (NUM_POLICY,)),
        ("planes", "<u8", (NUM_BIT_PLANES,)),
        ("castling_us_ooo", "u1"),
        ("castling_us_oo", "u1"),
        ("castling_them_ooo", "u1"),
        ("castling_them_oo", "u1"),
        ("side_to_move_or_enpassant", "u1"),
        ("rule50_count", "u1"),
        ("invariance_info", "u1"),
        ("dummy", "i1"),
        *((name, "<f4") for name in (
            "root_q", "best_q", "root_d", "best_d", "root_m", "best_m", "plies_left",
            "result_q", "result_d", "played_q", "played_d", "played_m",
            "orig_q", "orig_d", "orig_m",
        )),
        ("visits", "<u4"),
        ("played_idx", "<u2"),
        ("best_idx", "<u2"),
        ("policy_kld", "<f4"),
        ("reserved", "<u4"),
    ]
)

def record_fields(dtype: np.dtype) -> dict[str, tuple[np.dtype, int]]:
    """A structured record dtype's fields: name -> (field dtype, byte offset)."""
    if dtype.fields is None:
        raise TypeError(f"{dtype} is not a structured dtype")
    return {name: (spec[0], spec[1]) for name, spec in dtype.fields.items()}


V7_DTYPE = np.dtype(
    [
        *((name, field) for name, (field, _) in record_fields(V6_DTYPE).items() if name != "reserved"),
        ("q_st", "<f4"),
        ("d_st", "<f4"),
        ("opp_played_idx", "<u2"),
        ("next_played_idx", "<u2"),
        ("extra", "<f4", (8,)),
    ]
)
_DTYPES = {VERSION: V6_DTYPE, V7_VERSION: V7_DTYPE}
_NON_SCALAR = {"version", "input_format", "planes", "probabilities"}
_SCALAR_FIELDS = {VERSION: frozenset(record_fields(V6_DTYPE)) - _NON_SCALAR, V7_VERSION: frozenset(record_fields(V7_DTYPE)) - _NON_SCALAR}


def _tail_dtype(dtype: np.dtype) -> np.dtype:
    """The fields from castling_us_ooo on, as a dtype of their own."""
    tail = {name: (field, offset - _TAIL_OFFSET) for name, (field, offset) in record_fields(dtype).items() if offset >= _TAIL_OFFSET}
    return np.dtype({"names": list(tail), "formats": [f for f, _ in tail.values()], "offsets": [o for _, o in tail.values()]})


_TAIL_DTYPES = {RECORD_SIZE: _tail_dtype(V6_DTYPE), V7_RECORD_SIZE: _tail_dtype(V7_DTYPE)}


def _v6_padding() -> np.ndarray:
    """Bytes 8356-8395 of a V6 record in a V7-sized row: d_st NaN, no future moves, extra 0.
    (The decoder ignores a row's short-term fields anyway when its version is 6.)"""
    row = np.zeros((), V7_DTYPE)
    row["d_st"] = np.nan
    row["opp_played_idx"] = row["next_played_idx"] = NO_MOVE
    return np.frombuffer(row.tobytes(), np.uint8)[RECORD_SIZE:].copy()


V6_PADDING = _v6_padding()
# Byte b with its bit order reversed (lc0's ReverseBitsInBytes on one byte).
_REVERSED_BITS = np.packbits(
    np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little"), axis=1
).ravel()
# Planes 104-108 hold files on rank rows (not flat bytes) from these formats on.
_ROW_FORMATS_FROM = np.array([2, 2, 2, 2, 3])
# Byte b as its 8 bits, most significant first, as float32: one table lookup
# unpacks and converts a byte (faster than np.unpackbits then a cast).
_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32)
# Records unpacked per lookup: a slice's output stays in cache (~10% faster).
_UNPACK_SLICE = 32
_KNOWN_FORMATS = np.zeros(256, bool)
_KNOWN_FORMATS[list(InputFormat)] = True


class DecodedBatch(NamedTuple):
    """Training tensors for B records, as the legacy trainer builds them."""

    planes: np.ndarray  # float32 [B, 112, 8, 8]; plane p, square 8*rank+file at [p, rank, file]
    policy: np.ndarray  # float32 [B, 1858]; as stored, -1 marks illegal moves
    result_wdl: np.ndarray  # float32 [B, 3]; game result from the side to move's view
    best_q: np.ndarray  # float32 [B]
    best_d: np.ndarray
    root_q: np.ndarray
    root_d: np.ndarray
    played_q: np.ndarray
    played_d: np.ndarray
    plies_left: np.ndarray  # float32 [B]; as stored (no legacy zero fallback)
    input_format: np.ndarray  # int32 [B]
    # Appended for V7 (keep new fields at the end: consumers zip over `_fields`).
    q_st: np.ndarray  # float32 [B]; short-term value target; NaN for V6 records
    d_st: np.ndarray  # float32 [B]; NaN for V6 records
    opp_played_idx: np.ndarray  # int32 [B]; policy index played next ply; NO_MOVE past the end and for V6
    next_played_idx: np.ndarray  # int32 [B]; the side to move's own next move (two plies on); same sentinel


def pad_to_v7(records: np.ndarray) -> np.ndarray:
    """V6 records (uint8 [n, 8356]) as V7-sized rows uint8 [n, 8396] that keep version 6.

    Lets one buffer hold V6 and V7 records; `decode_records` reads such a row as V6
    (q_st/d_st NaN, future moves NO_MOVE). V7 rows are returned as they are.
    """
    if records.shape[1] == V7_RECORD_SIZE:
        return records
    out = np.empty((len(records), V7_RECORD_SIZE), np.uint8)
    out[:, :RECORD_SIZE] = records
    out[:, RECORD_SIZE:] = V6_PADDING
    return out


def _as_record_bytes(raw: np.ndarray) -> np.ndarray:
    """View `raw` as C-contiguous uint8 [B, size]: uint8 [B, 8356] (V6), uint8 [B, 8396] (V7 or
    padded V6), V6_DTYPE [B] or V7_DTYPE [B]; flat bytes take the size of their first record's version."""
    if raw.dtype in (V6_DTYPE, V7_DTYPE):
        size = raw.dtype.itemsize
        raw = np.ascontiguousarray(raw).view(np.uint8)
    elif raw.dtype != np.uint8:
        raise TypeError(f"records must be uint8, V6_DTYPE or V7_DTYPE, got {raw.dtype}")
    elif raw.ndim == 2:
        size = raw.shape[1]
    else:
        version = int(np.asarray(raw[:4]).view("<u4")[0]) if raw.size >= 4 else VERSION
        size = RECORD_SIZES.get(version, RECORD_SIZE)
    if size not in _TAIL_DTYPES:
        raise ValueError(f"records of {size} bytes are neither V6 ({RECORD_SIZE}) nor V7 ({V7_RECORD_SIZE})")
    return np.ascontiguousarray(raw).reshape(-1, size)


def _packed_aux_planes(aux_bytes: np.ndarray, invariance_info: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """Planes 104-111 packed like the bit planes: uint8 [B, 8 planes, 8 ranks].

    `aux_bytes` are the castling and side_to_move_or_enpassant bytes [B, 5].
    Plane 109 (the rule-50 clock) is not binary and is left zero here.
    """
    # Each plane as a little-endian uint64 whose byte r is rank r's packed row.
    # Format 1 broadcasts each castling byte, formats 1-2 the side-to-move byte.
    flat = -(aux_bytes != 0).astype("<u8")
    # Formats >= 2 store files as masks with bit f = file f, the opposite bit
    # order to the bit planes. Castling rooks go to rank 1 (ours) and rank 8
    # (theirs); formats >= 3 put the en-passant file on rank 8.
    files = _REVERSED_BITS[aux_bytes].astype("<u8")
    no_rows = np.zeros(len(aux_bytes), "<u8")
    rows = np.stack(
        [files[:, 0] | files[:, 2] << 56, files[:, 1] | files[:, 3] << 56, no_rows, no_rows, files[:, 4] << 56],
        axis=1,
    )
    planes = np.zeros((len(aux_bytes), 8), "<u8")
    planes[:, :5] = np.where(fmt[:, None] >= _ROW_FORMATS_FROM, rows, flat)
    armageddon = (fmt == InputFormat.HECTOPLIES_ARMAGEDDON.value) | (fmt == InputFormat.CANONICAL_V2_ARMAGEDDON.value)
    planes[:, 6] = -(armageddon & (invariance_info >= 128)).astype("<u8")
    planes[:, 7] = np.iinfo(np.uint64).max
    return planes.view(np.uint8).reshape(-1, 8, 8)


def _wdl(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """(win, draw, loss) float32 [B, 3] from q = win - loss and d."""
    return np.stack([(1 + q - d) / 2, d, (1 - q - d) / 2], axis=1).astype(np.float32)


def decode_records(raw: np.ndarray) -> DecodedBatch:
    """Decode B raw records into training arrays.

    `raw` is uint8 [B, 8356] or V6_DTYPE [B] (V6 records), or uint8 [B, 8396] or V7_DTYPE [B]:
    rows of version 7, or version-6 rows padded by `pad_to_v7` (decoded as V6: q_st/d_st
    NaN, future moves NO_MOVE). Raises ValueError on any other version.
    """
    records = _as_record_bytes(raw)
    batch, size = records.shape
    # Gather the small fields once: each record spans its own memory pages.
    version, input_format = np.ascontiguousarray(records[:, :_POLICY_OFFSET]).view("<u4").T
    tail_bytes = np.ascontiguousarray(records[:, _TAIL_OFFSET:])
    tail = tail_bytes.view(_TAIL_DTYPES[size])[:, 0]
    is_v7 = version == V7_VERSION
    if size == RECORD_SIZE and np.any(version != VERSION):
        raise ValueError(f"not V6 records: versions {sorted(set(version.tolist()))}")
    if size == V7_RECORD_SIZE and np.any(~is_v7 & (version != VERSION)):
        raise ValueError(f"not V6 or V7 records: versions {sorted(set(version.tolist()))}")
    known = _KNOWN_FORMATS[np.minimum(input_format, 255)]
    fmt = input_format.astype(np.int32)
    if not known.all():
        raise ValueError(f"unknown lc0 input formats {sorted(set(fmt[~known].tolist()))}")

    packed = np.empty((batch, NUM_PLANES * 8), np.uint8)
    packed[:, : NUM_BIT_PLANES * 8] = records[:, _BIT_PLANES_OFFSET:_TAIL_OFFSET]
    aux = _packed_aux_planes(tail_bytes[:, :5], tail["invariance_info"], fmt)
    packed[:, NUM_BIT_PLANES * 8 :] = aux.reshape(batch, -1)
    rows = np.empty((batch, NUM_PLANES * 8, 8), np.float32)
    for start in range(0, batch, _UNPACK_SLICE):
        chunk = slice(start, start + _UNPACK_SLICE)
        np.take(_BYTE_BITS, packed[chunk], axis=0, out=rows[chunk], mode="clip")
    planes = rows.reshape(batch, NUM_PLANES, 8, 8)
    # Hectoplies formats (> 3) count the rule-50 clock in hundreds of plies.
    scale = np.where(fmt > 3, np.float32(100), np.float32(99))
    planes[:, 109] = (tail["rule50_count"].astype(np.float32) / scale)[:, None, None]

    def column(name: str) -> np.ndarray:
        return tail[name].astype(np.float32)

    if size == V7_RECORD_SIZE:
        q_st = np.where(is_v7, tail["q_st"], np.float32(np.nan))
        d_st = np.where(is_v7, tail["d_st"], np.float32(np.nan))
        opp_idx = np.where(is_v7, tail["opp_played_idx"], NO_MOVE).astype(np.int32)
        next_idx = np.where(is_v7, tail["next_played_idx"], NO_MOVE).astype(np.int32)
    else:
        q_st, d_st = (np.full(batch, np.nan, np.float32) for _ in range(2))
        opp_idx, next_idx = (np.full(batch, NO_MOVE, np.int32) for _ in range(2))

    return DecodedBatch(
        planes=planes,
        policy=records[:, _POLICY_OFFSET:_BIT_PLANES_OFFSET].copy().view("<f4").astype(np.float32, copy=False),
        result_wdl=_wdl(column("result_q"), column("result_d")),
        best_q=column("best_q"),
        best_d=column("best_d"),
        root_q=column("root_q"),
        root_d=column("root_d"),
        played_q=column("played_q"),
        played_d=column("played_d"),
        plies_left=column("plies_left"),
        input_format=fmt,
        q_st=q_st,
        d_st=d_st,
        opp_played_idx=opp_idx,
        next_played_idx=next_idx,
    )


def _stored_planes(masks: np.ndarray) -> np.ndarray:
    """lc0's ``ReverseBitsInBytes`` on uint64 masks (bit s = square s), as stored in V6."""
    as_bytes = np.ascontiguousarray(masks, dtype="<u8").view(np.uint8)
    return _REVERSED_BITS[as_bytes].view("<u8")


def encode_record(
    input_format: InputFormat,
    planes: np.ndarray,
    probabilities: np.ndarray,
    *,
    version: int = VERSION,
    **scalars: float,
) -> bytes:
    """One V6 (or, with `version=7`, V7) record as bytes.

    `planes` are 104 uint64 masks with bit s = square s (lc0's InputPlane
    masks); `scalars` are any other fields of the version's dtype (castling_us_ooo,
    ..., result_q, played_idx, ...; V7 adds q_st, d_st, opp_played_idx,
    next_played_idx, extra). Unset fields are 0, except orig_q/d/m: NaN, and
    V7's opp/next_played_idx: NO_MOVE.
    """
    if version not in _DTYPES:
        raise ValueError(f"record version must be {VERSION} or {V7_VERSION}, got {version}")
    unknown = set(scalars) - _SCALAR_FIELDS[version]
    if unknown:
        raise TypeError(f"unknown V{version} fields {sorted(unknown)}")
    record = np.zeros((), _DTYPES[version])
    record["version"] = version
    if version == V7_VERSION:
        record["opp_played_idx"] = record["next_played_idx"] = NO_MOVE
    record["input_format"] = InputFormat(input_format)
    record["planes"] = _stored_planes(np.asarray(planes, np.uint64).reshape(NUM_BIT_PLANES))
    record["probabilities"] = np.asarray(probabilities, np.float32).reshape(NUM_POLICY)
    for name in ("orig_q", "orig_d", "orig_m"):
        record[name] = np.nan
    for name, value in scalars.items():
        record[name] = value
    return record.tobytes()
