"""Orbax checkpoints of the train state plus the data cursors.

On-disk format (one directory per step under `<job>/checkpoints/`):
  <step>/state/   the whole TrainState pytree (step, params, optimizer state, batch
                  statistics, SWA weights and count, loss scale), StandardSave
  <step>/data/    JSON: {"processes": [{"train": <DataCursor>, "test": <DataCursor>}, ...]},
                  one entry per JAX process (each reads its own deal of the files); a
                  resumed job of another process count merges them into one global data
                  position (workers/data/dealing.py). A continuous job's entries also hold
                  "cycle" (the same on every process: network number, chunk anchor, wait,
                  see workers/training/continuous.py)
Saves are asynchronous with Orbax's atomic commit (a step directory appears under its
final name only once complete; unfinished temporary ones are removed at start). `committed()`
and `wait()` name the saves that have committed since they were last asked, so a checkpoint
is reported only once it is on disk. With several processes Orbax writes each array once
and the primary process writes the metadata and the JSON. Restore builds the abstract
target from the *current* mesh's shardings, never from what the file recorded, so a
checkpoint restores onto any mesh shape, device count and process count (each process
reads the pieces of the arrays its devices hold).
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
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True),
        )
        self._uncommitted: list[int] = []

    def latest_step(self) -> int | None:
        """The newest step saved (committed when read at start; it may still be saving after `save`)."""
        return self._manager.latest_step()

    def save(self, state: TrainState, cursors: list[dict[str, Any]]) -> None:
        """Starts saving `state` and the data cursors of every process (`cursors[process_index]`).

        Orbax first waits for the previous save: call `wait()` before to learn its commit."""
        step = int(jax.device_get(state.step))
        data = ocp.args.JsonSave({"processes": cursors})
        self._manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), data=data))
        self._uncommitted.append(step)

    def committed(self) -> list[int]:
        """The steps committed since last asked, without waiting (empty while a save is in progress)."""
        if not self._uncommitted or self._manager.is_saving_in_progress():
            return []
        return self.wait()

    def wait(self) -> list[int]:
        """Waits for the saves in progress; the steps committed since last asked. Raises if a save failed."""
        self._manager.wait_until_finished()
        done, self._uncommitted = self._uncommitted, []
        return done

    def restore(self, target: TrainState, step: int | None = None) -> tuple[TrainState, list[dict[str, Any]]]:
        """Restores `step` (default: latest) onto the shardings of `target`, with every process's cursors."""
        step = self._manager.latest_step() if step is None else step
        abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), target)
        restored = self._manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
        log.info("restored checkpoint of step %d", step)
        return restored["state"], restored["data"]["processes"]

    def close(self) -> None:
        self._manager.close()
