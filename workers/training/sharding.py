"""The one sharding table: the device mesh and the sharding of every array a job holds.

Mesh: two named axes, `data` × `fsdp` (sizes from `resources.mesh`), over every device of
every process. The batch's leading axis is split over both, so each device gets
batch / (data·fsdp) rows. Devices are laid out so that each process's devices hold one
contiguous block of the batch (each process feeds its own rows, see `to_global_batch`),
`fsdp` first within a process (its all-gathers and reduce-scatters stay on the fast
intra-host links) and across processes only when it is larger than a process.

Train state: every leaf — parameters, optimizer state of any nesting (moments, Lookahead's
slow weights, counters), SWA weights and count, batch statistics, the FP16 loss scale —
gets its `PartitionSpec` from its shape alone (`leaf_spec`): the largest dimension
divisible by the `fsdp` size is split over `fsdp`, everything else is replicated. Leaves
under `MIN_SHARDED_SIZE` elements stay replicated: splitting a bias saves nothing and
costs a collective. Because the rule reads only shapes, an optimizer moment is sharded
exactly like its parameter and the update needs no communication; XLA all-gathers each
weight for the forward and backward passes and reduce-scatters its gradient.
With `fsdp` 1 every leaf is replicated: pure data parallelism.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils, multihost_utils
from jax.sharding import AbstractMesh, Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
FSDP_AXIS = "fsdp"
AXES = (DATA_AXIS, FSDP_AXIS)
# Leaves with fewer elements (16 KiB in float32) are replicated whatever the fsdp size.
MIN_SHARDED_SIZE = 4096


def mesh_devices(devices_per_host: int = 0) -> list[jax.Device]:
    """The first `devices_per_host` local devices of every process (0 = all), by process."""
    per_process: dict[int, list[jax.Device]] = {}
    for device in jax.devices():
        per_process.setdefault(device.process_index, []).append(device)
    if devices_per_host:
        short = [p for p, ds in per_process.items() if len(ds) < devices_per_host]
        if short:
            raise ValueError(f"resources.devices_per_host: {devices_per_host} requested but process {short[0]} has {len(per_process[short[0]])}")
    return [d for p in sorted(per_process) for d in per_process[p][:devices_per_host or None]]


def make_mesh(shape: tuple[int, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
    """The (`data`, `fsdp`) mesh of `shape` over `devices` (default: every device of every process)."""
    return Mesh(device_grid(shape, mesh_devices() if devices is None else devices), AXES)


def device_grid(shape: tuple[int, int], devices: Sequence[jax.Device]) -> np.ndarray:
    """`devices` as a (data, fsdp) array whose row-major order keeps each process's devices together.

    One process: `create_device_mesh` (topology-aware on TPU and GPU). Several: a hybrid
    mesh with one granule per process, `fsdp` taking as much of a process as divides it
    and `data` the rest of the process; the processes tile the remaining factors."""
    data, fsdp = shape
    processes = sorted({d.process_index for d in devices})
    if len(processes) == 1:
        return mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
    local = len(devices) // len(processes)
    fsdp_local = math.gcd(fsdp, local)
    data_local = local // fsdp_local
    grid = mesh_utils.create_hybrid_device_mesh((data_local, fsdp_local), (data // data_local, fsdp // fsdp_local), devices,
                                                process_is_granule=True, allow_split_physical_axes=True)
    if _process_contiguous(grid):
        return grid
    # A process's rows would interleave with another's (e.g. fsdp tiled over processes while
    # data also splits each process): process-major order, always contiguous.
    return np.asarray(sorted(devices, key=lambda d: (d.process_index, d.id))).reshape(shape)


def _process_contiguous(grid: np.ndarray) -> bool:
    order = [d.process_index for d in grid.ravel()]
    runs = [p for i, p in enumerate(order) if i == 0 or p != order[i - 1]]
    return len(runs) == len(set(runs))


def leaf_spec(shape: Sequence[int], fsdp: int) -> PartitionSpec:
    """The table's rule for one array: split its largest dimension divisible by `fsdp` (the
    first of equal ones) over `fsdp`; replicate it when none divides or it is small."""
    if fsdp <= 1 or math.prod(shape) < MIN_SHARDED_SIZE:
        return PartitionSpec()
    candidates = [(size, -axis) for axis, size in enumerate(shape) if size % fsdp == 0]
    if not candidates:
        return PartitionSpec()
    axis = -max(candidates)[1]
    return PartitionSpec(*(FSDP_AXIS if i == axis else None for i in range(len(shape))))


def state_shardings(tree: Any, mesh: Mesh | AbstractMesh) -> Any:
    """The sharding of every leaf of a train state (or any pytree of arrays, abstract or concrete)."""
    fsdp = mesh.shape[FSDP_AXIS]
    return jax.tree_util.tree_map(lambda x: NamedSharding(mesh, leaf_spec(np.shape(x), fsdp)), tree)


def metrics_sharding(mesh: Mesh) -> NamedSharding:
    """Scalar metrics and sums: on every device (a prefix for a whole metrics dict)."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """A batch's leading (position) axis split over `data` × `fsdp`."""
    return NamedSharding(mesh, PartitionSpec(AXES))


def to_global_batch(mesh: Mesh, local_arrays: Any) -> Any:
    """Assembles each process's local batch rows into arrays split over `data` × `fsdp`."""
    sharding = batch_sharding(mesh)
    return jax.tree_util.tree_map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_arrays)


def per_device_bytes(tree: Any, shardings: Any = None) -> int:
    """Bytes one device holds of `tree` (arrays or shape/dtype structs) under `shardings`
    (default: each array's own sharding)."""
    leaves = jax.tree_util.tree_leaves(tree)
    used = [x.sharding for x in leaves] if shardings is None else jax.tree_util.tree_leaves(shardings)
    return sum(math.prod(sharding.shard_shape(np.shape(x))) * np.dtype(x.dtype).itemsize for x, sharding in zip(leaves, used, strict=True))


# The parts of a train state whose per-device bytes are reported, by TrainState field.
STATE_PARTS = {"params": ("params",), "opt_state": ("opt_state",), "batch_stats": ("batch_stats",), "swa": ("swa_params", "swa_batch_stats")}


def state_bytes(state: Any, shardings: Any = None) -> dict[str, int]:
    """Per-device bytes of each part of a train state (`STATE_PARTS`) and of all of it (`total`)."""
    def part(fields: tuple[str, ...]) -> int:
        return per_device_bytes([getattr(state, f) for f in fields], None if shardings is None else [getattr(shardings, f) for f in fields])

    return {name: part(fields) for name, fields in STATE_PARTS.items()} | {"total": per_device_bytes(state, shardings)}


def to_host(tree: Any) -> Any:
    """Whole NumPy copies of every (possibly sharded) array of `tree`, on every process.

    With several processes this is a collective: every process must call it."""
    def gather(x: Any) -> np.ndarray:
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(x)

    return jax.tree_util.tree_map(gather, tree)


def describe(mesh: Mesh | AbstractMesh, sizes: dict[str, int]) -> str:
    """One line: the mesh's axis sizes and the per-device MiB of each part of the state."""
    axes = " x ".join(f"{name} {size}" for name, size in mesh.shape.items())
    return f"mesh {axes}; per device: " + ", ".join(f"{name} {size / 2**20:.2f} MiB" for name, size in sizes.items())
