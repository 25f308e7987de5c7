"""Client side of the control plane: channel set-up and the `watch` progress view."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable

import grpc
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from lc0train import service_pb2, service_pb2_grpc
from workers.console import cycle_status

DEFAULT_SERVER = "127.0.0.1:50051"
_LOSSES = ("total_loss", "policy_loss", "value_loss", "moves_left_loss")


def connect(server: str | None, token_file: Path | None = None, tls_ca: Path | None = None) -> tuple[grpc.Channel, service_pb2_grpc.TrainingServiceStub]:
    """A channel to `server` (or $LC0_TRAIN_SERVER); TLS when a CA is given, with the bearer token when given."""
    target = server or os.environ.get("LC0_TRAIN_SERVER") or DEFAULT_SERVER
    token = token_file.read_text().strip() if token_file else None
    if tls_ca is not None:
        credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
        if token:
            credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
        channel = grpc.secure_channel(target, credentials)
    else:
        channel = grpc.insecure_channel(target)
        if token:  # plaintext on a trusted network: attach the header ourselves
            channel = grpc.intercept_channel(channel, _TokenHeader(token))
    return channel, service_pb2_grpc.TrainingServiceStub(channel)


class _TokenHeader(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = list(details.metadata or []) + [self._header]
        return details._replace(metadata=metadata) if hasattr(details, "_replace") else _Details(details, metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, base: grpc.ClientCallDetails, metadata: list):
        self.method, self.timeout, self.credentials = base.method, base.timeout, base.credentials
        self.wait_for_ready, self.compression = getattr(base, "wait_for_ready", None), getattr(base, "compression", None)
        self.metadata = metadata


def state_name(value: int) -> str:
    return service_pb2.JobState.Name(value)


def render_job(job: service_pb2.Job) -> str:
    lines = [
        f"job        {job.job_id} ({job.name})",
        f"state      {state_name(job.state)}" + (f": {job.message}" if job.message else ""),
        f"step       {job.step} / {job.total_steps}",
        *([f"cycle      {job.cycle}"] if job.cycle else []),
        f"restarts   {job.restarts}/{job.max_restarts}   preemptions {job.preemptions}/{job.max_preemptions}",
        f"directory  {job.job_dir}",
        f"submitted  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(job.create_time))}",
    ]
    return "\n".join(lines)


def watch_job(stub: service_pb2_grpc.TrainingServiceStub, job_id: str, console: Console | None = None) -> service_pb2.Job:
    """Follows a job to its end with a progress bar and the latest losses; returns the final record."""
    console = console or Console()
    updates: Iterable[service_pb2.JobUpdate] = stub.WatchJob(service_pb2.WatchJobRequest(job_id=job_id))
    progress = Progress(TextColumn("[bold]{task.fields[state]}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                        TextColumn("{task.fields[losses]}"), console=console)
    job = None
    with progress:
        task = progress.add_task(job_id, total=None, state="", rate="", losses="")
        for update in updates:
            if update.HasField("job"):
                previous = job
                job = update.job if job is None else _merge(job, update.job)
                progress.update(task, total=job.total_steps, completed=job.step, state=state_name(job.state))
                if previous is None or previous.state != job.state or previous.message != job.message:
                    progress.console.print(f"{state_name(job.state):>10}  {job.message}")
            if update.HasField("event"):
                _show_event(progress, task, update.event, job)
    assert job is not None, "the server ended the stream without a job record"
    return stub.GetJob(service_pb2.GetJobRequest(job_id=job_id, omit_spec=True))


def _merge(old: service_pb2.Job, new: service_pb2.Job) -> service_pb2.Job:
    merged = service_pb2.Job()
    merged.CopyFrom(new)
    if not new.HasField("spec") and old.HasField("spec"):
        merged.spec.CopyFrom(old.spec)
    return merged


def _show_event(progress: Progress, task: TaskID, event: service_pb2.JobEvent, job: service_pb2.Job | None) -> None:
    metrics = dict(event.metrics)
    if event.kind == "train":
        losses = "  ".join(f"{name.removesuffix('_loss')}={metrics[name]:.4f}" for name in _LOSSES if name in metrics)
        rate = metrics.get("positions_per_s", 0.0)
        progress.update(task, completed=event.step, rate=f"{rate:,.0f} pos/s", losses=losses)
        total = job.total_steps if job else 0
        batch = job.spec.training.batch_size if job and job.spec.training.batch_size else 0
        eta = f"  ETA {_duration((total - event.step) * batch / rate)}" if rate > 0 and batch and total > event.step else ""
        progress.console.print(f"{'train':>10}  step {event.step}/{total}  {losses}  {rate:,.0f} pos/s{eta}")
    elif event.kind in ("test", "validation"):
        shown = "  ".join(f"{name}={metrics[name]:.4f}" for name in _LOSSES if name in metrics)
        progress.console.print(f"{event.kind:>10}  step {event.step}  {shown}")
    elif event.kind == "checkpoint":
        progress.console.print(f"{'checkpoint':>10}  step {event.step}")
    elif event.kind in ("cycle", "published"):
        progress.console.print(f"{event.kind:>10}  step {event.step}  {cycle_status(event.kind, json.loads(event.info_json))}")
    elif event.kind == "state":
        info = json.loads(event.info_json) if event.info_json else {}
        progress.console.print(f"{'trainer':>10}  step {event.step}  {info.get('state', '')}")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
