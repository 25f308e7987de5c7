"""V7 records (8396 bytes): layout, encoding, reading, decoding, and mixed V6/V7 streams."""

from __future__ import annotations

import gzip
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from workers.data.files import ChunkError, read_chunk
from workers.data.pipeline import ChunkStream
from workers.data.rescore import rescore_records
from workers.data.stats import dataset_stats
from workers.data.v6 import (
    NO_MOVE,
    V7_DTYPE,
    DecodedBatch,
    InputFormat,
    decode_records,
    encode_record,
    pad_to_v7,
)

DATA = Path(__file__).parent / "data" / "lc0-selfplay"
# The legacy tf-214 chunkparser's V7 struct, little-endian.
LEGACY_V7 = struct.Struct("<4si7432s832sBBBBBBBbfffffffffffffffIHHfffHHffffffff")
FLOATS = ("root_q", "best_q", "root_d", "best_d", "root_m", "best_m", "plies_left", "result_q", "result_d",
          "played_q", "played_d", "played_m", "orig_q", "orig_d", "orig_m")
BYTES = ("castling_us_ooo", "castling_us_oo", "castling_them_ooo", "castling_them_oo",
         "side_to_move_or_enpassant", "rule50_count", "invariance_info")
PLIES_LEFT = 8304


def random_fields(rng: np.random.Generator) -> dict[str, object]:
    """Every V7 field except version/input_format/planes/probabilities, with distinct values."""
    fields: dict[str, object] = {name: np.float32(rng.uniform(-1, 1)) for name in FLOATS}
    fields.update({name: int(rng.integers(0, 2)) for name in BYTES[:5]})
    fields.update(rule50_count=int(rng.integers(0, 100)), invariance_info=int(rng.integers(0, 256)),
                  dummy=int(rng.integers(-128, 128)), visits=int(rng.integers(0, 2**32)),
                  played_idx=int(rng.integers(0, 1858)), best_idx=int(rng.integers(0, 1858)),
                  policy_kld=np.float32(rng.uniform(0, 2)), q_st=np.float32(rng.uniform(-1, 1)),
                  d_st=np.float32(rng.uniform(0, 1)), opp_played_idx=int(rng.integers(0, 1858)),
                  next_played_idx=int(rng.integers(0, 1858)), extra=rng.normal(size=8).astype(np.float32))
    return fields


def build_v7_chunk(rng: np.random.Generator, count: int) -> tuple[list[dict[str, object]], bytes]:
    records, blobs = [], []
    for _ in range(count):
        planes = rng.integers(0, 2**63, size=104, dtype=np.uint64)
        probabilities = np.where(rng.random(1858) < 0.9, -1.0, rng.random(1858)).astype(np.float32)
        fields = random_fields(rng)
        blobs.append(encode_record(InputFormat.CLASSICAL, planes, probabilities, version=7, **fields))
        records.append({"planes": planes, "probabilities": probabilities, **fields})
    return records, b"".join(blobs)


def test_v7_layout_matches_the_legacy_struct() -> None:
    assert LEGACY_V7.size == V7_DTYPE.itemsize == 8396
    offsets = {name: V7_DTYPE.fields[name][1] for name in V7_DTYPE.names}
    assert offsets["policy_kld"] == 8348 and offsets["q_st"] == 8352 and offsets["d_st"] == 8356
    assert offsets["opp_played_idx"] == 8360 and offsets["next_played_idx"] == 8362 and offsets["extra"] == 8364
    assert V7_DTYPE["extra"].shape == (8,)


