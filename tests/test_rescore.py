"""Rescoring V6 games into V7 (workers/data/rescore.py) and `lc0-train data rescore`."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.cli import main
from workers.data.files import read_chunk
from workers.data.rescore import rescore_files, rescore_records, short_term_targets
from workers.data.v6 import NO_MOVE, V6_DTYPE, V7_DTYPE

DATA = Path(__file__).parent / "data" / "lc0-selfplay"
GAME = DATA / "game_000000.gz"
ALPHA = 5 / 6


def reference_ema(values: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """v = W·u with v_{n-1} = u_{n-1}, v_i = α·v_{i+1} + (1−α)·u_i unrolled into weights:
    W[i, j] = (1−α)·α^(j−i) for i ≤ j < n−1 and W[i, n−1] = α^(n−1−i)."""
    n = len(values)
    i, j = np.indices((n, n))
    weights = np.where(j >= i, (1 - alpha) * alpha ** (j - i), 0.0)
    weights[:, -1] = alpha ** (n - 1 - np.arange(n))
    return weights @ np.asarray(values, np.float64)


def shifted(played: np.ndarray, by: int) -> np.ndarray:
    return np.concatenate([played[by:], np.full(min(by, len(played)), NO_MOVE)]).astype(np.int64)


def test_rescored_fixture_game_matches_the_numpy_reference() -> None:
    v6 = read_chunk(GAME)
    fields = v6.view(V6_DTYPE)[:, 0]
    v7 = rescore_records(v6)
    out = v7.view(V7_DTYPE)[:, 0]

    sign = (-1.0) ** np.arange(len(v6))
    q_ref = sign * reference_ema(sign * fields["root_q"].astype(np.float64))
    d_ref = np.maximum(reference_ema(fields["root_d"].astype(np.float64)), 0.0)
    np.testing.assert_allclose(out["q_st"], q_ref, rtol=0, atol=1e-7)
    np.testing.assert_allclose(out["d_st"], d_ref, rtol=0, atol=1e-7)
    assert out["q_st"][-1] == fields["root_q"][-1] and out["d_st"][-1] == fields["root_d"][-1]
    # Sign convention: q_st is from the side to move's view, like root_q (they agree in sign
    # wherever the game's evaluation is clear).
    clear = np.abs(fields["root_q"]) > 0.5
    assert clear.sum() > 10 and (np.sign(out["q_st"][clear]) == np.sign(fields["root_q"][clear])).all()

    played = fields["played_idx"].astype(np.int64)
    np.testing.assert_array_equal(out["opp_played_idx"], shifted(played, 1))
    np.testing.assert_array_equal(out["next_played_idx"], shifted(played, 2))
    assert out["opp_played_idx"][-1] == out["next_played_idx"][-2] == out["next_played_idx"][-1] == NO_MOVE

    # Everything else is the V6 record; the version is 7 and extra is zero.
    assert (out["version"] == 7).all() and (out["extra"] == 0).all()
    np.testing.assert_array_equal(v7[:, 4:8352], v6[:, 4:8352])


def test_short_term_targets_by_hand() -> None:
    # Alternating signs of a steady evaluation: from one perspective it is constant.
    targets = short_term_targets(np.array([0.6, -0.6, 0.6]), np.array([0.2, 0.2, 0.2]), np.array([10, 11, 12]))
    np.testing.assert_allclose(targets.q_st, [0.6, -0.6, 0.6], rtol=1e-6)
    np.testing.assert_allclose(targets.d_st, [0.2, 0.2, 0.2], rtol=1e-6)
    np.testing.assert_array_equal(targets.opp_played_idx, [11, 12, NO_MOVE])
    np.testing.assert_array_equal(targets.next_played_idx, [12, NO_MOVE, NO_MOVE])
    # Two plies: v1 = u1 = -(-1) = 1, v0 = α·1 + (1−α)·0 → q_st = [5/6, -1].
    # d: slightly negative values (within the reader's tolerance) are floored at 0.
    two = short_term_targets(np.array([0.0, -1.0]), np.array([-0.005, -0.004]), np.array([1, 2]))
    np.testing.assert_allclose(two.q_st, [5 / 6, -1.0], rtol=1e-6)
    np.testing.assert_array_equal(two.d_st, [0.0, 0.0])
    one = short_term_targets(np.array([0.25]), np.array([0.5]), np.array([7]))
    assert (one.q_st[0], one.d_st[0], one.opp_played_idx[0], one.next_played_idx[0]) == (0.25, 0.5, NO_MOVE, NO_MOVE)


def test_rescoring_v7_again_gives_the_same_bytes() -> None:
    v7 = rescore_records(read_chunk(GAME))
    v7.view(V7_DTYPE)["extra"] = 1.5  # kept from a V7 input
    again = rescore_records(v7)
    np.testing.assert_array_equal(again, v7)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Three good games (one in a subdirectory) and three bad files."""
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(DATA / "game_000000.gz", root / "game_a.gz")
    shutil.copy(DATA / "game_000001.gz", root / "game_b.gz")
    (root / "sub").mkdir()
    shutil.copy(DATA / "game_000002.gz", root / "sub" / "game_c.gz")
    records = read_chunk(DATA / "game_000003.gz").copy()
    write(root / "truncated.gz", records.tobytes()[:-7])
    records.view(V6_DTYPE)["root_q"][4] = 1.5
    write(root / "out_of_range.gz", records.tobytes())
    (root / "not_gzip.gz").write_bytes(b"not a chunk")
    return root


