"""TrainerActor: the Ray actor that runs one host's share of a job with `run_training`.

The actor owns no lifecycle logic. `start` launches the trainer on a background thread
and returns, so the controller's `status` calls keep being answered while it trains: each
answer is a heartbeat (step and the time of the last report), and a missing answer is how
the controller notices a frozen worker. Reports go to `events.jsonl` in the job directory
on the shared storage (process 0 only), which is the durable record the API serves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import time
import traceback
from pathlib import Path

import ray

from service._internal.status import ActorStatus, Phase, TrainerResult

log = logging.getLogger(__name__)


class TrainerActor:
    """One JAX process of a job. Wrapped with `ray.remote` by the scheduler."""

    def __init__(self) -> None:
        self._created = time.time()  # the attempt's start on this host, before JAX is imported
        from workers.training.loop import StopRequest

        self._stop = StopRequest()
        self._lock = threading.Lock()
        self._status = ActorStatus(Phase.IDLE, os.getpid())
        self._thread: threading.Thread | None = None
        self._install_preemption_handler()

    def coordinator_address(self) -> str:
        """host:port for jax.distributed, chosen on this (process 0's) node."""
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return f"{ray.util.get_node_ip_address()}:{port}"

    def start(self, spec: bytes, job_dir: str, process_id: int, num_processes: int, coordinator: str, compile_cache: str = "") -> int:
        """Starts training on a thread (idempotent) and returns the worker's pid; `compile_cache`: "" for none."""
        with self._lock:
            if self._thread is None:
                self._status = dataclasses.replace(self._status, phase=Phase.STARTING, last_report=time.time())
                self._thread = threading.Thread(target=self._train, name="trainer", daemon=True,
                                                args=(spec, Path(job_dir), process_id, num_processes, coordinator,
                                                      Path(compile_cache) if compile_cache else None))
                self._thread.start()
        return os.getpid()

    def status(self) -> ActorStatus:
        with self._lock:
            return self._status

    def stop(self, reason: str = "CANCELLED", checkpoint: bool = True) -> None:
        """Asks the trainer to finish the current step, checkpoint if asked, and return."""
        self._stop.request(reason, checkpoint)

    def _install_preemption_handler(self) -> None:
        # SIGTERM (a preempted VM, a drained node): checkpoint and stop before the kill.
        # Signal handlers can only be installed from the main thread.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda signum, frame: self._stop.request("PREEMPTED", True))

    def _train(self, spec_bytes: bytes, job_dir: Path, process_id: int, num_processes: int, coordinator: str,
               compile_cache: Path | None) -> None:
        from lc0train import job_pb2
        from workers.config.resolve import resolve
        from workers.events import Event, EventBus, JsonlSink
        from workers.layout import JobPaths
        from workers.training.loop import run_training

        sink = None
        try:
            if num_processes > 1:
                from workers.training.multihost import initialize

                initialize(coordinator, num_processes, process_id)
            job = resolve(job_pb2.JobSpec.FromString(spec_bytes))
            paths = JobPaths(job_dir)
            bus = EventBus()
            if process_id == 0:
                sink = JsonlSink(paths.events)
                bus.subscribe(sink)
            final: list[TrainerResult] = []

            def on_event(event: Event) -> None:
                state = event.info.get("state", "") if event.kind == "state" else ""
                with self._lock:
                    phase = Phase.RUNNING if state == "RUNNING" else self._status.phase
                    # A checkpoint is reported once committed, when training may be steps further.
                    step = self._status.step if event.kind == "checkpoint" else event.step
                    self._status = dataclasses.replace(self._status, phase=phase, step=step, last_report=time.time())
                if state and state != "RUNNING":
                    final.append(TrainerResult(state))

            bus.subscribe(on_event)
            if self._stop.event.is_set():
                result = TrainerResult(self._stop.reason)  # stopped before the trainer began
            else:
                run_training(job, paths, bus, self._stop, compile_cache=compile_cache, began=self._created)
                result = final[-1] if final else TrainerResult.SUCCEEDED
            with self._lock:
                self._status = dataclasses.replace(self._status, phase=Phase.DONE, result=result, last_report=time.time())
        except BaseException as err:  # reported to the controller, which records the cause
            log.exception("training failed")
            with self._lock:
                self._status = dataclasses.replace(self._status, phase=Phase.FAILED, error=f"{type(err).__name__}: {err}",
                                                   traceback=traceback.format_exc(limit=5))
        finally:
            if sink is not None:
                sink.close()
