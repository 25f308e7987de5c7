"""Synthetic self-play chunks: they read back as valid, self-consistent V6 games."""

from pathlib import Path

import numpy as np
import pytest

from workers.data.policy_map import legal_policy_indices, replay_played_indices
from tests.chunk_helpers import board_planes, read_chunk
from workers.data.v6 import V6_DTYPE, InputFormat, decode_records
from workers.data.writer import write_games




def check_chunk(path: Path, input_format: InputFormat, max_plies: int) -> None:
    """Replay a chunk; every record must agree with the game it describes."""
    raw = read_chunk(path)
    fields = raw.view(V6_DTYPE)[:, 0]
    batch = decode_records(raw)
    assert (batch.input_format == input_format).all()
    canonical = input_format >= InputFormat.CANONICAL
    transforms = (fields["invariance_info"] & 7).tolist() if canonical else [0] * len(raw)
    boards = replay_played_indices(fields["played_idx"].tolist(), transforms)
    for board, transform, planes, policy, played, best in zip(
        boards, transforms, batch.planes, batch.policy, fields["played_idx"], fields["best_idx"], strict=True
    ):
        legal = np.zeros(1858, bool)
        legal[list(legal_policy_indices(board, transform).values())] = True
        np.testing.assert_array_equal(policy >= 0, legal, err_msg=board.fen())
        assert abs(policy[legal].sum() - 1.0) < 1e-5
        assert policy[played] > 0 and policy[best] == policy.max()
        np.testing.assert_array_equal(planes, board_planes(board, input_format), err_msg=board.fen())

    assert batch.plies_left.tolist() == list(range(len(boards), 0, -1))
    for q, d in ((batch.best_q, batch.best_d), (batch.root_q, batch.root_d), (batch.played_q, batch.played_d)):
        win, loss = (1 + q - d) / 2, (1 - q - d) / 2
        assert (d >= 0).all() and (win >= -1e-6).all() and (loss >= -1e-6).all()

    final = boards[-1].copy()
    by_index = {idx: move for move, idx in legal_policy_indices(final, transforms[-1]).items()}
    final.push(by_index[int(fields["played_idx"][-1])])
    outcome = final.outcome()
    ended = outcome is not None or final.is_repetition(3) or final.is_fifty_moves()
    assert ended or final.ply() == max_plies
    winner = outcome.winner if outcome else None
    for board, wdl in zip(boards, batch.result_wdl, strict=True):
        if winner is None:
            assert wdl.tolist() == [0.0, 1.0, 0.0]
        else:
            assert wdl.tolist() == ([1.0, 0.0, 0.0] if board.turn == winner else [0.0, 0.0, 1.0])
    # Adjudicated (bit 5) and max length exceeded (bit 4), as lc0 flags them.
    assert ((fields["invariance_info"] & 0x30) == (0 if ended else 0x30)).all()


@pytest.mark.parametrize("input_format", list(InputFormat), ids=lambda fmt: fmt.name)
def test_chunks_replay_as_consistent_games(tmp_path: Path, input_format: InputFormat) -> None:
    paths = write_games(tmp_path, num_games=2, seed=7, input_format=input_format, max_plies=60)
    assert [path.name for path in paths] == ["game_000000.gz", "game_000001.gz"]
    for path in paths:
        check_chunk(path, input_format, max_plies=60)


def test_finished_games_are_scored(tmp_path: Path) -> None:
    # With this seed the three games are: capped at 400 plies, a win, a win
    # (random games rarely mate), so every result branch is exercised.
    paths = write_games(tmp_path, num_games=3, seed=2, max_plies=400)
    first_results = [float(read_chunk(path).view(V6_DTYPE)["result_q"][0, 0]) for path in paths]
    assert first_results == [0.0, -1.0, -1.0]
    for path in paths:
        check_chunk(path, InputFormat.CLASSICAL, max_plies=400)


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = write_games(tmp_path / "a", num_games=2, seed=3, max_plies=40)
    second = write_games(tmp_path / "b", num_games=2, seed=3, max_plies=40)
    other = write_games(tmp_path / "c", num_games=2, seed=4, max_plies=40)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert [p.read_bytes() for p in first] != [p.read_bytes() for p in other]


def test_rejects_empty_games(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_plies must be at least 1"):
        write_games(tmp_path, num_games=1, seed=0, max_plies=0)