def test_v7_chunk_round_trips_field_for_field(tmp_path: Path) -> None:
    expected, blob = build_v7_chunk(np.random.default_rng(5), 6)
    path = tmp_path / "game_v7.gz"
    path.write_bytes(gzip.compress(blob))

    raw = read_chunk(path)
    assert raw.shape == (6, 8396)
    for row, want in zip(raw, expected, strict=True):
        # Unpacked with the legacy struct: independent of our dtype.
        values = LEGACY_V7.unpack(row.tobytes())
        assert struct.unpack("<I", values[0])[0] == 7 and values[1] == InputFormat.CLASSICAL
        np.testing.assert_array_equal(np.frombuffer(values[2], "<f4"), want["probabilities"])
        assert values[4:11] == tuple(want[name] for name in BYTES) and values[11] == want["dummy"]
        assert values[12:27] == tuple(float(want[name]) for name in FLOATS)  # type: ignore[arg-type]
        tail = ("visits", "played_idx", "best_idx", "policy_kld", "q_st", "d_st", "opp_played_idx", "next_played_idx")
        assert values[27:35] == tuple(want[name] for name in tail)
        np.testing.assert_array_equal(np.array(values[35:], np.float32), want["extra"])
        # Planes as lc0 stores them: byte-reversed masks, bit s = square s (MSB first).
        bits = np.unpackbits(np.frombuffer(values[3], np.uint8)).reshape(104, 64)
        masks = np.array(want["planes"], np.uint64)
        np.testing.assert_array_equal(bits, (masks[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1))

    batch = decode_records(raw)
    for name in ("q_st", "d_st", "root_q", "root_d", "best_q", "best_d", "played_q", "played_d", "plies_left"):
        np.testing.assert_array_equal(getattr(batch, name), [r[name] for r in expected], err_msg=name)
    for name in ("opp_played_idx", "next_played_idx"):
        assert getattr(batch, name).dtype == np.int32
        np.testing.assert_array_equal(getattr(batch, name), [r[name] for r in expected], err_msg=name)
    np.testing.assert_array_equal(batch.policy, [r["probabilities"] for r in expected])
    masks = np.array([r["planes"] for r in expected], np.uint64)
    squares = (masks[:, :, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    np.testing.assert_array_equal(batch.planes[:, :104].reshape(6, 104, 64), squares.astype(np.float32))
    # Through the structured dtype too.
    np.testing.assert_array_equal(decode_records(raw.view(V7_DTYPE)[:, 0]).q_st, batch.q_st)


def test_v7_decodes_like_v6_plus_short_term_fields() -> None:
    v6 = read_chunk(DATA / "game_000000.gz")
    v7 = rescore_records(v6)
    from_v6, from_v7 = decode_records(v6), decode_records(v7)
    for name in DecodedBatch._fields[: DecodedBatch._fields.index("q_st")]:
        np.testing.assert_array_equal(getattr(from_v6, name), getattr(from_v7, name), err_msg=name)
    assert np.isnan(from_v6.q_st).all() and np.isnan(from_v6.d_st).all()
    assert (from_v6.opp_played_idx == NO_MOVE).all() and (from_v6.next_played_idx == NO_MOVE).all()
    fields = v7.view(V7_DTYPE)[:, 0]
    np.testing.assert_array_equal(from_v7.q_st, fields["q_st"])
    np.testing.assert_array_equal(from_v7.next_played_idx, fields["next_played_idx"])
    assert np.isfinite(from_v7.q_st).all()


def test_padded_v6_rows_decode_as_v6() -> None:
    v6 = read_chunk(DATA / "game_000001.gz")
    mixed = np.concatenate([pad_to_v7(v6[:5]), rescore_records(v6)[5:]])
    assert mixed.shape == (len(v6), 8396)
    batch, plain = decode_records(mixed), decode_records(v6)
    for name in DecodedBatch._fields[: DecodedBatch._fields.index("q_st")]:
        np.testing.assert_array_equal(getattr(batch, name), getattr(plain, name), err_msg=name)
    assert np.isnan(batch.q_st[:5]).all() and np.isfinite(batch.q_st[5:]).all()
    assert (batch.opp_played_idx[:5] == NO_MOVE).all()
    np.testing.assert_array_equal(batch.opp_played_idx[5:-1], v6[6:, 8344:8346].view("<u2")[:, 0])


def test_decode_rejects_unknown_versions_in_v7_rows() -> None:
    v7 = rescore_records(read_chunk(DATA / "game_000000.gz")[:4]).copy()
    v7[2, :4] = np.array([5], "<u4").view(np.uint8)
    with pytest.raises(ValueError, match=r"not V6 or V7 records: versions \[5, 7\]"):
        decode_records(v7)
    with pytest.raises(ValueError, match="neither V6"):
        decode_records(np.zeros((2, 8400), np.uint8))
    with pytest.raises(ValueError, match=r"not V6 records: versions \[7\]"):
        decode_records(v7[[0, 1]][:, :8356])


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda v6, v7: v7.tobytes()[:-100], rf"^truncated: {3 * 8396 - 100} bytes is not a multiple of 8396$"),
        (lambda v6, v7: v7.tobytes() + v6[:1].tobytes(), r"^truncated: "),  # a V6 record after V7 ones
        (lambda v6, v7: np.concatenate([v7, pad_to_v7(v6[:1])]).tobytes(), r"^bad version 6 in record 3$"),
        (lambda v6, v7: v6[:2].tobytes() + v7[:1].tobytes()[:8356], r"^bad version 7 in record 2$"),
        (lambda v6, v7: b"\x07\0", r"^truncated: 2 bytes hold no record$"),
    ],
    ids=["truncated", "v6-tail", "v6-padded", "v7-in-v6", "short"],
)
def test_read_chunk_rejects_truncated_and_mixed_versions(
    tmp_path: Path, make: Callable[[np.ndarray, np.ndarray], bytes], reason: str
) -> None:
    v6 = read_chunk(DATA / "game_000002.gz")
    v7 = rescore_records(v6[:3])
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(make(v6, v7)))
    with pytest.raises(ChunkError) as info:
        read_chunk(path)
    assert re.search(reason, info.value.reason), info.value.reason


