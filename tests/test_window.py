"""The newest-chunk window (workers/data/window.py) and `dataset.num_chunks` for fixed jobs."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from lc0train import data_pb2
from workers.data import window as window_module
from workers.data.splits import resolve_data_files
from workers.data.window import Anchor, ChunkIndex, natural_key


def chunk(path: Path, game: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(game.to_bytes(4, "little")))
    return path


def add_to_tar(archive: Path, names: list[str]) -> None:
    with tarfile.open(archive, "a" if archive.exists() else "w") as tar:
        for name in names:
            data = gzip.compress(name.encode())
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def names(paths: list[Path]) -> list[str]:
    return [str(p).rsplit("/", 1)[-1] for p in paths]


def age(path: Path, seconds: float) -> None:
    """Set a directory's (or file's) modification time `seconds` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_natural_key_orders_game_numbers_numerically() -> None:
    paths = ["/d/training.10.gz", "/d/training.9.gz", "/x.tar:run/training.100.gz", "/d/training.9a.gz"]
    assert sorted(paths, key=natural_key) == ["/d/training.9.gz", "/d/training.9a.gz", "/d/training.10.gz",
                                             "/x.tar:run/training.100.gz"]


def test_window_is_the_newest_by_game_number_across_dirs_and_tars(tmp_path: Path) -> None:
    for game in (1, 2, 9, 10):
        chunk(tmp_path / "dir" / f"training.{game}.gz")
    chunk(tmp_path / "dir" / "sub" / "training.11.gz")
    add_to_tar(tmp_path / "dir" / "a.tar", ["training.3.gz", "training.12.gz", "notes.txt"])
    index = ChunkIndex([str(tmp_path / "dir")])
    assert index.poll() == 7 and len(index) == 7
    assert names(index.window(4)) == ["a.tar:training.12.gz", "training.11.gz", "training.10.gz", "training.9.gz"]
    assert names(index.window(100))[-1] == "training.1.gz"


def test_mtime_order(tmp_path: Path) -> None:
    paths = [chunk(tmp_path / f"training.{g}.gz") for g in range(4)]
    for seconds, path in zip((10, 40, 20, 30), paths, strict=True):
        age(path, seconds)
    index = ChunkIndex([str(tmp_path)], data_pb2.SORT_TYPE_MTIME)
    index.poll()
    assert names(index.window(3)) == ["training.0.gz", "training.2.gz", "training.3.gz"]


def test_name_order_is_the_plain_string_order(tmp_path: Path) -> None:
    for game in (9, 10, 100):
        chunk(tmp_path / f"training.{game}.gz")
    index = ChunkIndex([str(tmp_path)], data_pb2.SORT_TYPE_NAME)
    index.poll()
    assert names(index.window(3)) == ["training.9.gz", "training.100.gz", "training.10.gz"]


def test_anchor_counts_each_arrival_once_and_survives_a_restart(tmp_path: Path) -> None:
    for game in range(5):
        chunk(tmp_path / f"training.{game}.gz")
    index = ChunkIndex([str(tmp_path)])
    assert index.poll() == 5 and index.pending == 5
    anchor, used = index.reset_anchor()
    assert (anchor.chunk, used, index.pending) == (str(tmp_path / "training.4.gz"), 5, 0)
    assert index.poll() == 0
    for game in range(5, 8):
        chunk(tmp_path / f"training.{game}.gz")
    assert index.poll() == 3 and index.poll() == 0 and index.pending == 3
    # The window of the anchored cycle ignores the newer arrivals.
    assert names(index.window(3, anchor)) == ["training.4.gz", "training.3.gz", "training.2.gz"]
    # A restarted index with the saved anchor counts the same pending chunks and rebuilds the window.
    restarted = ChunkIndex([str(tmp_path)], anchor=Anchor.from_json(anchor.to_json()))
    restarted.poll()
    assert restarted.recount() == 3
    assert restarted.window(3) == index.window(3, anchor)
    (tmp_path / "training.7.gz").unlink()
    assert restarted.poll() == 0 and restarted.pending == 2 and len(restarted) == 7


def test_polling_relists_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for sub in ("a", "b"):
        for game in range(3):
            chunk(tmp_path / sub / f"training.{sub}{game}.gz")
        age(tmp_path / sub, 60)
    age(tmp_path, 60)
    index = ChunkIndex([str(tmp_path)])
    assert index.poll() == 6
    listed: list[str] = []
    real_scandir = os.scandir

    def counting_scandir(path: str) -> object:
        listed.append(os.path.basename(path))
        return real_scandir(path)

    monkeypatch.setattr(window_module.os, "scandir", counting_scandir)
    assert index.poll() == 0 and listed == []  # nothing changed: no directory is listed
    chunk(tmp_path / "b" / "training.b9.gz")
    assert index.poll() == 1 and listed == ["b"]


def test_a_growing_tar_adds_members_once_complete(tmp_path: Path) -> None:
    archive = tmp_path / "games.tar"
    add_to_tar(archive, ["training.1.gz", "training.2.gz"])
    index = ChunkIndex([str(tmp_path)])
    assert index.poll() == 2
    add_to_tar(archive, ["training.3.gz"])
    grown = archive.read_bytes()
    with tarfile.open(archive) as tar:
        third = tar.getmember("training.3.gz")
    archive.write_bytes(grown[: third.offset_data + 10])  # training.3's header and part of its data
    assert index.poll() == 0 and len(index) == 2
    archive.write_bytes(grown)
    assert index.poll() == 1 and names(index.window(1)) == ["games.tar:training.3.gz"]


def test_fixed_job_num_chunks_takes_the_newest(tmp_path: Path) -> None:
    for game in range(1, 13):
        chunk(tmp_path / "pool" / f"training.{game}.gz")
    config = data_pb2.DataConfig(input_train=[str(tmp_path / "pool")], input_test=[str(tmp_path / "pool")],
                                 num_chunks=4)
    files = resolve_data_files(config, seed=1)
    assert sorted(names(files.train), key=natural_key) == [f"training.{g}.gz" for g in (9, 10, 11, 12)]
    assert len(files.test) == 12
    config.num_chunks = 20
    with pytest.raises(ValueError, match="dataset.num_chunks: 20 chunks wanted, the inputs hold only 12"):
        resolve_data_files(config, seed=1)
    config.allow_less_chunks = True
    assert len(resolve_data_files(config, seed=1).train) == 12
