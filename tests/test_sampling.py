"""Legacy position sampling: down-sampling by `sample` and diff focus, seeded and resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lc0train import job_pb2
from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.pipeline import ChunkStream
from workers.data.sampling import DiffFocus, Sampling
from workers.data.v6 import RECORD_SIZE, InputFormat, encode_record
from workers.data.writer import write_games

ROOT = Path(__file__).resolve().parents[1]


def test_kept_fraction_is_one_in_sample_within_binomial_error() -> None:
    rows = np.zeros((1000, RECORD_SIZE), np.uint8)
    sampling = Sampling(32)
    kept = sum(int(sampling.keep(rows, seed=7, epoch=epoch, file_index=index).sum())
               for epoch in range(4) for index in range(100))
    n, p = 400_000, 1 / 32
    assert abs(kept - n * p) < 4 * np.sqrt(n * p * (1 - p))
    # Another epoch of the same file selects other records; the same key the same ones.
    first = sampling.keep(rows, seed=7, epoch=0, file_index=3)
    assert np.array_equal(first, sampling.keep(rows, seed=7, epoch=0, file_index=3))
    assert not np.array_equal(first, sampling.keep(rows, seed=7, epoch=1, file_index=3))


def _records(best_q: list[float], orig_q: list[float], policy_kld: list[float]) -> np.ndarray:
    probabilities = np.full(1858, -1.0, np.float32)
    raw = b"".join(encode_record(InputFormat.CLASSICAL, np.zeros(104, np.uint64), probabilities, best_q=b, orig_q=o,
                                 policy_kld=k) for b, o, k in zip(best_q, orig_q, policy_kld))
    return np.frombuffer(raw, np.uint8).reshape(len(best_q), RECORD_SIZE)


def test_diff_focus_keeps_what_the_legacy_formula_accepts() -> None:
    rng = np.random.default_rng(0)
    n = 400
    best_q = rng.uniform(-1, 1, n)
    orig_q = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(-1, 1, n))
    kld = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 0.5, n))
    rows = _records(best_q.tolist(), orig_q.tolist(), kld.tolist())
    focus = DiffFocus(diff_focus_min=0.1, diff_focus_slope=2.0, diff_focus_q_weight=6.0, diff_focus_pol_scale=3.5)
    sampling = Sampling(2, focus)
    # NumPy reference of the legacy chunkparser rule, on the values as stored (float32).
    b, o, k = (np.float32(v).astype(np.float64) for v in (best_q, orig_q, kld))
    with np.errstate(invalid="ignore"):
        p = 0.1 + 2.0 * (6.0 * np.abs(b - o) + k) / (6.0 + 3.5)
    applies = ~np.isnan(o) & (k > 0)
    draws = np.random.default_rng([11, 2, 3, 5])
    down, focus_u = draws.random(n), draws.random(n)
    expected = (down * 2 < 1) & (~applies | (p >= 1) | (focus_u <= p))
    assert np.array_equal(sampling.keep(rows, seed=11, epoch=3, file_index=5), expected)
    assert np.allclose(focus.acceptance(b, o, k)[applies], p[applies]) and np.all(np.isinf(focus.acceptance(b, o, k)[~applies]))
    assert 0 < expected.sum() < (down * 2 < 1).sum()  # some records dropped by diff focus, some kept
    # The legacy defaults (min 1, slope 0) keep every record.
    assert not DiffFocus().active and Sampling(1, DiffFocus()).select(rows, 0, 0, 0) is rows


def _take(stream: ChunkStream, count: int) -> list[np.ndarray]:
    return [next(stream).planes.copy() for _ in range(count)]


def test_a_resumed_sampled_stream_keeps_the_same_selection(tmp_path: Path) -> None:
    write_games(tmp_path, num_games=16, seed=3, max_plies=60)
    files = sorted(tmp_path.glob("*.gz"))
    sampling = Sampling(4, DiffFocus(diff_focus_min=0.5, diff_focus_slope=0.0))
    args = dict(batch_size=8, shuffle_size=32, seed=5, input_format=InputFormat.CLASSICAL, prefetch=0, sampling=sampling)
    with ChunkStream(files, **args) as stream:
        _take(stream, 5)
        cursor = stream.cursor
        expected = _take(stream, 12)
    with ChunkStream(files, cursor=cursor, **args) as resumed:
        assert all(np.array_equal(a, b) for a, b in zip(_take(resumed, 12), expected, strict=True))
    with ChunkStream(files, **{**args, "sampling": Sampling()}) as unsampled:
        assert not all(np.array_equal(a, b) for a, b in zip(_take(unsampled, 17)[5:], expected))


def _spec(*overrides: str) -> job_pb2.JobSpec:
    return load_spec(ROOT / "configs" / "tiny.textproto", list(overrides))


def test_resolve_builds_the_sampling_and_names_bad_fields() -> None:
    job = resolve(_spec("dataset.sample=32", "dataset.diff_focus_min=0.25", "dataset.diff_focus_slope=2"))
    assert job.sampling == Sampling(32, DiffFocus(0.25, 2.0, 6.0, 3.5))
    assert job.sampling.for_stream("test") == Sampling(32) and job.sampling.for_stream("validation") == Sampling()
    with pytest.raises(ValueError, match="unknown split 'train-network-1'"):  # a stream's seed key is not its split
        job.sampling.for_stream("train-network-1")
    assert resolve(_spec()).sampling == Sampling()  # unset: every record kept
    with pytest.raises(ConfigError) as info:
        resolve(_spec("dataset.sample=0", "dataset.diff_focus_q_weight=-3.5"))
    problems = dict(info.value.problems)
    assert "dataset.sample" in problems and "diff_focus_pol_scale must be > 0" in problems["dataset.diff_focus_q_weight"]
