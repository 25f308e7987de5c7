"""The training loop: data, state, cadence, checkpoints and reports of one job.

Cadence follows the legacy trainer: a test before training whenever the step is a
multiple of `total_steps`; a train report every `train_avg_report_steps`; a test every
`test_steps`; validation every `validation_steps`; a checkpoint every `checkpoint_steps`;
and all of them at the end, which is the next multiple of `total_steps`. A continuous job
(`workers.training.continuous`) runs the same cadence over one network's steps at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import jax
import numpy as np
from google.protobuf import text_format

from workers.training.checkpoint import Checkpointer
from workers.training.compile_cache import DEFAULT_MAX_BYTES, Startup, merge_reports, persistent_compile_cache
from workers.training.continuous import run_continuous
from workers.config.paths import raise_path_problems, resolved_input_paths
from workers.config.resolve import ResolvedJob
from workers.data.pipeline import ChunkStream
from workers.data.stream_state import DataCursor
from workers.data.splits import check_shares, resolve_data_files
from workers.events import Event, EventBus
from workers.layout import JobPaths
from workers.lc0net.jobs import JobExporter
from workers.model.gating import project_gates
from workers.training.multihost import agree_stop, gather_json, preemption_reached, while_all
from workers.training.phases import PhaseClock
from workers.seeds import derive_seed
from workers.training.setup import build_training
from workers.training.sharding import state_bytes, to_global_batch
from workers.training.state import Params, TrainState, parameter_count
from workers.training.step import TOTALS, Batch, Metrics

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


def run_training(job: ResolvedJob, paths: JobPaths, bus: EventBus, stop: StopRequest | None = None, *,
                 compile_cache: Path | None = None, began: float | None = None) -> TrainState:
    """Trains `job` until the next multiple of total_steps (or a stop request), resuming from the latest checkpoint.

    `compile_cache`: the persistent compilation cache directory (None: off). `began`: when
    this attempt started (wall clock; default now), for the first train report's start-up time.
    """
    began = time.time() if began is None else began
    raise_path_problems(resolved_input_paths(job))  # paths only the workers see; before any step or state is made
    paths.root.mkdir(parents=True, exist_ok=True)
    if not paths.spec_file.exists():
        paths.spec_file.write_text(text_format.MessageToString(job.spec))
    prune_to = DEFAULT_MAX_BYTES if jax.process_index() == 0 else None
    with persistent_compile_cache(compile_cache, prune_to=prune_to) as cache, \
            contextlib.closing(_TrainLoop(job, paths, bus, Startup(began, cache))) as loop:
        if job.continuous is not None:
            return run_continuous(loop, job.continuous, stop or StopRequest())
        return loop.run(stop or StopRequest())


class _TrainLoop:
    def __init__(self, job: ResolvedJob, paths: JobPaths, bus: EventBus, startup: Startup):
        self.job, self.bus = job, bus
        self.startup: Startup | None = startup  # reported with the first train report after the first step
        self.startup_info: dict[str, Any] = {}
        # A continuous job's training chunks are the window of each network (set per cycle).
        # Every process names all files; each stream deals this process its share (workers.data.dealing).
        self.files = resolve_data_files(job.dataset, job.seed, with_train=job.continuous is None)
        check_shares(self.files, job.dataset, jax.process_count())
        training = build_training(job)
        self.mesh, self.steps = training.mesh, training.steps
        self.checkpointer = Checkpointer(paths.checkpoints, job.max_to_keep)
        self.saving: dict[int, tuple[float, dict[str, float]]] = {}  # (start, metrics) of each save not seen committed yet
        self.state, cursors, self.restored_cycle = _resume(self.checkpointer, training.state)
        self.restored_train_cursors: list[dict] | None = cursors.get("train")
        self.cycle_at: Callable[[int], dict[str, Any]] | None = None  # a continuous job's cycle to checkpoint at a step
        self.paths = paths
        self.exporter = JobExporter(job.model, paths) if job.export_nets else None
        if self.exporter is not None:
            bus.subscribe(self.exporter.observe)
        self._open_streams(cursors, job.num_test_positions or TESTS_PER_CHUNK_FILE * len(self.files.test))
        for warning in job.warnings:
            log.warning("%s", warning)
        # From the RUNNING report on, every second is counted in one phase (`phase_seconds` of each report).
        self.clock = PhaseClock("step")
        bus.publish(Event("state", self.step, info={
            "state": "RUNNING", "parameters": parameter_count(training.init.params), "devices": self.mesh.size,
            "mesh": dict(self.mesh.shape), "state_bytes_per_device": state_bytes(self.state),
            "train_files": len(self.files.train), "test_files": len(self.files.test), "validation_files": len(self.files.validation),
            "warnings": list(job.warnings),
        }))

    def _open_streams(self, cursors: dict[str, list[dict]], num_test_positions: int) -> None:
        self.train_stream = self._stream(self.files.train, "train", cursors.get("train")) if self.files.train else None
        self.eval_batch = self.job.batch_size // self.job.num_batch_splits  # legacy: tests run on split-size batches
        self.test_stream = self._stream(self.files.test, "test", cursors.get("test"), batch_size=self.eval_batch)
        # With SWA each test evaluates the raw weights, then the SWA weights on the next batches.
        self.test_batches = max(1, num_test_positions // self.eval_batch // (2 if self.job.swa else 1))

    @property
    def step(self) -> int:
        return int(jax.device_get(self.state.step))

    def _stream(self, files: list[Path], split: str, saved: list[dict] | None, *, seed_key: str | None = None,
                batch_size: int | None = None, repeat: bool = True, shuffle: bool = True) -> ChunkStream:
        """This process's stream of the `split` (train, test or validation) seeded by `seed_key`
        (default: the split), resumed from the cursors every process `saved` (any process count)."""
        return ChunkStream(
            files,
            batch_size=(batch_size or self.job.batch_size) // jax.process_count(),
            shuffle_size=self.job.shuffle_size,
            seed=derive_seed(self.job.seed, seed_key or split),
            input_format=self.job.model.input_type,
            repeat=repeat,
            shuffle=shuffle,
            cursor=[DataCursor.from_json(c) for c in saved] if saved else None,
            prefetch=self.job.prefetch_batches,
            sampling=self.job.sampling.for_stream(split),
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )

    def _publish(self, kind: str, step: int, metrics: dict[str, float] | None = None, **info: object) -> None:
        """Publishes a report with the run's cumulative seconds per phase."""
        self.bus.publish(Event(kind, step, metrics or {}, info={**info, "phase_seconds": self.clock.totals()}))

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        """Enters phase `name` once the steps dispatched so far have run (JAX dispatches asynchronously)."""
        jax.block_until_ready(self.state)
        with self.clock.phase(name):
            yield

    def _device_batches(self, stream: Iterator) -> Iterator[Batch]:
        for decoded in stream:
            yield to_global_batch(self.mesh, Batch.from_decoded(decoded, self.job.losses.q_from_root, self.job.losses.needs_v7))

    def use_train_files(self, files: list[Path], seed_key: str, saved: list[dict] | None) -> None:
        """Train on `files` from now on, resuming from the cursors `saved` of the stream seeded by `seed_key`."""
        if self.train_stream is not None:
            self.train_stream.close()
        self.files = dataclasses.replace(self.files, train=files)
        self.train_stream = self._stream(files, "train", saved, seed_key=seed_key)

    def run(self, stop: StopRequest) -> TrainState:
        end = (self.step // self.job.total_steps + 1) * self.job.total_steps
        return self.finish(self.train_until(end, stop) or "SUCCEEDED")

    def train_until(self, end: int, stop: StopRequest) -> str | None:
        """Train from the current step to `end` with the cadence of the module docstring, ending
        with a checkpoint; returns the agreed stop reason when stopped early (None at `end`)."""
        job = self.job
        start = self.step
        assert self.train_stream is not None, "no training chunks"
        batches = self._device_batches(self.train_stream)
        sums = self.steps.zero_sums()
        window_start, window_steps = time.perf_counter(), 0
        for s in range(start, end):
            if s % job.total_steps == 0:
                self._test(s)
            t = s + 1
            report_due = t % job.train_avg_report_steps == 0 or t == end
            with self.clock.phase("data_wait"):
                batch = next(batches)
            first = s == start  # the first step of a run traces and compiles the train step
            with self._phase("compilation") if first else contextlib.nullcontext():
                if report_due:
                    self.state, sums, step_report = self.steps.train_and_report(self.state, sums, batch)
                else:
                    self.state, sums = self.steps.train(self.state, sums, batch)
                if first:
                    jax.block_until_ready(self.state)
                    if self.startup is not None:  # every process is here at the same step: a collective is safe
                        self.startup_info, self.startup = merge_reports(gather_json(self.startup.report())), None
            window_steps += 1
            if job.swa and t % job.swa.steps == 0:
                self.state = self.steps.swa_update(self.state)
            if report_due:
                elapsed = time.perf_counter() - window_start
                self._report_train(t, sums, step_report, window_steps * job.batch_size / elapsed)
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
            self._publish_commits(self.checkpointer.committed())
            if stopping and t < end:
                return reason
        return None

    def wait_for_checkpoints(self) -> None:
        """Wait for the saves in flight and report each as committed."""
        with self._phase("checkpoint"):
            committed = self.checkpointer.wait()
        self._publish_commits(committed)

    def finish(self, state: str) -> TrainState:
        """End the run: saves committed, then the final `state` report."""
        self.wait_for_checkpoints()
        self._publish("state", self.step, state=state)
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

    def _report_train(self, step: int, sums: Metrics, step_report: Metrics, positions_per_s: float) -> None:
        with self._phase("reporting"):
            metrics = self._train_metrics(step, sums, step_report, positions_per_s)
        self._publish("train", step, metrics, **self.startup_info)
        self.startup_info = {}

    def _train_metrics(self, step: int, sums: Metrics, step_report: Metrics, positions_per_s: float) -> dict[str, float]:
        """The window's train metrics; the one transfer of the window is here."""
        loss_scale = self.state.loss_scale.scale if self.state.loss_scale is not None else None
        sums, step_report, loss_scale, swa_count = jax.device_get((sums, step_report, loss_scale, self.state.swa_count))
        host = {name: float(value) for name, value in sums.items()}
        count = max(host.pop("count"), 1.0)
        finite_steps = max(count - host["nonfinite_steps"], 1.0)
        metrics = {name: value if name in TOTALS else value / (finite_steps if name == "grad_norm" else count) for name, value in host.items()}
        _check_finite(metrics, step, "train")
        metrics["learning_rate"] = float(step_report.pop("learning_rate"))
        metrics["positions_per_s"] = positions_per_s
        if loss_scale is not None:
            metrics["loss_scale"] = float(loss_scale)
        if swa_count is not None:
            metrics["swa_count"] = float(swa_count)
        return metrics | {name: float(value) for name, value in step_report.items()}

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
        if not swa:
            return state.params, state.batch_stats
        assert state.swa_params is not None and state.swa_batch_stats is not None, "SWA weights of a job without SWA"
        return state.swa_params, state.swa_batch_stats

    def _test(self, step: int) -> None:
        batches = self._device_batches(self.test_stream)
        with self._phase("evaluation"):
            metrics, count = self._evaluate(self._weights(swa=False), batches, self.test_batches)
        _check_finite(metrics, step, "test")
        self._publish("test", step, metrics, batches=count, weights="raw")
        if self.state.swa_params is not None:
            with self._phase("evaluation"):
                metrics, count = self._evaluate(self._weights(swa=True), batches, self.test_batches)
            self._publish("test", step, metrics, batches=count, weights="swa")

    def _validate(self, step: int) -> None:
        """One sequential pass over the validation set, on the SWA weights when SWA is on."""
        swa = self.state.swa_params is not None
        with self._phase("evaluation"):
            stream = self._stream(self.files.validation, "validation", None, batch_size=self.eval_batch, repeat=False, shuffle=False)
            with contextlib.closing(stream):
                metrics, count = self._evaluate(self._weights(swa), self._device_batches(while_all(stream)), None)
        self._publish("validation", step, metrics, batches=count, weights="swa" if swa else "raw")

    def _checkpoint(self, step: int) -> None:
        """Starts saving a finite state (and exports its nets); its `checkpoint` event follows its commit.

        A non-finite state is never written: the job fails here, its last checkpoint intact."""
        with self._phase("checkpoint"):
            started = time.perf_counter()
            self._publish_commits(self.checkpointer.wait())  # Orbax would wait for the previous save anyway
            if not bool(jax.device_get(self.steps.finite(self.state))):
                last = self.checkpointer.latest_step()
                raise FloatingPointError(f"non-finite train state at step {step}: not checkpointed; "
                                         + (f"the last checkpoint, step {last}, is finite" if last is not None else "no checkpoint was written"))
            cursors: dict[str, Any] = {"test": self.test_stream.cursor.to_json()}
            if self.train_stream is not None:
                cursors["train"] = self.train_stream.cursor.to_json()
            if self.cycle_at is not None:
                cursors["cycle"] = self.cycle_at(step)
            self.checkpointer.save(self.state, gather_json(cursors))
            self.export(step)
            skipped = len(self.train_stream.stats.skipped_files) if self.train_stream is not None else 0
            self.saving[step] = (started, {
                "checkpoint_save_seconds": time.perf_counter() - started,
                "skipped_files": float(skipped),
            })

    def export(self, step: int) -> None:
        """Write the lc0 nets of the current weights as those of `step` (when the job exports)."""
        if self.exporter is not None:
            swa = self._weights(swa=True) if self.state.swa_params is not None else None
            self.exporter.export(step, self._weights(swa=False), swa)

    def _publish_commits(self, steps: list[int]) -> None:
        """One `checkpoint` event per committed save, with the seconds from its start to its commit being seen."""
        for step in steps:
            started, metrics = self.saving.pop(step)
            self._publish("checkpoint", step, metrics | {"checkpoint_commit_seconds": time.perf_counter() - started})

    def close(self) -> None:
        for stream in (getattr(self, "train_stream", None), getattr(self, "test_stream", None)):
            if stream is not None:
                stream.close()
        if hasattr(self, "checkpointer"):
            try:
                self._publish_commits(self.checkpointer.wait())
            finally:
                self.checkpointer.close()


def _resume(checkpointer: Checkpointer, fresh: TrainState) -> tuple[TrainState, dict[str, list[dict]], dict[str, Any] | None]:
    """The newest committed checkpoint restored onto `fresh`'s shardings (any mesh and process
    count), with every process's saved data cursors by stream (the streams merge and deal them
    again when the count changed) and a continuous job's cycle (the same on every process); or `fresh`."""
    if checkpointer.latest_step() is None:
        return fresh, {}, None
    state, all_cursors = checkpointer.restore(fresh)
    # Checkpoints from before the gate projection clamped negative gates in the forward pass.
    state = state.replace(params=project_gates(state.params),
                          swa_params=None if state.swa_params is None else project_gates(state.swa_params))
    if len(all_cursors) != jax.process_count():
        log.info("checkpoint has data cursors of %d processes, %d are running: their position is merged and dealt again",
                 len(all_cursors), jax.process_count())
    by_stream = {name: [c[name] for c in all_cursors] for name in ("train", "test") if all(name in c for c in all_cursors)}
    return state, by_stream, all_cursors[0].get("cycle") if all_cursors else None


def _check_finite(metrics: dict[str, float], step: int, kind: str) -> None:
    bad = sorted(name for name, value in metrics.items() if not np.isfinite(value))
    if bad:
        raise FloatingPointError(f"non-finite {kind} metrics {bad} in the steps up to {step}")
