"""Orbax checkpoints of the train state plus the data cursors.

On-disk format (one directory per step under `<job>/checkpoints/`):
  <step>/state/   the whole TrainState pytree (step, params, optimizer state, batch
                  statistics, SWA weights and count, loss scale), StandardSave
  <step>/data/    JSON: {"processes": [{"train": <DataCursor>, "test": <DataCursor>}, ...]},
                  one entry per JAX process (each reads its own shard of the files)
Saves are asynchronous with Orbax's atomic commit; with several processes Orbax writes
each array once and the primary process writes the metadata and the JSON. Restore builds
the abstract target from the *current* mesh's shardings, never from what the file recorded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from workers.training.state import TrainState

log = logging.getLogger(__name__)


class Checkpointer:
    """Saves every requested step, keeps the newest `max_to_keep`, restores the latest."""

    def __init__(self, directory: Path, max_to_keep: int):
        self._manager = ocp.CheckpointManager(
            directory.absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, state: TrainState, cursors: list[dict[str, Any]]) -> None:
        """Saves `state` and the data cursors of every process (`cursors[process_index]`)."""
        step = int(jax.device_get(state.step))
        data = ocp.args.JsonSave({"processes": cursors})
        self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), data=data))

    def restore(self, target: TrainState, step: int | None = None) -> tuple[TrainState, list[dict[str, Any]]]:
        """Restores `step` (default: latest) onto the shardings of `target`, with every process's cursors."""
        step = self._manager.latest_step() if step is None else step
        abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), target)
        restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
        log.info("restored checkpoint of step %d", step)
        return restored["state"], restored["data"]["processes"]

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()
