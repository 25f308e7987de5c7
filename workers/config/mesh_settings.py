"""Resolution of `resources.mesh`: the sizes of the device mesh's `data` and `fsdp` axes.

At submit time the rules that need no devices are checked: each axis -1 or >= 0, at most one
-1; the fixed axes' product divides the micro-batch (the batch is split over every device);
with both axes fixed, the hosts divide it; and the product matches when the devices per
host are known (`resources.devices_per_host`, or a TPU slice's chips per host). Once the JAX runtime is up,
`MeshSettings.check` turns -1 into "the devices left over" and checks the product against
the devices the job really has (`workers.config.resolve.check_devices`).
"""

from __future__ import annotations

import dataclasses

from lc0train import job_pb2
from workers.config.problems import Problems

FIELD = "resources.mesh"
REST = -1


@dataclasses.dataclass(frozen=True)
class MeshSettings:
    """Axis sizes with unset made explicit: `fsdp` 0 → 1; `data` 0 → the rest (-1), or 1 when
    `fsdp` is the rest. Both unset is pure data parallelism (data = every device, fsdp = 1)."""

    data: int = REST
    fsdp: int = 1

    @property
    def fixed_devices(self) -> int:
        """The product of the axes given a size: the fewest devices this mesh runs on."""
        return max(self.data, 1) * max(self.fsdp, 1)

    def check(self, device_count: int, problems: Problems) -> tuple[int, int] | None:
        """(data, fsdp) over `device_count` devices, or None with the reason added to `problems`."""
        fixed = self.fixed_devices
        shown = f"{{data: {self.data} fsdp: {self.fsdp}}}"
        if REST not in (self.data, self.fsdp):
            if fixed != device_count:
                problems.add(FIELD, f"{shown} spans {fixed} devices but the job has {device_count} (hosts x devices per host); "
                             "use -1 for the axis that takes the rest")
                return None
            return self.data, self.fsdp
        if device_count % fixed:
            problems.add(FIELD, f"{shown}: the job's {device_count} devices (hosts x devices per host) are not divisible by {fixed}")
            return None
        rest = device_count // fixed
        return (rest, self.fsdp) if self.data == REST else (self.data, rest)


def resolve_mesh(mesh: job_pb2.MeshShape, hosts: int, devices_per_host: int, micro_batch: int, problems: Problems) -> MeshSettings:
    """`resources.mesh` with its defaults, checked against the micro-batch and the hosts (x the
    devices per host when known; 0 for either of those: unknown)."""
    data, fsdp = mesh.data, mesh.fsdp
    found = len(problems)
    for name, value in (("data", data), ("fsdp", fsdp)):
        if value < REST:
            problems.add(f"{FIELD}.{name}", f"must be >= 0, or -1 for the devices left over (got {value})")
    if data == REST and fsdp == REST:
        problems.add(FIELD, "-1 (the devices left over) may be given to one axis only, not to both data and fsdp")
    if len(problems) > found:
        return MeshSettings()
    settings = MeshSettings(data=data or (1 if fsdp == REST else REST), fsdp=fsdp or 1)
    fixed, hosts = settings.fixed_devices, max(hosts, 1)
    if micro_batch > 0 and micro_batch % fixed:
        problems.add(FIELD, f"spans at least {fixed} devices, which do not divide the micro-batch of {micro_batch} "
                     "(training.batch_size / num_batch_splits; the batch is split over every device)")
    elif REST not in (settings.data, settings.fsdp) and fixed % hosts:
        problems.add(FIELD, f"spans {fixed} devices, which cannot be split evenly over resources.hosts {hosts}")
    elif devices_per_host > 0:
        settings.check(hosts * devices_per_host, problems)
    return settings
