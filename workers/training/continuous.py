"""The continuous schedule: lc0's self-play loop, wait → train → checkpoint → publish → repeat.

A cycle waits until `chunks_per_network` chunks newer than the anchor have arrived (polling
every `poll_interval_s`), moves the anchor to the newest chunk, trains `steps_per_network`
steps on the window (the `num_chunks` newest chunks not newer than the anchor), ends with a
checkpoint (which exports the network) and publishes it. The next wait follows upstream's
feedback rule (`ContinuousSettings.next_wait`), so networks keep pace with the arrival rate.

The `Cycle` (networks finished, anchor, wait, and whether a network is being trained since
which step) is saved in every checkpoint with the data cursors. A restart therefore resumes
mid-network on the same window and data position, or goes on waiting with the chunks that
arrived since the anchor counted once; network numbers are neither repeated nor skipped.
With several processes, process 0's view decides when a cycle starts and what its anchor is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax

from workers.config.continuous_settings import ContinuousSettings
from workers.data.window import Anchor, ChunkIndex
from workers.training.multihost import agree_stop, gather_json
from workers.training.publish import Publisher
from workers.training.state import TrainState

if TYPE_CHECKING:
    from workers.training.loop import StopRequest, _TrainLoop

log = logging.getLogger(__name__)

# A waiting job repeats its status at least this often: the service counts any report as a sign
# of life, and a job waiting hours for games must not be taken for a hung trainer.
_WAITING_REPORT_S = 60.0


@dataclasses.dataclass(frozen=True)
class Cycle:
    """Where a continuous job stands; network `network + 1` is the next (or current) one."""

    network: int  # networks finished and published
    anchor: Anchor  # the chunk index's anchor: newest chunk when arrivals were last counted
    wait: int  # new chunks to wait for before network + 1
    training: bool  # network + 1 is being trained on the window of `anchor`
    start_step: int  # the step network + 1 started from (when training)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "anchor": self.anchor.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cycle:
        return cls(int(data["network"]), Anchor.from_json(data["anchor"]), int(data["wait"]),
                   bool(data["training"]), int(data["start_step"]))


def resume_cycle(checkpointed: Cycle | None, started: Cycle | None, step: int, wait: int) -> Cycle:
    """The cycle to go on with at `step`: the checkpoint's, unless a network was started from
    that very state (`started`, recorded before its first step) and no checkpoint of it was
    saved, in which case that network resumes on its own anchor and window."""
    base = checkpointed or Cycle(0, Anchor(), wait, False, step)
    if (started is not None and started.training and not base.training
            and started.network == base.network and started.start_step == step):
        return started
    return base


def run_continuous(loop: _TrainLoop, settings: ContinuousSettings, stop: StopRequest) -> TrainState:
    """Run `loop`'s job as a continuous schedule until cancelled or a cap is reached."""
    restored = Cycle.from_json(loop.restored_cycle) if loop.restored_cycle else None
    cycle = resume_cycle(restored, _read_started(loop.paths.cycle), loop.step, settings.chunks_per_network)
    index = ChunkIndex(settings.input_train, settings.sort_type, anchor=cycle.anchor)
    index.poll()
    index.recount()
    publisher = Publisher(settings.job_name, settings.destinations, settings.upload, loop.job.model.config, loop.bus)
    try:
        _publish_if_missing(loop, cycle, publisher)
        cursor = loop.restored_train_cursors if cycle.training else None
        while True:
            if _capped(settings, cycle, loop.step):
                return loop.finish("SUCCEEDED")
            if not cycle.training:
                with loop._phase("waiting_for_data"):  # waiting for self-play games is not training time
                    reason = _wait_for_data(loop, settings, index, cycle, stop)
                if reason is not None:
                    return loop.finish(reason)
                anchor, used = _move_anchor(index)
                cycle = Cycle(cycle.network, anchor, settings.next_wait(cycle.wait, used), True, loop.step)
                _record_start(loop.paths.cycle, cycle)
                cursor = None
            reason = _train_network(loop, settings, index, cycle, cursor, stop)
            if reason is not None:
                return loop.finish(reason)
            cycle = dataclasses.replace(cycle, network=cycle.network + 1, training=False)
            _publish(loop, cycle.network, publisher)
    finally:
        publisher.close()


