"""Synthetic lc0 self-play data: random games written as gzip V6 chunks.

Owns a deterministic stand-in for lc0 self-play, for tests and benchmarks
that need realistic training files without an engine. Each game is played
from the start position with moves drawn from a random policy (a Dirichlet
distribution over the legal moves), until it ends by lc0's rules (checked with
python-chess) or reaches the ply cap (then a draw, flagged as lc0 flags
max-length games). One chunk per game.
"""

import gzip
from pathlib import Path

import chess
import numpy as np

from workers.data.planes import position_fields
from workers.data.policy_map import legal_policy_indices
from workers.data.v6 import NUM_POLICY, InputFormat, encode_record

_DIRICHLET_ALPHA = 0.3
_ADJUDICATED = 1 << 5
_MAX_LENGTH_EXCEEDED = 1 << 4


def _random_eval(rng: np.random.Generator) -> tuple[float, float]:
    """A random (q, d) with win = (1 + q - d)/2 and loss = (1 - q - d)/2 both in [0, 1]."""
    q = rng.uniform(-1.0, 1.0)
    return q, rng.uniform(0.0, 1.0 - abs(q))


def _game_over(board: chess.Board) -> tuple[bool, chess.Color | None]:
    """Whether lc0 would end the game here, and the winner (None for a draw).

    Like lc0: mate, stalemate, insufficient material, a third occurrence of the
    position or 100 plies without a capture or pawn move.
    """
    outcome = board.outcome()
    if outcome is not None:
        return True, outcome.winner
    return board.is_repetition(3) or board.is_fifty_moves(), None


def _play_game(rng: np.random.Generator, input_format: InputFormat, max_plies: int) -> bytes:
    """Play one game and return its records, concatenated."""
    board = chess.Board()
    positions = []
    over, winner = _game_over(board)
    while not over and board.ply() < max_plies:
        fields = position_fields(board, input_format)
        legal = legal_policy_indices(board, fields.transform)
        moves = list(legal)
        visits = rng.dirichlet(np.full(len(moves), _DIRICHLET_ALPHA))
        played = moves[rng.choice(len(moves), p=visits)]
        best = moves[int(np.argmax(visits))]
        policy = np.full(NUM_POLICY, -1.0, np.float32)
        policy[list(legal.values())] = visits
        positions.append((board.turn, fields, policy, legal[played], legal[best], played == best))
        board.push(played)
        over, winner = _game_over(board)

    # A game stopped at the ply cap is a draw by adjudication, flagged as lc0 does.
    flags = 0 if over else _ADJUDICATED | _MAX_LENGTH_EXCEEDED
    records = []
    for ply, (turn, fields, policy, played_idx, best_idx, played_best) in enumerate(positions):
        plies_left = len(positions) - ply
        root_q, root_d = _random_eval(rng)
        best_q, best_d = _random_eval(rng)
        played_q, played_d = (best_q, best_d) if played_best else _random_eval(rng)
        records.append(
            encode_record(
                input_format,
                probabilities=policy,
                **fields._replace(invariance_info=fields.invariance_info | flags)._asdict(),
                result_q=0.0 if winner is None else (1.0 if winner == turn else -1.0),
                result_d=1.0 if winner is None else 0.0,
                root_q=root_q,
                root_d=root_d,
                best_q=best_q,
                best_d=best_d,
                played_q=played_q,
                played_d=played_d,
                root_m=plies_left,
                best_m=plies_left,
                played_m=plies_left,
                plies_left=plies_left,
                visits=int(rng.integers(100, 1000)),
                played_idx=played_idx,
                best_idx=best_idx,
            )
        )
    return b"".join(records)


def write_games(
    out_dir: Path,
    num_games: int,
    seed: int,
    input_format: InputFormat = InputFormat.CLASSICAL,
    max_plies: int = 200,
) -> list[Path]:
    """Write `num_games` chunks game_000000.gz, ... into `out_dir`; same seed, same bytes."""
    if max_plies < 1:
        raise ValueError(f"max_plies must be at least 1, got {max_plies}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for game in range(num_games):
        path = out_dir / f"game_{game:06d}.gz"
        # mtime=0 keeps the gzip header, hence the file, deterministic.
        path.write_bytes(gzip.compress(_play_game(rng, input_format, max_plies), mtime=0))
        paths.append(path)
    return paths