def tagged_game(source: Path, first_tag: int) -> np.ndarray:
    """A real game's V6 records with tags first_tag... in plies_left (as in test_pipeline)."""
    records = read_chunk(source)[:12].copy()
    tags = np.arange(first_tag, first_tag + len(records), dtype="<f4")
    records[:, PLIES_LEFT : PLIES_LEFT + 4] = tags.view(np.uint8).reshape(-1, 4)
    return records


def test_mixed_v6_v7_directory_streams_and_skips_a_truncated_v7_file(tmp_path: Path) -> None:
    games = [tagged_game(path, 1 + 12 * i) for i, path in enumerate(sorted(DATA.glob("*.gz"))[:4])]
    expected_q_st: dict[int, float] = {}
    for i, records in enumerate(games):
        if i % 2:  # games 1 and 3 as V7
            records = rescore_records(records)
            tags = records[:, PLIES_LEFT : PLIES_LEFT + 4].copy().view("<f4")[:, 0]
            expected_q_st.update(zip(tags.astype(int).tolist(), records.view(V7_DTYPE)[:, 0]["q_st"].tolist()))
        (tmp_path / f"game_{i}.gz").write_bytes(gzip.compress(records.tobytes()))
    truncated = rescore_records(read_chunk(DATA / "game_000004.gz"))
    (tmp_path / "game_9.gz").write_bytes(gzip.compress(truncated.tobytes()[:-1]))
    files = sorted(tmp_path.glob("*.gz"))

    with ChunkStream(files, batch_size=8, shuffle_size=20, seed=1, input_format=1, repeat=False) as stream:
        batches = list(stream)
        stats = stream.stats
    assert stats.skipped_files.keys() == {str(tmp_path / "game_9.gz")}
    assert stats.skipped_files[str(tmp_path / "game_9.gz")].startswith("truncated: ")
    assert stats.files_read == 4 and stats.records_read == 48
    tags = np.concatenate([b.plies_left for b in batches]).astype(int)
    assert sorted(tags.tolist()) == list(range(1, 49))  # every record once (48 = 6 batches of 8)
    q_st = np.concatenate([b.q_st for b in batches])
    next_idx = np.concatenate([b.next_played_idx for b in batches])
    is_v7 = np.isin(tags, list(expected_q_st))
    assert is_v7.sum() == 24
    np.testing.assert_array_equal(q_st[is_v7], np.float32([expected_q_st[t] for t in tags[is_v7]]))
    assert np.isnan(q_st[~is_v7]).all() and (next_idx[~is_v7] == NO_MOVE).all()
    assert (next_idx[is_v7] != NO_MOVE).sum() == 2 * 10  # all but the last two plies of each V7 game

    summary = dataset_stats([str(tmp_path)])
    assert summary["versions"] == {"6": 24, "7": 24}
    assert list(summary["skipped_files"].values())[0].startswith("truncated: ")
