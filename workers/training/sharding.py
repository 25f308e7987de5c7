"""The device mesh and the shardings of the train state and the batch.

One mesh axis, `data`, spans every device of every process: the batch is split along it
and the train state is replicated (pure data parallelism; XLA inserts the gradient
all-reduce). Later parameter sharding adds an `fsdp` axis here and nowhere else.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"


def make_mesh(devices_per_host: int = 0) -> Mesh:
    """A 1-D `data` mesh over the first `devices_per_host` local devices of every process (0 = all)."""
    devices = jax.devices()
    if devices_per_host:
        per_process: dict[int, list[jax.Device]] = {}
        for device in devices:
            per_process.setdefault(device.process_index, []).append(device)
        short = [p for p, ds in per_process.items() if len(ds) < devices_per_host]
        if short:
            raise ValueError(f"resources.devices_per_host: {devices_per_host} requested but process {short[0]} has {len(per_process[short[0]])}")
        devices = [d for p in sorted(per_process) for d in per_process[p][:devices_per_host]]
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def to_global_batch(mesh: Mesh, local_arrays: Any) -> Any:
    """Assembles each process's local batch rows into arrays sharded along `data`."""
    sharding = batch_sharded(mesh)
    return jax.tree_util.tree_map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_arrays)
