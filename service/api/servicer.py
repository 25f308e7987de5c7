"""TrainingService servicer: converts requests to domain calls and results back to protos.

Runs on a `grpc.aio` server. Store calls are short SQLite reads and writes, made inline;
`WatchJob` relays `JobService.watch`. `handlers` builds the method table from the
service descriptor.
"""

from __future__ import annotations

import dataclasses
from typing import AsyncIterator, Callable

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass

from lc0train import service_pb2
from service._internal.cycles import CycleTracker
from service._internal.jobs import JobService, Submission
from service._internal.state import InvalidRequest
from service._internal.store import JobRecord
from service._internal.validation import check_request
from service._internal.wire import explain_undecodable
from service.api.convert import event_to_proto, job_to_proto, state_from_proto
from service.api.errors import map_errors
from workers.config.problems import ConfigError
from workers.layout import JobPaths

SERVICE = service_pb2.DESCRIPTOR.services_by_name["TrainingService"]
SERVICE_NAME = SERVICE.full_name


@dataclasses.dataclass(frozen=True)
class Undecodable:
    """Stands in for a request whose bytes did not parse, so the servicer can say why."""

    error: str


def lenient(message_type: type[Message]) -> Callable[[bytes], object]:
    """A request deserializer that reports undecodable bytes instead of failing the call."""
    def deserialize(data: bytes) -> object:
        try:
            return message_type.FromString(data)
        except DecodeError:
            return Undecodable(explain_undecodable(data, message_type.DESCRIPTOR))
    return deserialize


class TrainingServicer:
    """The `lc0train.TrainingService` methods (registered by `service.server`)."""

    def __init__(self, jobs: JobService):
        self.jobs = jobs
        self.cycles = CycleTracker()

    def _job(self, record: JobRecord, with_spec: bool = True) -> service_pb2.Job:
        job = job_to_proto(record, self.jobs.job_dir(record.job_id), with_spec)
        job.cycle = self.cycles.status(record.job_id, JobPaths(self.jobs.job_dir(record.job_id)).events)
        return job

    @map_errors
    async def SubmitJob(self, request: service_pb2.SubmitJobRequest | Undecodable, context: grpc.aio.ServicerContext) -> service_pb2.SubmitJobResponse:
        if isinstance(request, Undecodable):
            raise ConfigError([("<request>", f"not a valid SubmitJobRequest: {request.error}")])
        check_request(request)  # before validate_only is read: a mangled one must not create a job
        which = request.WhichOneof("config")
        submission = Submission(
            spec=request.spec if which == "spec" else None,
            spec_text=request.spec_text if which == "spec_text" else None,
            request_id=request.request_id, validate_only=request.validate_only, priority=request.priority,
            max_restarts=request.max_restarts if request.HasField("max_restarts") else None,
            max_preemptions=request.max_preemptions if request.HasField("max_preemptions") else None,
        )
        record, created = self.jobs.submit(submission)
        if record is None:
            return service_pb2.SubmitJobResponse()
        return service_pb2.SubmitJobResponse(job=self._job(record), created=created)

    @map_errors
    async def GetJob(self, request: service_pb2.GetJobRequest, context: grpc.aio.ServicerContext) -> service_pb2.Job:
        return self._job(self.jobs.get(request.job_id), with_spec=not request.omit_spec)

    @map_errors
    async def ListJobs(self, request: service_pb2.ListJobsRequest, context: grpc.aio.ServicerContext) -> service_pb2.ListJobsResponse:
        try:
            states = [state_from_proto(s) for s in request.states]
        except ValueError as err:
            raise InvalidRequest(f"states: {err}") from None
        records, token = self.jobs.list(states, request.page_size, request.page_token)
        return service_pb2.ListJobsResponse(jobs=[self._job(r, with_spec=False) for r in records], next_page_token=token)

    @map_errors
    async def CancelJob(self, request: service_pb2.CancelJobRequest, context: grpc.aio.ServicerContext) -> service_pb2.Job:
        return self._job(self.jobs.cancel(request.job_id, checkpoint=not request.skip_checkpoint))

    @map_errors
    async def GetJobEvents(self, request: service_pb2.GetJobEventsRequest, context: grpc.aio.ServicerContext) -> service_pb2.GetJobEventsResponse:
        events, next_offset = self.jobs.events(request.job_id, request.offset, request.limit, list(request.kinds))
        return service_pb2.GetJobEventsResponse(events=[event_to_proto(e) for e in events], next_offset=next_offset)

    @map_errors
    async def WatchJob(self, request: service_pb2.WatchJobRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[service_pb2.JobUpdate]:
        first, record = True, None
        async for update in self.jobs.watch(request.job_id):
            if isinstance(update, JobRecord):
                record = update
                yield service_pb2.JobUpdate(job=self._job(update, with_spec=first))
                first = False
            else:
                yield service_pb2.JobUpdate(event=event_to_proto(update))
                if record is not None and update.get("kind") in ("cycle", "published"):
                    yield service_pb2.JobUpdate(job=self._job(record, with_spec=False))  # Job.cycle moved on


def handlers(servicer: TrainingServicer) -> grpc.GenericRpcHandler:
    """The generic handler of every method in the service descriptor, bound to `servicer`.

    SubmitJob decodes leniently, so undecodable bytes get an answer that says why.
    """
    table = {}
    for method in SERVICE.methods:
        request, response = GetMessageClass(method.input_type), GetMessageClass(method.output_type)
        if method.client_streaming:
            raise NotImplementedError(f"{method.full_name}: client-streaming methods are not served")
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        decode = lenient(request) if method.name == "SubmitJob" else request.FromString
        table[method.name] = make(getattr(servicer, method.name), request_deserializer=decode,
                                  response_serializer=response.SerializeToString)
    return grpc.method_handlers_generic_handler(SERVICE_NAME, table)