def test_rescore_files_skips_and_counts_bad_inputs(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = rescore_files([str(inputs)], out)
    assert report.inputs == 6
    assert sorted(p.relative_to(out).as_posix() for p in report.written) == ["game_a.gz", "game_b.gz", "sub/game_c.gz"]
    assert report.records == sum(len(read_chunk(DATA / f"game_00000{i}.gz")) for i in range(3))
    assert report.skipped.keys() == {str(inputs / n) for n in ("truncated.gz", "out_of_range.gz", "not_gzip.gz")}
    assert report.skipped[str(inputs / "out_of_range.gz")] == "record 4: root_q 1.5 outside [-1, 1]"
    assert report.skipped[str(inputs / "truncated.gz")].startswith("truncated: ")
    assert report.skipped[str(inputs / "not_gzip.gz")].startswith("gzip: ")
    np.testing.assert_array_equal(read_chunk(out / "sub" / "game_c.gz"), rescore_records(read_chunk(DATA / "game_000002.gz")))
    assert sorted(p.name for p in out.rglob("*")) == ["game_a.gz", "game_b.gz", "game_c.gz", "sub"]  # no partial files


def test_rescore_name_collisions_are_skipped(inputs: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(DATA / "game_000004.gz", other / "game_a.gz")
    report = rescore_files([str(inputs / "game_a.gz"), str(other / "game_a.gz")], tmp_path / "out")
    assert [p.name for p in report.written] == ["game_a.gz"]
    assert "also the output of" in report.skipped[str(other / "game_a.gz")]
    np.testing.assert_array_equal(read_chunk(tmp_path / "out" / "game_a.gz")[:, 8:7440], read_chunk(DATA / "game_000000.gz")[:, 8:7440])


def test_rescore_in_place(tmp_path: Path) -> None:
    shutil.copy(GAME, tmp_path / "game.gz")
    report = rescore_files([str(tmp_path)], tmp_path)
    assert not report.skipped and report.records == 79
    assert read_chunk(tmp_path / "game.gz").shape == (79, 8396)


def test_cli_rescore_then_stats(inputs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good"
    good.mkdir()
    for name in ("game_a.gz", "game_b.gz"):
        shutil.copy(inputs / name, good / name)
    out = tmp_path / "v7"
    assert main(["data", "rescore", str(good), "--out", str(out)]) == 0
    assert "rescored 2 of 2 chunk files" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["game_a.gz", "game_b.gz"]

    assert main(["data", "stats", str(out), str(DATA / "game_000004.gz"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    v7_records = len(read_chunk(DATA / "game_000000.gz")) + len(read_chunk(DATA / "game_000001.gz"))
    assert stats["versions"] == {"6": len(read_chunk(DATA / "game_000004.gz")), "7": v7_records}
    assert stats["skipped_files"] == {}
    assert main(["data", "stats", str(out)]) == 0
    assert f"V7: {v7_records} (100.0%)" in capsys.readouterr().out

    # Bad inputs: reported, skipped, exit code 1; the good ones are still written.
    assert main(["data", "rescore", str(inputs), "--out", str(tmp_path / "mixed")]) == 1
    printed = capsys.readouterr().out
    assert "rescored 3 of 6 chunk files" in printed and "3 skipped" in printed and "out_of_range.gz" in printed
    assert main(["data", "rescore", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "matches no chunk files" in capsys.readouterr().err
