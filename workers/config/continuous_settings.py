"""The continuous schedule of a job (`JobSpec.continuous`), validated once."""

from __future__ import annotations

import dataclasses

from lc0train import job_pb2
from workers.config.problems import Problems, optional

_DEFAULT_POLL_INTERVAL_S = 1.0


@dataclasses.dataclass(frozen=True)
class ContinuousSettings:
    """See `ContinuousConfig` in proto/lc0train/job.proto; 0 caps mean none."""

    chunks_per_network: int
    steps_per_network: int
    max_networks: int
    max_steps: int
    poll_interval_s: float
    num_chunks: int
    allow_less_chunks: bool
    sort_type: int

    def next_wait(self, wait: int, used: int) -> int:
        """Upstream's feedback rule: chunks to wait for before the next network, after one
        that started with `used` new chunks while waiting for `wait`."""
        return max(wait + self.chunks_per_network - used, self.chunks_per_network // 2)


def resolve_continuous(spec: job_pb2.JobSpec, problems: Problems) -> ContinuousSettings | None:
    """The continuous schedule, or None for a fixed run; problems name each bad field."""
    if not spec.HasField("continuous"):
        return None
    c, d = spec.continuous, spec.dataset
    problems.positive("continuous.chunks_per_network", c.chunks_per_network)
    problems.positive("continuous.steps_per_network", c.steps_per_network)
    problems.non_negative("continuous.max_networks", c.max_networks)
    problems.non_negative("continuous.max_steps", c.max_steps)
    poll = float(optional(c, "poll_interval_s", _DEFAULT_POLL_INTERVAL_S))
    problems.positive("continuous.poll_interval_s", poll)
    problems.positive("dataset.num_chunks", d.num_chunks, "required by a continuous job (the window size)")
    if d.input:
        problems.add("dataset.input", "a continuous job reads its window from dataset.input_train")
    return ContinuousSettings(c.chunks_per_network, c.steps_per_network, c.max_networks, c.max_steps, poll,
                              d.num_chunks, d.allow_less_chunks, d.sort_type)
