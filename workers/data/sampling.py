"""Legacy position sampling: the legacy trainer's down-sampling (`sample`) and diff focus.

For each record read from a chunk file:

* **down-sampling** keeps it with probability `1/sample` (the legacy trainer's SKIP: 32 for
  train and test, 1 for validation);
* **diff focus** (train only) computes, for a record whose `orig_q` is not NaN and whose
  `policy_kld > 0`,

      total = (q_weight·|best_q − orig_q| + policy_kld) / (q_weight + pol_scale)
      p     = diff_focus_min + diff_focus_slope·total

  and drops it when `p < 1` and a uniform draw `u > p`. Other records are always kept.

Both draws come from `default_rng([seed, 2, epoch, file_index])`, so a file's selection in an
epoch is a pure function of the stream's seed, the epoch and the file's place in the sorted file
list: a resumed stream that re-reads a window selects exactly the same records.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from workers.data.files import f32_field
from workers.data.v6 import V6_DTYPE, record_fields

_SAMPLING_STREAM = 2  # second seed word: apart from the pipeline's file-order (0) and record-order (1) RNGs
_FIELDS = record_fields(V6_DTYPE)  # V7 records keep these fields at the same offsets
_BEST_Q_OFFSET, _ORIG_Q_OFFSET, _POLICY_KLD_OFFSET = (_FIELDS[name][1] for name in ("best_q", "orig_q", "policy_kld"))


@dataclasses.dataclass(frozen=True)
class DiffFocus:
    """The legacy `training.diff_focus_*` settings (legacy defaults: every record kept)."""

    diff_focus_min: float = 1.0
    diff_focus_slope: float = 0.0
    diff_focus_q_weight: float = 6.0
    diff_focus_pol_scale: float = 3.5

    @property
    def active(self) -> bool:
        """Whether any record can be dropped (total ≥ 0, so p ≥ min while slope ≥ 0)."""
        return self.diff_focus_min < 1 or self.diff_focus_slope < 0

    def acceptance(self, best_q: np.ndarray, orig_q: np.ndarray, policy_kld: np.ndarray) -> np.ndarray:
        """The keep probability of each record (≥ 1 means always kept)."""
        best_q, orig_q, kld = (np.asarray(a, np.float64) for a in (best_q, orig_q, policy_kld))
        total = (self.diff_focus_q_weight * np.abs(best_q - orig_q) + kld) / (
            self.diff_focus_q_weight + self.diff_focus_pol_scale)
        p = self.diff_focus_min + self.diff_focus_slope * total
        applies = ~np.isnan(orig_q) & (kld > 0)
        return np.where(applies, p, np.inf)


@dataclasses.dataclass(frozen=True)
class Sampling:
    """What one stream keeps: 1 in `sample` records, then diff focus when given."""

    sample: int = 1
    diff_focus: DiffFocus | None = None

    def __post_init__(self) -> None:
        if self.sample < 1:
            raise ValueError(f"sample must be >= 1, got {self.sample}")
        if self.diff_focus is not None:
            weights = self.diff_focus.diff_focus_q_weight + self.diff_focus.diff_focus_pol_scale
            if not math.isfinite(weights) or weights == 0:
                raise ValueError("diff_focus_q_weight + diff_focus_pol_scale must be finite and non-zero")

    @property
    def active(self) -> bool:
        return self.sample > 1 or (self.diff_focus is not None and self.diff_focus.active)

    def describe(self) -> str:
        """The settings as a data cursor records them: streams that differ here select differently."""
        focus = self.diff_focus if self.diff_focus is not None and self.diff_focus.active else None
        return f"sample={self.sample}" + ("" if focus is None else " diff_focus=" + ",".join(
            repr(value) for value in dataclasses.astuple(focus)))

    def for_stream(self, split: str) -> Sampling:
        """As the legacy trainer: train gets both, test the down-sampling only, validation neither."""
        if split not in ("train", "test", "validation"):
            raise ValueError(f"unknown split {split!r}")
        if split == "train":
            return self
        return Sampling(self.sample) if split == "test" else KEEP_ALL

    def keep(self, rows: np.ndarray, seed: int, epoch: int, file_index: int) -> np.ndarray:
        """Boolean mask over `rows` (raw V6/V7 records of one file) of the records kept."""
        rng = np.random.default_rng([seed, _SAMPLING_STREAM, epoch, file_index])
        n = len(rows)
        kept = rng.random(n) * self.sample < 1 if self.sample > 1 else np.ones(n, bool)
        if self.diff_focus is not None and self.diff_focus.active:
            p = self.diff_focus.acceptance(f32_field(rows, _BEST_Q_OFFSET)[:, 0], f32_field(rows, _ORIG_Q_OFFSET)[:, 0],
                                           f32_field(rows, _POLICY_KLD_OFFSET)[:, 0])
            kept &= (p >= 1) | ~(rng.random(n) > p)
        return kept

    def select(self, rows: np.ndarray, seed: int, epoch: int, file_index: int) -> np.ndarray:
        """The kept records of `rows` (all of them, uncopied, when sampling is off)."""
        if not self.active or not len(rows):
            return rows
        selected: np.ndarray = rows[self.keep(rows, seed, epoch, file_index)]
        return selected


KEEP_ALL = Sampling()
