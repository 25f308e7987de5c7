"""The lc0 V6 training record: its byte layout, batch decoding and encoding.

Owns the 8356-byte record format written by lc0 self-play and its conversion
to training tensors (what the legacy trainer's ``convert_v6_to_tuple`` does).
Reading files and chunk directories lives elsewhere; this module only turns
raw records into arrays and fields into raw records.

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

Bit planes are stored as lc0's ``ReverseBitsInBytes(mask)`` where bit s of the
mask is square s (a1 = 0, h8 = 63): unpacking the 832 bytes most significant
bit first yields squares in order.
"""

import enum
from typing import NamedTuple

import numpy as np

RECORD_SIZE = 8356
VERSION = 6
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

_SCALAR_FIELDS = frozenset(V6_DTYPE.names) - {"version", "input_format", "planes", "probabilities"}
# The fields from castling_us_ooo on, as a dtype of their own.
_TAIL_DTYPE = np.dtype(
    {name: (dtype, offset - _TAIL_OFFSET) for name, (dtype, offset) in V6_DTYPE.fields.items() if offset >= _TAIL_OFFSET}
)
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


def _as_record_bytes(raw: np.ndarray) -> np.ndarray:
    """View `raw` (uint8 [B, 8356] or V6_DTYPE [B]) as C-contiguous uint8 [B, 8356]."""
    if raw.dtype == V6_DTYPE:
        raw = np.ascontiguousarray(raw).view(np.uint8)
    if raw.dtype != np.uint8:
        raise TypeError(f"records must be uint8 or V6_DTYPE, got {raw.dtype}")
    return np.ascontiguousarray(raw).reshape(-1, RECORD_SIZE)


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
    """Decode B raw V6 records (uint8 [B, 8356] or V6_DTYPE [B]) into training arrays."""
    records = _as_record_bytes(raw)
    batch = len(records)
    # Gather the small fields once: each record spans its own memory pages.
    version, input_format = np.ascontiguousarray(records[:, :_POLICY_OFFSET]).view("<u4").T
    tail_bytes = np.ascontiguousarray(records[:, _TAIL_OFFSET:])
    tail = tail_bytes.view(_TAIL_DTYPE)[:, 0]
    if np.any(version != VERSION):
        raise ValueError(f"not V6 records: versions {sorted(set(version.tolist()))}")
    known = _KNOWN_FORMATS[np.minimum(input_format, 255)]
    fmt = input_format.astype(np.int32)
    if not known.all():
        raise ValueError(f"unknown lc0 input formats {sorted(set(fmt[~known].tolist()))}")

    packed = np.empty((batch, NUM_PLANES * 8), np.uint8)
    packed[:, : NUM_BIT_PLANES * 8] = records[:, _BIT_PLANES_OFFSET:_TAIL_OFFSET]
    aux = _packed_aux_planes(tail_bytes[:, :5], tail["invariance_info"], fmt)
    packed[:, NUM_BIT_PLANES * 8 :] = aux.reshape(batch, -1)
    planes = np.empty((batch, NUM_PLANES * 8, 8), np.float32)
    for start in range(0, batch, _UNPACK_SLICE):
        chunk = slice(start, start + _UNPACK_SLICE)
        np.take(_BYTE_BITS, packed[chunk], axis=0, out=planes[chunk], mode="clip")
    planes = planes.reshape(batch, NUM_PLANES, 8, 8)
    # Hectoplies formats (> 3) count the rule-50 clock in hundreds of plies.
    scale = np.where(fmt > 3, np.float32(100), np.float32(99))
    planes[:, 109] = (tail["rule50_count"].astype(np.float32) / scale)[:, None, None]

    def column(name: str) -> np.ndarray:
        return tail[name].astype(np.float32)

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
    )


def _stored_planes(masks: np.ndarray) -> np.ndarray:
    """lc0's ``ReverseBitsInBytes`` on uint64 masks (bit s = square s), as stored in V6."""
    as_bytes = np.ascontiguousarray(masks, dtype="<u8").view(np.uint8)
    return _REVERSED_BITS[as_bytes].view("<u8")


def encode_record(
    input_format: InputFormat,
    planes: np.ndarray,
    probabilities: np.ndarray,
    **scalars: float,
) -> bytes:
    """One V6 record as bytes.

    `planes` are 104 uint64 masks with bit s = square s (lc0's InputPlane
    masks); `scalars` are any other V6_DTYPE fields (castling_us_ooo, ...,
    result_q, played_idx, ...). Unset fields are 0, except orig_q/d/m: NaN.
    """
    unknown = set(scalars) - _SCALAR_FIELDS
    if unknown:
        raise TypeError(f"unknown V6 fields {sorted(unknown)}")
    record = np.zeros((), V6_DTYPE)
    record["version"] = VERSION
    record["input_format"] = InputFormat(input_format)
    record["planes"] = _stored_planes(np.asarray(planes, np.uint64).reshape(NUM_BIT_PLANES))
    record["probabilities"] = np.asarray(probabilities, np.float32).reshape(NUM_POLICY)
    for name in ("orig_q", "orig_d", "orig_m"):
        record[name] = np.nan
    for name, value in scalars.items():
        record[name] = value
    return record.tobytes()
