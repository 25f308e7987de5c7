"""One JAX process of the sharded-training tests: trains a shrunk job (configs/tiny.textproto
with tests.helpers.SHRINK and the given overrides) for a few steps on fixed batches of the
self-play fixtures under each given mesh, and writes what it saw.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 \
        python -m tests.fsdp_probe OUT_DIR MESH [MESH ...] [--process ID COUNT COORDINATOR] -- OVERRIDE ...

MESH is `DATA,FSDP`. With `--process` it joins a `jax.distributed` job of COUNT processes
(gloo) first, and feeds only its own rows of each global batch. For each mesh the first
process writes OUT_DIR/DATA_FSDP.npz (every leaf of the final state, keyed by path); every
process prints one JSON line: {mesh: {losses, bytes, specs, shard_shapes, processes}}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jax
import numpy as np

STEPS = 4


def train(mesh: tuple[int, int], overrides: list[str]) -> tuple[dict, dict[str, np.ndarray]]:
    from tests.helpers import DATA, SHRINK, TINY_CONFIG
    from workers.config.resolve import resolve
    from workers.config.spec import load_spec
    from workers.data.files import read_chunk
    from workers.data.v6 import decode_records
    from workers.training.setup import build_training
    from workers.training.sharding import state_bytes, to_global_batch, to_host
    from workers.training.step import Batch

    def batch(game: int, size: int) -> Batch:
        """This process's rows of the first `size` positions of fixture game `game`."""
        rows = size // jax.process_count()
        records = read_chunk(DATA / "lc0-selfplay" / f"game_{game:06d}.gz")[:size][jax.process_index() * rows:][:rows]
        return to_global_batch(device_mesh, Batch.from_decoded(decode_records(records)))

    job = resolve(load_spec(TINY_CONFIG, [*SHRINK, *overrides, f"resources.mesh.data={mesh[0]}", f"resources.mesh.fsdp={mesh[1]}"]))
    device_mesh, _, steps, state = build_training(job)
    assert dict(device_mesh.shape) == {"data": mesh[0], "fsdp": mesh[1]}
    losses = []
    for step in range(STEPS):
        state, sums = steps.train(state, steps.zero_sums(), batch(step + 1, job.batch_size))
        state = steps.swa_update(state)
        losses.append(float(sums["total_loss"]))
    leaves = jax.tree_util.tree_flatten_with_path(state)[0]
    params = jax.tree_util.tree_flatten_with_path(state.params)[0]
    seen = {
        "losses": losses,
        "bytes": state_bytes(state),
        "specs": {jax.tree_util.keystr(path): [str(axis) for axis in x.sharding.spec] for path, x in params},
        "shard_shapes": {jax.tree_util.keystr(path): list(x.addressable_shards[0].data.shape) for path, x in params},
        # The process of each device of the mesh, in the mesh's order.
        "processes": [[d.process_index for d in row] for row in device_mesh.devices],
    }
    return seen, {jax.tree_util.keystr(path): x for path, x in zip((p for p, _ in leaves), to_host([x for _, x in leaves]))}


def main(argv: list[str]) -> None:
    split = argv.index("--")
    args, overrides = argv[:split], argv[split + 1:]
    if "--process" in args:
        at = args.index("--process")
        from workers.training.multihost import initialize

        initialize(args[at + 3], int(args[at + 2]), int(args[at + 1]))
        args = args[:at] + args[at + 4:]
    out, meshes = Path(args[0]), args[1:]
    results = {}
    for mesh in meshes:
        data, fsdp = (int(v) for v in mesh.split(","))
        results[mesh], arrays = train((data, fsdp), overrides)
        if jax.process_index() == 0:
            np.savez(out / f"{data}_{fsdp}.npz", **arrays)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
