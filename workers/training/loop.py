"""The training loop: data, state, cadence, checkpoints and reports of one job.

Cadence follows the legacy trainer: a test before training whenever the step is a
multiple of `total_steps`; a train report every `train_avg_report_steps`; a test every
`test_steps`; validation every `validation_steps`; a checkpoint every `checkpoint_steps`;
and all of them at the end, which is the next multiple of `total_steps`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from pathlib import Path
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np
from google.protobuf import text_format

from workers.training.checkpoint import Checkpointer
from workers.config.resolve import ResolvedJob, check_devices
from workers.data.pipeline import ChunkStream, DataCursor
from workers.data.splits import resolve_data_files, shard
from workers.events import Event, EventBus
from workers.layout import JobPaths
from workers.lc0net.jobs import initial_params, job_exporter
from workers.model.gating import project_gates
from workers.training.multihost import agree_stop, gather_json, preemption_reached, while_all
from workers.training.optim import make_optimizer, make_schedule
from workers.seeds import derive_seed
from workers.training.sharding import make_mesh, replicated, to_global_batch
from workers.training.state import Params, TrainState, init_params, init_state, param_path, parameter_count
from workers.training.step import TOTALS, Batch, Metrics, make_step_functions

log = logging.getLogger(__name__)

TESTS_PER_CHUNK_FILE = 10  # legacy default of num_test_positions per test chunk


@dataclasses.dataclass
class StopRequest:
    """Set from another thread (cancel, preemption) to end the run after the current step."""

    event: threading.Event = dataclasses.field(default_factory=threading.Event)
    checkpoint: bool = True
    reason: str = "CANCELLED"

    def request(self, reason: str = "CANCELLED", checkpoint: bool = True) -> None:
        self.reason, self.checkpoint = reason, checkpoint
        self.event.set()


def run_training(job: ResolvedJob, paths: JobPaths, bus: EventBus, stop: StopRequest | None = None) -> TrainState:
    """Trains `job` until the next multiple of total_steps (or a stop request), resuming from the latest checkpoint."""
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.spec.exists():
        paths.spec.write_text(text_format.MessageToString(job.spec))
    with contextlib.closing(_TrainLoop(job, paths, bus)) as loop:
        return loop.run(stop or StopRequest())


class _TrainLoop:
    def __init__(self, job: ResolvedJob, paths: JobPaths, bus: EventBus):
        self.job, self.bus = job, bus
        self.mesh = make_mesh(job.devices_per_host)
        check_devices(job, self.mesh.size, jax.process_count())
        all_files = resolve_data_files(job.spec.dataset, job.seed)
        files = shard(all_files, jax.process_index(), jax.process_count())
        self.files = files
        graphdef, params, batch_stats = init_params(job.model, job.seed, job.precision.compute_dtype)
        params, batch_stats = initial_params(job.spec, job.model, params, batch_stats)
        self.schedule = make_schedule(job.schedule)
        tx = make_optimizer(job.optimizer, self.schedule)
        self.steps = make_step_functions(graphdef, tx, job, self.mesh)
        init = functools.partial(init_state, tx=tx, swa=job.swa is not None, precision=job.precision)
        state = jax.jit(init, out_shardings=replicated(self.mesh))(params, batch_stats=batch_stats)
        self.copy_params = jax.jit(lambda p: jax.tree_util.tree_map(jnp.copy, p), out_shardings=replicated(self.mesh))
        self.checkpointer = Checkpointer(paths.checkpoints, job.max_to_keep)
        self.exporter = job_exporter(job.spec, job.model, paths)
        if self.exporter is not None:
            bus.subscribe(self.exporter.observe)
        cursors: dict[str, dict] = {}
        if self.checkpointer.latest_step() is not None:
            state, all_cursors = self.checkpointer.restore(state)
            cursors = _own_cursors(all_cursors)
            # Checkpoints from before the gate projection clamped negative gates in the forward pass.
            state = state.replace(params=project_gates(state.params),
                                  swa_params=None if state.swa_params is None else project_gates(state.swa_params))
        self.state = state
        self.train_stream = self._stream(files.train, "train", cursors.get("train"))
        self.eval_batch = job.batch_size // job.num_batch_splits  # legacy: tests run on split-size batches
        self.test_stream = self._stream(files.test, "test", cursors.get("test"), batch_size=self.eval_batch)
        num_test_positions = job.num_test_positions or TESTS_PER_CHUNK_FILE * len(all_files.test)
        # With SWA each test evaluates the raw weights, then the SWA weights on the next batches.
        self.test_batches = max(1, num_test_positions // self.eval_batch // (2 if job.swa else 1))
        for warning in job.warnings:
            log.warning("%s", warning)
        bus.publish(Event("state", self.step, info={
            "state": "RUNNING", "parameters": parameter_count(params), "devices": self.mesh.size,
            "train_files": len(files.train), "test_files": len(files.test), "validation_files": len(files.validation),
            "warnings": list(job.warnings),
        }))

    @property
    def step(self) -> int:
        return int(jax.device_get(self.state.step))

    def _stream(self, files: list[Path], purpose: str, cursor: dict | None, *, batch_size: int | None = None,
                repeat: bool = True, shuffle: bool = True) -> ChunkStream:
        return ChunkStream(
            files,
            batch_size=(batch_size or self.job.batch_size) // jax.process_count(),
            shuffle_size=self.job.shuffle_size,
            seed=derive_seed(self.job.seed, purpose),
            input_format=self.job.model.input_type,
            repeat=repeat,
            shuffle=shuffle,
            cursor=DataCursor.from_json(cursor) if cursor else None,
            prefetch=self.job.prefetch_batches,
        )

    def _device_batches(self, stream: Iterator) -> Iterator[Batch]:
        for decoded in stream:
            yield to_global_batch(self.mesh, Batch.from_decoded(decoded, self.job.losses.q_from_root, self.job.losses.needs_v7))

    def run(self, stop: StopRequest) -> TrainState:
        job = self.job
        start = self.step
        end = (start // job.total_steps + 1) * job.total_steps
        batches = self._device_batches(self.train_stream)
        sums = self.steps.zero_sums()
        window_start, window_steps = time.perf_counter(), 0
        for s in range(start, end):
            if s % job.total_steps == 0:
                self._test(s)
            t = s + 1
            report_due = t % job.train_avg_report_steps == 0 or t == end
            before = self.copy_params(self.state.params) if report_due else None
            self.state, sums = self.steps.train(self.state, sums, next(batches))
            window_steps += 1
            if job.swa and t % job.swa.steps == 0:
                self.state = self.steps.swa_update(self.state)
            if report_due:
                elapsed = time.perf_counter() - window_start
                self._report_train(t, sums, window_steps * job.batch_size / elapsed, before)
                sums = self.steps.zero_sums()
                window_start, window_steps = time.perf_counter(), 0
            if t % job.test_steps == 0 or t == end:
                self._test(t)
            if self.files.validation and (t % job.validation_steps == 0 or t == end):
                self._validate(t)
            stopping, reason, stop_checkpoint = self._stop_agreed(t, report_due, stop)
            checkpoint_due = t == end or bool(job.checkpoint_steps and t % job.checkpoint_steps == 0)
            if checkpoint_due or (stopping and stop_checkpoint):
                self._checkpoint(t)
            if stopping and t < end:
                self.checkpointer.wait()
                self.bus.publish(Event("state", t, info={"state": reason}))
                return self.state
        self.checkpointer.wait()
        self.bus.publish(Event("state", end, info={"state": "SUCCEEDED"}))
        return self.state

    def _stop_agreed(self, step: int, report_due: bool, stop: StopRequest) -> tuple[bool, str, bool]:
        """(stop, reason, checkpoint) after `step`, the same on every process.

        With several processes agreeing is a collective that waits for the step to finish, so
        a stop request (a cancel) is honoured at the next train report; a preemption notice,
        agreed on by JAX's own service at every step, at once.
        """
        preempted = preemption_reached(step)
        if preempted:
            stop.request("PREEMPTED", checkpoint=True)
        if not (preempted or report_due or jax.process_count() == 1):
            return False, "", False
        return agree_stop(stop.event.is_set(), stop.reason, stop.checkpoint)

    def _report_train(self, step: int, sums: Metrics, positions_per_s: float, before: Params) -> None:
        host = {name: float(value) for name, value in jax.device_get(sums).items()}
        count = max(host.pop("count"), 1.0)
        finite_steps = max(count - host["nonfinite_steps"], 1.0)
        metrics = {name: value if name in TOTALS else value / (finite_steps if name == "grad_norm" else count) for name, value in host.items()}
        _check_finite(metrics, step, "train")
        metrics["learning_rate"] = float(self.schedule(step - 1))
        metrics["positions_per_s"] = positions_per_s
        if self.state.loss_scale is not None:
            metrics["loss_scale"] = float(jax.device_get(self.state.loss_scale.scale))
        if self.state.swa_count is not None:
            metrics["swa_count"] = float(jax.device_get(self.state.swa_count))
        ratios = jax.device_get(update_ratios(before, self.state.params))
        metrics |= {f"update_ratio/{name}": float(value) for name, value in ratios.items()}
        self.bus.publish(Event("train", step, metrics))

    def _evaluate(self, weights: tuple[Params, Params], batches: Iterator[Batch], limit: int | None) -> tuple[dict[str, float], int]:
        """Mean of per-batch means of the metrics of `weights` = (params, batch_stats)."""
        totals: dict[str, float] = {}
        count = 0
        for batch in batches:
            for name, value in jax.device_get(self.steps.evaluate(*weights, batch)).items():
                totals[name] = totals.get(name, 0.0) + float(value)
            count += 1
            if limit is not None and count >= limit:
                break
        return {name: total / max(count, 1) for name, total in totals.items()}, count

    def _weights(self, swa: bool) -> tuple[Params, Params]:
        state = self.state
        return (state.swa_params, state.swa_batch_stats) if swa else (state.params, state.batch_stats)

    def _test(self, step: int) -> None:
        batches = self._device_batches(self.test_stream)
        metrics, count = self._evaluate(self._weights(swa=False), batches, self.test_batches)
        _check_finite(metrics, step, "test")
        self.bus.publish(Event("test", step, metrics, info={"batches": count, "weights": "raw"}))
        if self.state.swa_params is not None:
            metrics, count = self._evaluate(self._weights(swa=True), batches, self.test_batches)
            self.bus.publish(Event("test", step, metrics, info={"batches": count, "weights": "swa"}))

    def _validate(self, step: int) -> None:
        """One sequential pass over the validation set, on the SWA weights when SWA is on."""
        swa = self.state.swa_params is not None
        stream = self._stream(self.files.validation, "validation", None, batch_size=self.eval_batch, repeat=False, shuffle=False)
        with contextlib.closing(stream):
            metrics, count = self._evaluate(self._weights(swa), self._device_batches(while_all(stream)), None)
        self.bus.publish(Event("validation", step, metrics, info={"batches": count, "weights": "swa" if swa else "raw"}))

    def _checkpoint(self, step: int) -> None:
        started = time.perf_counter()
        self.checkpointer.save(self.state, gather_json({"train": self.train_stream.cursor.to_json(), "test": self.test_stream.cursor.to_json()}))
        if self.exporter is not None:
            swa = self._weights(swa=True) if self.state.swa_params is not None else None
            self.exporter.export(step, self._weights(swa=False), swa)
        stats = self.train_stream.stats
        self.bus.publish(Event("checkpoint", step, {
            "checkpoint_save_seconds": time.perf_counter() - started,
            "skipped_files": float(len(stats.skipped_files)),
        }))

    def close(self) -> None:
        for stream in (getattr(self, "train_stream", None), getattr(self, "test_stream", None)):
            if stream is not None:
                stream.close()
        if hasattr(self, "checkpointer"):
            self.checkpointer.close()


@jax.jit
def update_ratios(before: Params, after: Params) -> dict[str, jax.Array]:
    """Per-parameter ‖Δw‖/‖w‖ of one update (−1 where ‖w‖ = 0), keyed by parameter path."""
    flat_before = jax.tree_util.tree_flatten_with_path(before)[0]
    flat_after = jax.tree_util.tree_leaves(after)
    ratios = {}
    for (path, old), new in zip(flat_before, flat_after):
        norm = jnp.linalg.norm(old.ravel())
        ratios[param_path(path)] = jnp.where(norm > 0, jnp.linalg.norm((new - old).ravel()) / norm, -1.0)
    return ratios


def _own_cursors(saved: list[dict]) -> dict[str, dict]:
    """This process's data cursors from a checkpoint's per-process list (none if the host count changed)."""
    if len(saved) != jax.process_count():
        log.warning("checkpoint has data cursors of %d processes, %d are running: the data streams start a new pass",
                    len(saved), jax.process_count())
        return {}
    return saved[jax.process_index()]


def _check_finite(metrics: dict[str, float], step: int, kind: str) -> None:
    bad = sorted(name for name, value in metrics.items() if not np.isfinite(value))
    if bad:
        raise FloatingPointError(f"non-finite {kind} metrics {bad} in the steps up to {step}")