def _train_network(loop: _TrainLoop, settings: ContinuousSettings, index: ChunkIndex, cycle: Cycle,
                   cursor: list[dict] | None, stop: StopRequest) -> str | None:
    """Train network `cycle.network + 1` to its last step and checkpoint; the stop reason if stopped."""
    network = cycle.network + 1
    window = index.window(settings.num_chunks, cycle.anchor)
    loop.use_train_files(sorted(window, key=str), f"train-network-{network}", cursor)
    end = cycle.start_step + settings.steps_per_network
    if settings.max_steps:
        end = min(end, settings.max_steps)
    loop._publish("cycle", loop.step, phase="training", network=network, end_step=end, window_chunks=len(window),
                  window_newest=str(window[0]), window_oldest=str(window[-1]))
    finished = dataclasses.replace(cycle, network=network, training=False)
    loop.cycle_at = lambda step: (finished if step == end else cycle).to_json()
    reason = loop.train_until(end, stop)
    loop.wait_for_checkpoints()
    return reason


def _wait_for_data(loop: _TrainLoop, settings: ContinuousSettings, index: ChunkIndex, cycle: Cycle,
                   stop: StopRequest) -> str | None:
    """Poll until the next network may start (None) or a stop is agreed (its reason)."""
    shown, shown_at = None, 0.0
    while True:
        enough = len(index) >= settings.num_chunks or (settings.allow_less_chunks and len(index) > 0)
        local = {"ready": enough and index.pending >= cycle.wait, "pending": index.pending, "chunks": len(index)}
        decision = gather_json(local)[0]  # process 0 decides for all
        if decision["ready"]:
            return None
        status = (decision["pending"], decision["chunks"])
        if status != shown or time.monotonic() - shown_at > _WAITING_REPORT_S:
            shown, shown_at = status, time.monotonic()
            loop._publish("cycle", loop.step, phase="waiting", network=cycle.network + 1, new_chunks=decision["pending"],
                          needed=cycle.wait, chunks=decision["chunks"], window_size=settings.num_chunks)
        stopping, reason, _ = agree_stop(stop.event.is_set(), stop.reason, stop.checkpoint)
        if stopping:
            return reason
        stop.event.wait(settings.poll_interval_s)
        index.poll()


def _move_anchor(index: ChunkIndex) -> tuple[Anchor, int]:
    """Reset the anchor to the newest chunk (process 0's), returning it and the chunks it used."""
    anchor, used = index.reset_anchor()
    agreed = gather_json({"anchor": anchor.to_json(), "used": used})[0]
    if jax.process_index() != 0:
        index.move_anchor(Anchor.from_json(agreed["anchor"]))
    return Anchor.from_json(agreed["anchor"]), int(agreed["used"])


def _publish(loop: _TrainLoop, network: int, publisher: Publisher) -> None:
    """Publish the nets that the checkpoint of the current step exported (process 0 exports and publishes)."""
    if jax.process_index() != 0:
        return
    step = loop.step
    swa = loop.paths.net(step, swa=True)
    publisher.publish(network, step, loop.paths.net(step), swa if swa.exists() else None)


def _publish_if_missing(loop: _TrainLoop, cycle: Cycle, publisher: Publisher) -> None:
    """After a restart between a network's checkpoint and its export, export and publish it now."""
    if cycle.training or not cycle.network or loop.paths.net(loop.step).exists():
        return
    log.info("network %d of step %d was not exported before the restart: publishing it now", cycle.network, loop.step)
    loop.export(loop.step)
    _publish(loop, cycle.network, publisher)


def _record_start(path: Path, cycle: Cycle) -> None:
    """Write the started cycle (process 0, atomically) so a restart before its first checkpoint
    resumes this network on the same anchor instead of starting it over on a new one."""
    if jax.process_index() != 0:
        return
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(cycle.to_json()))
    os.replace(partial, path)


def _read_started(path: Path) -> Cycle | None:
    try:
        return Cycle.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as err:
        log.warning("ignoring unreadable %s: %s", path, err)
        return None


def _capped(settings: ContinuousSettings, cycle: Cycle, step: int) -> bool:
    if settings.max_networks and cycle.network >= settings.max_networks:
        return True
    return bool(settings.max_steps) and step >= settings.max_steps
