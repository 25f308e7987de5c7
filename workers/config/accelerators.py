"""What a job's `resources.accelerator` means in hosts and devices: CPU, GPUs per host, or one TPU slice.

A TPU slice type names a generation and a size ("v4-32", "v5e-16", "v5litepod-16"); the
hosts (TPU VMs, one JAX process each) and the chips per host follow from it. The facts
below are Cloud TPU's:

- v2, v3, v4 and v5p chips hold two TensorCores and their type names count cores, so
  v4-32 is 16 chips; v5e (Cloud TPU calls it v5litepod) and v6e chips hold one and
  their names count chips.
- Every multi-host slice is made of 4-chip VMs (v4-32: 4 hosts × 4 chips; v5e-16:
  4 hosts × 4 chips). One VM holds a whole slice of 4 chips (v2/v3/v4/v5p), or of 1, 4
  or 8 chips (v5e, v6e).
- JAX shows one device per chip, except on v2 and v3, whose TensorCores are a device each.
"""

from __future__ import annotations

import dataclasses
import re

from lc0train import job_pb2
from workers.config.problems import ConfigError, Problems

Kind = job_pb2.Accelerator.Kind


@dataclasses.dataclass(frozen=True)
class TpuGeneration:
    """One TPU generation; `name` is the accelerator version Cloud TPU and Ray use."""

    name: str
    cores_per_chip: int  # what a slice type's size counts per chip
    devices_per_chip: int  # JAX devices per chip
    single_host_chips: tuple[int, ...]  # slice sizes (in chips) that one VM holds
    chips_per_host: int = 4  # chips per VM of a multi-host slice


GENERATIONS = {g.name: g for g in (
    TpuGeneration("v2", cores_per_chip=2, devices_per_chip=2, single_host_chips=(4,)),
    TpuGeneration("v3", cores_per_chip=2, devices_per_chip=2, single_host_chips=(4,)),
    TpuGeneration("v4", cores_per_chip=2, devices_per_chip=1, single_host_chips=(4,)),
    TpuGeneration("v5p", cores_per_chip=2, devices_per_chip=1, single_host_chips=(4,)),
    TpuGeneration("v5litepod", cores_per_chip=1, devices_per_chip=1, single_host_chips=(1, 4, 8)),
    TpuGeneration("v6e", cores_per_chip=1, devices_per_chip=1, single_host_chips=(1, 4, 8)),
)}
_ALIASES = {"v5e": "v5litepod"}
_TYPE = re.compile(r"(v\d+[a-z]*)-(\d+)")


@dataclasses.dataclass(frozen=True)
class TpuSlice:
    """One whole TPU slice of a type, e.g. v4-32: 4 hosts of 4 chips."""

    generation: TpuGeneration
    pod_type: str  # Cloud TPU's and Ray's spelling, e.g. "v5litepod-16" for "v5e-16"
    hosts: int
    chips_per_host: int

    @property
    def devices_per_host(self) -> int:
        return self.chips_per_host * self.generation.devices_per_chip

    @property
    def head_resource(self) -> str:
        """The Ray resource that worker 0 of every slice of this type carries."""
        return f"TPU-{self.pod_type}-head"


def tpu_slice(tpu_type: str) -> TpuSlice:
    """The slice a type names; ValueError saying why when the type is unknown or impossible."""
    match = _TYPE.fullmatch(tpu_type.strip().lower())
    known = ", ".join([*GENERATIONS, *_ALIASES])
    if match is None:
        raise ValueError(f"{tpu_type!r} is not a TPU slice type (<generation>-<size>, e.g. v4-32 or v5e-16; generations: {known})")
    name, size = _ALIASES.get(match[1], match[1]), int(match[2])
    generation = GENERATIONS.get(name)
    if generation is None:
        raise ValueError(f"unknown TPU generation {match[1]!r} (known: {known})")
    unit = "TensorCores" if generation.cores_per_chip > 1 else "chips"
    chips, rest = divmod(size, generation.cores_per_chip)
    if rest or chips == 0:
        raise ValueError(f"{tpu_type!r}: {name} sizes count {unit}, {generation.cores_per_chip} per chip")
    if chips in generation.single_host_chips:
        return TpuSlice(generation, f"{name}-{size}", hosts=1, chips_per_host=chips)
    if chips < max(generation.single_host_chips) or chips % generation.chips_per_host:
        raise ValueError(f"{tpu_type!r}: {chips} chips are neither a one-host {name} slice "
                         f"({', '.join(str(c) for c in generation.single_host_chips)} chips) nor whole hosts of "
                         f"{generation.chips_per_host} chips")
    return TpuSlice(generation, f"{name}-{size}", hosts=chips // generation.chips_per_host,
                    chips_per_host=generation.chips_per_host)


@dataclasses.dataclass(frozen=True)
class Placement:
    """What one job reserves: `hosts` hosts, each with `gpus_per_host` GPUs or one host of `tpu`."""

    hosts: int = 1
    gpus_per_host: int = 0
    tpu: TpuSlice | None = None

    def describe(self) -> str:
        if self.tpu is not None:
            return f"one {self.tpu.pod_type} slice ({self.hosts} host(s) × {self.tpu.chips_per_host} chips)"
        if self.gpus_per_host:
            return f"{self.hosts} host(s) × {self.gpus_per_host} GPU(s)"
        return f"{self.hosts} CPU host(s)"


def resolve_placement(r: job_pb2.ResourceConfig, problems: Problems) -> Placement:
    """The job's placement; every rule it breaks goes to `problems` (the placement is then a best guess)."""
    accelerator = r.accelerator
    kind = accelerator.kind
    if kind != Kind.TPU and accelerator.tpu_type:
        problems.add("resources.accelerator.tpu_type", "only applies to kind: TPU")
    if kind == Kind.GPU:
        if r.devices_per_host < 1:
            problems.add("resources.devices_per_host", "a GPU job reserves this many GPUs per host: set it (at least 1)")
        return Placement(hosts=r.hosts or 1, gpus_per_host=max(r.devices_per_host, 1))
    if kind != Kind.TPU:
        return Placement(hosts=r.hosts or 1)
    if not accelerator.tpu_type:
        problems.add("resources.accelerator.tpu_type", "required for kind: TPU (a slice type such as v4-32 or v5e-16)")
        return Placement(hosts=r.hosts or 1)
    try:
        tpu = tpu_slice(accelerator.tpu_type)
    except ValueError as err:
        problems.add("resources.accelerator.tpu_type", str(err))
        return Placement(hosts=r.hosts or 1)
    if r.hosts and r.hosts != tpu.hosts:
        problems.add("resources.hosts", f"is {r.hosts} but a {accelerator.tpu_type} slice has {tpu.hosts} host(s): "
                                        "leave it unset for TPU jobs")
    if r.devices_per_host and r.devices_per_host != tpu.devices_per_host:
        problems.add("resources.devices_per_host", f"is {r.devices_per_host} but each host of a {accelerator.tpu_type} "
                                                   f"slice has {tpu.devices_per_host} devices: leave it unset for TPU jobs")
    return Placement(hosts=tpu.hosts, tpu=tpu)


def placement_of(r: job_pb2.ResourceConfig) -> Placement:
    """The placement of an already validated job's resources (ConfigError if they break a rule)."""
    problems = Problems()
    placement = resolve_placement(r, problems)
    if problems:
        raise ConfigError(problems)
    return placement
