"""Protobuf ↔ domain conversion for the TrainingService API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lc0train import job_pb2, service_pb2
from service._internal.state import JobState
from service._internal.store import JobRecord
from workers.layout import JobPaths


def state_to_proto(state: JobState) -> int:
    return service_pb2.JobState.Value(state.value)


def state_from_proto(value: int) -> JobState:
    name = service_pb2.JobState.Name(value)
    return JobState(name)


def job_to_proto(record: JobRecord, job_dir: Path, with_spec: bool = True) -> service_pb2.Job:
    job = service_pb2.Job(
        job_id=record.job_id, name=record.name, state=state_to_proto(record.state), message=record.message,
        step=record.step, total_steps=record.total_steps, priority=record.priority, request_id=record.request_id or "",
        create_time=record.create_time, update_time=record.update_time, restarts=record.restarts,
        max_restarts=record.max_restarts, preemptions=record.preemptions, max_preemptions=record.max_preemptions,
        job_dir=str(job_dir), checkpoint_dir=str(JobPaths(job_dir).checkpoints), cancel_requested=record.cancel_requested,
        attempt=record.attempt,
    )
    if with_spec:
        job.spec.CopyFrom(job_pb2.JobSpec.FromString(record.spec))
    return job


def event_to_proto(event: dict[str, Any]) -> service_pb2.JobEvent:
    info = {k: v for k, v in event.items() if k not in ("time", "step", "kind", "metrics")}
    metrics = event.get("metrics") or {}
    return service_pb2.JobEvent(
        time=str(event.get("time", "")), step=int(event.get("step", 0) or 0), kind=str(event.get("kind", "")),
        metrics={str(k): float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
        info_json=json.dumps(info) if info else "",
    )
