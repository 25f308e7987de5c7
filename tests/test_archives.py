"""Tar archives of chunks read in place (workers/data/archives.py and its use by files, the
stream, `data stats` and `data rescore`), on tars built with Python's tarfile from real records."""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tests.test_pipeline import SIZES, TOTAL, assert_same_batches, stream, tagged, tags, take
from workers.config.paths import path_problems
from workers.data.archives import ArchiveCache, damage_name, list_archive, member_path, split_member
from workers.data.files import ChunkError, discover_chunks, read_chunk
from workers.data.rescore import rescore_files
from workers.data.stats import dataset_stats

DATA = Path(__file__).parent / "data" / "lc0-selfplay"


@pytest.fixture(scope="module")
def real_records() -> np.ndarray:
    return np.concatenate([read_chunk(p) for p in sorted(DATA.glob("*.gz"))])


@pytest.fixture
def games(real_records: np.ndarray) -> dict[str, bytes]:
    """The test_pipeline dataset as gzip bytes by member name (tags 1..TOTAL in name order)."""
    out, tag = {}, 1
    for i, size in enumerate(SIZES):
        out[f"game_{i:03d}.gz"] = gzip.compress(tagged(real_records, tag, size).tobytes(), compresslevel=1)
        tag += size
    return out


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def member_offsets(data: bytes) -> dict[str, tuple[int, int]]:
    """Header offset and data end of every member, from tarfile's own reading."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (m.offset, m.offset_data + m.size) for m in tar.getmembers()}


def test_tar_gives_the_same_records_and_batches_as_plain_files(tmp_path: Path, games: dict[str, bytes]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, data in games.items():
        (plain / name).write_bytes(data)
    archive = tmp_path / "games.tar"
    archive.write_bytes(tar_bytes({f"run1/{n}": d for n, d in games.items()}))
    plain_files, tar_files = discover_chunks([str(plain)]), discover_chunks([str(archive)])
    assert [str(p) for p in tar_files] == [f"{archive}:run1/{n}" for n in games]
    for a, b in zip(plain_files, tar_files, strict=True):
        np.testing.assert_array_equal(read_chunk(a), read_chunk(b))
    with stream(plain_files) as left, stream(tar_files) as right:
        assert_same_batches(take(left, 20), take(right, 20))
        assert right.cursor.files_digest == left.cursor.files_digest


def test_mixed_inputs_globs_and_member_addresses(tmp_path: Path, games: dict[str, bytes]) -> None:
    names = list(games)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "loose.gz").write_bytes(games[names[0]])
    (tmp_path / "d" / "a.tar").write_bytes(tar_bytes({names[1]: games[names[1]], "notes.txt": b"x"}))
    (tmp_path / "b.tar").write_bytes(tar_bytes({names[2]: games[names[2]], names[3]: games[names[3]]}))
    found = discover_chunks([str(tmp_path / "d"), str(tmp_path / "*.tar")])
    assert [str(p) for p in found] == [f"{tmp_path}/b.tar:{names[2]}", f"{tmp_path}/b.tar:{names[3]}",
                                      f"{tmp_path}/d/a.tar:{names[1]}", f"{tmp_path}/d/loose.gz"]
    assert discover_chunks([f"{tmp_path}/b.tar:{names[3]}"]) == [found[1]]
    with pytest.raises(ValueError, match="b.tar:missing.gz"):
        discover_chunks([f"{tmp_path}/b.tar:missing.gz"])
    assert split_member(found[0]) == (tmp_path / "b.tar", names[2])
    assert split_member(found[3]) is None


def test_truncated_member_and_garbage_are_read_up_to_the_damage(
    tmp_path: Path, games: dict[str, bytes], caplog: pytest.LogCaptureFixture
) -> None:
    whole = tar_bytes(games)
    offsets = member_offsets(whole)
    cut_at = offsets["game_005.gz"][1] - 100  # inside game_005's data
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(whole[:cut_at])
    # Garbage over game_002's header and data: the walk skips it and finds game_003's header.
    start, end = offsets["game_002.gz"][0], offsets["game_003.gz"][0]
    garbled = tmp_path / "garbled.tar"
    garbled.write_bytes(whole[:start] + np.random.default_rng(0).bytes(end - start) + whole[end:])
    # A member that is a valid tar entry but not valid gzip.
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(tar_bytes({"bad.gz": b"\x1f\x8b not gzip", "game_007.gz": games["game_007.gz"]}))

    with caplog.at_level(logging.WARNING):
        files = discover_chunks([str(truncated), str(garbled), str(corrupt)])
    with stream(files, repeat=False) as source:
        emitted = sorted(t for b in source for t in tags(b))
        stats = source.stats
    first = np.cumsum([0, *SIZES])  # tags of game i are first[i]+1 .. first[i+1]
    expected = {*range(1, first[5] + 1), *range(1, first[2] + 1), *range(first[3] + 1, TOTAL + 1),
                *range(first[7] + 1, TOTAL + 1)}
    assert set(emitted) == expected
    assert set(stats.skipped_files) == {f"{truncated}:game_005.gz", f"{garbled}:{damage_name(start)}",
                                        f"{corrupt}:bad.gz"}
    assert stats.skipped_files[f"{truncated}:game_005.gz"].startswith("truncated: member 'game_005.gz'")
    assert "not a tar header" in stats.skipped_files[f"{garbled}:{damage_name(start)}"]
    assert stats.skipped_files[f"{corrupt}:bad.gz"].startswith("gzip")
    assert any("truncated.tar" in r.getMessage() for r in caplog.records)

    summary = dataset_stats([str(truncated), str(garbled)])
    assert summary["records"] == first[5] + first[2] + TOTAL - first[3]
    assert set(summary["skipped_files"]) == {f"{truncated}:game_005.gz", f"{garbled}:{damage_name(start)}"}


def test_a_growing_tar_lists_only_complete_members(tmp_path: Path, games: dict[str, bytes]) -> None:
    whole = tar_bytes(games)
    ends = {name: end for name, (_, end) in member_offsets(whole).items()}
    archive = tmp_path / "growing.tar"
    archive.write_bytes(b"")
    listing, cache = list_archive(archive), ArchiveCache()
    for size in range(0, len(whole) + 1, 1000):  # appended in 1000-byte writes, headers cut anywhere
        with open(archive, "ab") as handle:
            handle.write(whole[archive.stat().st_size : size])
        before = listing.indexed_to
        listing = list_archive(archive, listing)
        complete = [name for name, end in ends.items() if end <= size]
        assert list(listing.members) == complete
        assert listing.indexed_to >= before and not listing.damage
        assert list_archive(archive).members == listing.members  # a fresh walk agrees
        for name in complete:  # readable through a cache that has seen shorter versions
            assert cache.read_member(archive, name) == games[name]
        incomplete = [name for name in games if name not in complete]
        if incomplete:
            with pytest.raises(ChunkError):
                read_chunk(member_path(archive, incomplete[0]), cache)


def test_rescore_reads_members_and_writes_plain_chunks(tmp_path: Path) -> None:
    game = (DATA / "game_000000.gz").read_bytes()
    archive = tmp_path / "in.tar"
    archive.write_bytes(tar_bytes({"sub/game.gz": game}))
    report = rescore_files([str(archive)], tmp_path / "out")
    assert report.written == [tmp_path / "out" / "sub" / "game.gz"] and not report.skipped
    assert report.records == len(read_chunk(DATA / "game_000000.gz"))


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_listing_agrees_with_tarfile_for_every_format(tmp_path: Path, fmt: int) -> None:
    long_dir = "run-" + "x" * 90 + "/" + "y" * 60  # > 100 characters: a ustar prefix, a GNU or pax long name
    names = [f"{long_dir}/training.{i}.gz" for i in range(3)] + ["short/training.9.gz", "notes.txt"]
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w", format=fmt) as tar:
        for i, name in enumerate(names):
            data = gzip.compress(name.encode())
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000 + i
            tar.addfile(info, io.BytesIO(data))
        tar.addfile(tarfile.TarInfo("emptydir/"))
    listing = list_archive(archive)
    with tarfile.open(archive) as tar:
        expected = {m.name: (m.offset_data, m.size, int(m.mtime)) for m in tar.getmembers() if m.name.endswith(".gz")}
    assert {n: (s.offset, s.size, s.mtime) for n, s in listing.members.items()} == expected
    assert not listing.damage and listing.partial is None


def test_the_submit_check_splits_an_archive_address_where_the_reader_does(tmp_path: Path) -> None:
    """A member whose own name contains '.tar:' belongs to the outer archive, for the path check as for the reader."""
    archive = tmp_path / "games.tar"
    with tarfile.open(archive, "w") as tar:
        data = b"x"
        info = tarfile.TarInfo("inner.tar:chunk.gz")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    address = f"{archive}:inner.tar:chunk.gz"
    assert split_member(address) == (archive, "inner.tar:chunk.gz")
    assert not path_problems([("dataset.input_train", address)], [tmp_path])
    missing = f"{tmp_path}/absent.tar:chunk.gz"
    assert path_problems([("dataset.input_train", missing)], [tmp_path]) == [
        ("dataset.input_train", f"the archive {tmp_path}/absent.tar does not exist")]
