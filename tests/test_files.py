"""Chunk discovery, sharding and reading (workers/data/files.py), on the real lc0 chunks."""

from __future__ import annotations

import gzip
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from lc0train import data_pb2
from workers.data.files import ChunkError, discover_chunks, read_chunk
from workers.data.splits import DataFiles, check_shares
from workers.data.v6 import RECORD_SIZE

DATA = Path(__file__).parent / "data" / "lc0-selfplay"


def _touch_chunk(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b""))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    return {
        "a1": _touch_chunk(tmp_path / "a" / "game_1.gz"),
        "a2": _touch_chunk(tmp_path / "a" / "sub" / "game_2.gz"),
        "b3": _touch_chunk(tmp_path / "b" / "game_3.gz"),
        "b4": _touch_chunk(tmp_path / "b" / "game_4.gz"),
        "note": _touch_chunk(tmp_path / "a" / "notes.txt"),  # not *.gz: a directory scan skips it
    }


def test_discover_directory_is_recursive_and_only_gz(tree: dict[str, Path], tmp_path: Path) -> None:
    assert discover_chunks([str(tmp_path / "a")]) == [tree["a1"], tree["a2"]]


def test_discover_glob_and_file(tree: dict[str, Path], tmp_path: Path) -> None:
    assert discover_chunks([str(tmp_path / "b" / "*_4.gz")]) == [tree["b4"]]
    assert discover_chunks([str(tree["note"])]) == [tree["note"]]  # an explicit file is taken as is
    assert discover_chunks([str(tmp_path / "**" / "game_[12].gz")]) == [tree["a1"], tree["a2"]]


def test_discover_sorts_and_deduplicates(tree: dict[str, Path], tmp_path: Path) -> None:
    specs = [str(tmp_path / "b"), str(tree["a1"]), str(tmp_path / "*" / "game_1.gz"), str(tmp_path / "a")]
    assert discover_chunks(specs) == [tree["a1"], tree["a2"], tree["b3"], tree["b4"]]


@pytest.mark.parametrize("spec", ["missing_dir", "b/*.tar", "empty"])
def test_discover_no_match_names_the_spec(tree: dict[str, Path], tmp_path: Path, spec: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / spec)) + ".*matches no chunk files"):
        discover_chunks([str(tmp_path / "a"), str(tmp_path / spec)])


def test_read_real_chunk() -> None:
    records = read_chunk(DATA / "game_000000.gz")
    assert records.dtype == np.uint8 and records.shape == (79, RECORD_SIZE)
    assert (records[:, :4].view("<u4") == 6).all()


def test_read_concatenated_gzip_members(tmp_path: Path) -> None:
    first, second = DATA / "game_000001.gz", DATA / "game_000002.gz"
    both = tmp_path / "both.gz"
    both.write_bytes(first.read_bytes() + second.read_bytes())  # what `cat a.gz b.gz` makes
    expected = np.concatenate([read_chunk(first), read_chunk(second)])
    np.testing.assert_array_equal(read_chunk(both), expected)


def _bad_version(records: np.ndarray) -> bytes:
    records = records.copy()
    records[3, :4] = np.array([5], "<u4").view(np.uint8)
    return gzip.compress(records.tobytes())


def _cut_stream(compressed: bytes) -> bytes:
    return compressed[: len(compressed) // 2]


def _flip_payload(compressed: bytes) -> bytes:
    data = bytearray(compressed)
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda recs, gz: b"", "^empty$"),
        (lambda recs, gz: gzip.compress(b""), "^empty$"),
        (lambda recs, gz: b"definitely not gzip", "^gzip: "),
        (lambda recs, gz: _cut_stream(gz), "^gzip: "),
        (lambda recs, gz: _flip_payload(gz), "^gzip: "),
        (lambda recs, gz: gz + b"trailing junk", "^gzip: "),
        (
            lambda recs, gz: gzip.compress(recs.tobytes()[:-1000]),
            f"^truncated: {79 * RECORD_SIZE - 1000} bytes is not a multiple of {RECORD_SIZE}$",
        ),
        (lambda recs, gz: _bad_version(recs), "^bad version 5 in record 3$"),
    ],
    ids=["empty", "empty-gzip", "not-gzip", "cut-stream", "flipped-byte", "junk", "truncated", "version"],
)
def test_read_chunk_errors(tmp_path: Path, make: Callable[[np.ndarray, bytes], bytes], reason: str) -> None:
    source = DATA / "game_000000.gz"
    path = tmp_path / "bad.gz"
    path.write_bytes(make(read_chunk(source), source.read_bytes()))
    with pytest.raises(ChunkError) as info:
        read_chunk(path)
    assert re.search(reason, info.value.reason), info.value.reason
    assert info.value.path == path
    assert str(info.value) == f"{path}: {info.value.reason}"


def test_read_chunk_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ChunkError, match=r"missing\.gz: unreadable: No such file"):
        read_chunk(tmp_path / "missing.gz")


def test_chunk_error_pickles() -> None:  # it crosses process boundaries (Ray workers)
    error = pickle.loads(pickle.dumps(ChunkError(Path("x.gz"), "empty")))
    assert (error.path, error.reason, str(error)) == (Path("x.gz"), "empty", "x.gz: empty")



def test_a_split_with_fewer_files_than_processes_is_refused_naming_its_field() -> None:
    files = DataFiles([Path("a.gz"), Path("b.gz")], [Path("c.gz"), Path("d.gz")], [Path("v.gz")])
    config = data_pb2.DataConfig(input_train=["t"], input_test=["s"], input_validation=["v"])
    check_shares(files, config, 1)
    with pytest.raises(ValueError, match=r"dataset\.input_validation: 1 validation chunk file\(s\) for 2 processes"):
        check_shares(files, config, 2)
    with pytest.raises(ValueError, match=r"dataset\.input_train: 2 train chunk file\(s\) for 3 processes"):
        check_shares(files, config, 3)
    check_shares(DataFiles(files.train, files.test, []), config, 2)  # an empty split has no stream
