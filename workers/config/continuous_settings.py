"""The continuous schedule of a job (`JobSpec.continuous`), validated once."""

from __future__ import annotations

import dataclasses

from lc0train import job_pb2, lc0net_pb2
from workers.config.problems import Problems, optional

_DEFAULT_POLL_INTERVAL_S = 1.0
TEMPLATE_SAMPLE = {"job": "job", "network": 1, "step": 100, "swa": ""}  # formats a destination for checks
# export.upload.password_env may name only these variables: the password is sent to the upload
# URL, which the job chooses, so an arbitrary name would send any of the worker's secrets.
DEFAULT_PASSWORD_ENV = "UPLOAD_PWD"
PASSWORD_ENV_PREFIX = "LC0_UPLOAD_"


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
    input_train: tuple[str, ...]  # the window's sources (dataset.input_train)
    job_name: str  # {job} of the destination templates
    destinations: tuple[str, ...]  # export.destination templates
    upload: lc0net_pb2.UploadConfig | None  # export.upload, when it has a url

    def next_wait(self, wait: int, used: int) -> int:
        """Upstream's feedback rule: chunks to wait for before the next network, after one
        that started with `used` new chunks while waiting for `wait`."""
        return max(wait + self.chunks_per_network - used, self.chunks_per_network // 2)


def resolve_continuous(spec: job_pb2.JobSpec, problems: Problems) -> ContinuousSettings | None:
    """The continuous schedule, or None for a fixed run; problems name each bad field."""
    if not spec.HasField("continuous"):
        for name in ("destination", "upload"):
            if spec.export.HasField(name) if name == "upload" else spec.export.destination:
                problems.add(f"export.{name}", "only applies to a continuous job (JobSpec.continuous)")
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
    for i, template in enumerate(spec.export.destination):
        try:
            sample = template.format(**TEMPLATE_SAMPLE)
        except Exception as err:  # any str.format failure: KeyError, AttributeError, ValueError, ...
            problems.add(f"export.destination[{i}]", f"{template!r} is not a template of {{job}}, {{network}}, "
                                                      f"{{step}}, {{swa}}: {err!r}")
            continue
        if ".." in sample.split("/"):
            problems.add(f"export.destination[{i}]", f"{template!r}: '..' is not allowed in a destination")
    if any("{job}" in template for template in spec.export.destination) and (
            "/" in spec.name or spec.name in (".", "..")):
        problems.add("name", f"{spec.name!r} names a folder of export.destination ({{job}}): no '/', '.' or '..'")
    upload = spec.export.upload
    if upload.password_env and not (upload.password_env == DEFAULT_PASSWORD_ENV
                                    or upload.password_env.startswith(PASSWORD_ENV_PREFIX)):
        problems.add("export.upload.password_env", f"{upload.password_env!r}: must be {DEFAULT_PASSWORD_ENV} or start with "
                                                    f"{PASSWORD_ENV_PREFIX} (the value is sent to the upload URL)")
    if upload.url:
        if upload.HasField("max_attempts"):
            problems.positive("export.upload.max_attempts", upload.max_attempts)
        if upload.HasField("retry_delay_s"):
            problems.non_negative("export.upload.retry_delay_s", upload.retry_delay_s)
    return ContinuousSettings(c.chunks_per_network, c.steps_per_network, c.max_networks, c.max_steps, poll,
                              d.num_chunks, d.allow_less_chunks, d.sort_type, tuple(d.input_train),
                              spec.name or "job", tuple(spec.export.destination), _copy(upload) if upload.url else None)


def _copy(upload: lc0net_pb2.UploadConfig) -> lc0net_pb2.UploadConfig:
    copy = lc0net_pb2.UploadConfig()
    copy.CopyFrom(upload)
    return copy
