"""The legacy position-sampling fields of `dataset` (sample, diff_focus_*) resolved to `Sampling`."""

from __future__ import annotations


from lc0train import data_pb2
from workers.config.problems import Problems, optional
from workers.data.sampling import DiffFocus, Sampling


def resolve_sampling(d: data_pb2.DataConfig, problems: Problems) -> Sampling:
    """The training stream's sampling (test streams use its `sample` only, validation none)."""
    sample = int(optional(d, "sample", 1))
    problems.positive("dataset.sample", sample)
    focus = DiffFocus(**{name: optional(d, name, getattr(DiffFocus, name)) for name in
                         ("diff_focus_min", "diff_focus_slope", "diff_focus_q_weight", "diff_focus_pol_scale")})
    if focus.diff_focus_q_weight + focus.diff_focus_pol_scale <= 0:
        problems.add("dataset.diff_focus_q_weight", "diff_focus_q_weight + diff_focus_pol_scale must be > 0 "
                     f"(got {focus.diff_focus_q_weight} + {focus.diff_focus_pol_scale})")
    if sample < 1 or problems:
        return Sampling()
    return Sampling(sample, focus if focus.active else None)
