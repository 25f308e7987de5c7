"""Rescoring games into V7 records: short-term value targets and the future moves.

`lc0-train data rescore INPUT... --out DIR` does what the legacy tf-214 trainer's
``rescore_file`` step did to V6 data before its V7 reader could use it. For a game of n
records (one chunk file, records in game order):

* ``q_st``: a backward exponential moving average of ``root_q`` with α = 1 − 1/6, taken on
  values signed to one fixed perspective (records alternate the side to move)::

      u_i = (−1)^i · root_q_i,   v_{n−1} = u_{n−1},   v_i = α·v_{i+1} + (1 − α)·u_i,
      q_st_i = (−1)^i · v_i

* ``d_st``: the same average of ``root_d`` without signs, floored at 0.
* ``opp_played_idx_i = played_idx_{i+1}`` (the opponent's reply) and
  ``next_played_idx_i = played_idx_{i+2}`` (our next move), ``NO_MOVE`` (65535) past the end.

Everything else is copied; the version becomes 7 and V7's ``extra`` floats are 0 (kept when
the input is already V7, whose targets are recomputed). One output chunk per input, under the
same name. A file that cannot be read, or whose values the V7 reader would reject, is reported
and skipped, never fatal.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from workers.data.archives import ArchiveCache, split_member
from workers.data.files import ChunkError, discover_chunks, read_chunk
from workers.data.v6 import NO_MOVE, NUM_POLICY, RECORD_SIZES, V7_DTYPE, V7_RECORD_SIZE, V7_VERSION, record_fields

logger = logging.getLogger(__name__)

ALPHA = 1.0 - 1.0 / 6.0  # weight of the next ply's average in the backward EMA
_TOLERANCE = 0.01  # the V7 reader asserts q in [-1, 1] and d in [0, 1] to within this
_COMMON_BYTES = record_fields(V7_DTYPE)["q_st"][1]  # bytes 0..8351 mean the same in V6 and V7


class ShortTermTargets(NamedTuple):
    """Per-record V7 targets of one game (index i = record i)."""

    q_st: np.ndarray  # float32 [n]
    d_st: np.ndarray  # float32 [n]
    opp_played_idx: np.ndarray  # uint16 [n]; NO_MOVE for the last record
    next_played_idx: np.ndarray  # uint16 [n]; NO_MOVE for the last two records


def short_term_targets(root_q: np.ndarray, root_d: np.ndarray, played_idx: np.ndarray,
                       alpha: float = ALPHA) -> ShortTermTargets:
    """The short-term targets of one game from its records' root_q, root_d and played_idx (see
    the module docstring). Computed in float64, stored as float32 like the records."""
    q = np.asarray(root_q, np.float64)
    d = np.asarray(root_d, np.float64)
    played = np.asarray(played_idx, np.uint16)
    n = len(q)
    if not len(d) == len(played) == n:
        raise ValueError(f"root_q, root_d and played_idx differ in length: {n}, {len(d)}, {len(played)}")
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    # Both averages in one backward pass over (signed q, d) pairs: n is one game's plies.
    u = np.stack([sign * q, d], axis=1)
    v = np.empty_like(u)
    if n:
        v[-1] = u[-1]
    for i in range(n - 2, -1, -1):
        v[i] = alpha * v[i + 1] + (1.0 - alpha) * u[i]
    future = np.full((2, n), NO_MOVE, np.uint16)
    future[0, : max(n - 1, 0)] = played[1:]
    future[1, : max(n - 2, 0)] = played[2:]
    return ShortTermTargets(
        q_st=(sign * v[:, 0]).astype(np.float32),
        d_st=np.maximum(v[:, 1], 0.0).astype(np.float32),
        opp_played_idx=future[0],
        next_played_idx=future[1],
    )


def rescore_records(records: np.ndarray) -> np.ndarray:
    """One game's raw records (uint8 [n, 8356] V6 or [n, 8396] V7, in game order) as V7 records,
    uint8 [n, 8396]. Raises ValueError when a value would fail the V7 reader's checks (root_q
    outside [−1, 1] or root_d outside [0, 1] beyond ±0.01, NaN, a played_idx ≥ 1858)."""
    if records.ndim != 2 or records.shape[1] not in RECORD_SIZES.values():
        raise ValueError(f"records must be uint8 [n, 8356] or [n, 8396], got {records.dtype} {records.shape}")
    common = np.ascontiguousarray(records[:, :_COMMON_BYTES])
    out = np.zeros((len(records), V7_RECORD_SIZE), np.uint8)
    out[:, :_COMMON_BYTES] = common
    if records.shape[1] == V7_RECORD_SIZE:
        extra = record_fields(V7_DTYPE)["extra"][1]
        out[:, extra:] = records[:, extra:]
    fields = out.view(V7_DTYPE)[:, 0]
    _check_game(fields)
    targets = short_term_targets(fields["root_q"], fields["root_d"], fields["played_idx"])
    fields["version"] = V7_VERSION
    for name, values in targets._asdict().items():
        fields[name] = values
    return out


def _check_game(fields: np.ndarray) -> None:
    """Raise ValueError naming the first record whose value the V7 reader would reject."""
    checks = (
        ("root_q", ~(np.abs(fields["root_q"]) <= 1 + _TOLERANCE), "outside [-1, 1]"),
        ("root_d", ~((fields["root_d"] >= -_TOLERANCE) & (fields["root_d"] <= 1 + _TOLERANCE)), "outside [0, 1]"),
        ("played_idx", fields["played_idx"] >= NUM_POLICY, f"not a policy index (< {NUM_POLICY})"),
    )
    for name, bad, what in checks:
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(f"record {first}: {name} {fields[name][first]} {what}")


@dataclasses.dataclass
class RescoreReport:
    """What `rescore_files` did. `skipped` maps an input path to why it was not rescored."""

    out_dir: Path
    inputs: int = 0
    written: list[Path] = dataclasses.field(default_factory=list)
    records: int = 0
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)


def rescore_files(specs: Sequence[str], out_dir: Path) -> RescoreReport:
    """Rescore every chunk that `specs` name (files, directories, globs) into V7 chunks in `out_dir`.

    A directory's chunks keep their path relative to it; a file or glob match keeps its name; an
    archive member (``ARCHIVE.tar:MEMBER``) is written as a plain file at its path in the archive.
    Bad inputs (unreadable, corrupt, out-of-range values, or two inputs with one output name)
    are logged, listed in the report and skipped. Output files are written atomically, so
    `out_dir` may be the input directory. Raises ValueError when a spec matches no file.
    """
    out_dir = Path(out_dir)
    report = RescoreReport(out_dir)
    archives = ArchiveCache()
    targets: dict[Path, Path] = {}  # input -> output, in discovery order
    for spec in specs:
        for path in discover_chunks([spec], archives):  # absolute paths, symlinks kept
            targets.setdefault(path, out_dir / _output_name(Path(spec).expanduser(), path))
    report.inputs = len(targets)
    claimed: dict[Path, Path] = {}
    for path, target in targets.items():
        reason = None
        if target.resolve() in claimed:
            reason = f"output {target} is also the output of {claimed[target.resolve()]}"
        else:
            claimed[target.resolve()] = path
            try:
                rescored = rescore_records(read_chunk(path, archives))
                _write_atomically(target, gzip.compress(rescored.tobytes(), mtime=0))
            except ChunkError as exc:
                reason = exc.reason
            except ValueError as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"cannot write {target}: {exc.strerror or exc}"
        if reason is not None:
            logger.warning("not rescoring %s: %s", path, reason)
            report.skipped[str(path)] = reason
            continue
        report.written.append(target)
        report.records += len(rescored)
    logger.info("rescored %d of %d chunk files (%d records) into %s", len(report.written), report.inputs,
                report.records, out_dir)
    return report


def _output_name(spec: Path, path: Path) -> Path:
    """Where one discovered chunk goes under the output directory (see `rescore_files`)."""
    member = split_member(path)
    if member is not None:
        return Path(member[1])
    return path.relative_to(os.path.abspath(spec)) if spec.is_dir() else Path(path.name)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def format_report(report: RescoreReport) -> str:
    """Human-readable text of a `RescoreReport`."""
    lines = [f"rescored {len(report.written)} of {report.inputs} chunk files ({report.records} records) "
             f"into {report.out_dir}; {len(report.skipped)} skipped"]
    lines.extend(f"  skipped {path}: {reason}" for path, reason in report.skipped.items())
    return "\n".join(lines)
