"""JobService: the transport-free core behind the gRPC API.

It validates and records submissions, answers queries from the store and the job
directories, turns cancel requests into persisted flags the controller obeys, and
follows a job for `WatchJob` (polling the store, tailing its events.jsonl).
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Sequence

from google.protobuf import text_format

from lc0train import job_pb2
from service._internal.events import EventTail, read_page
from service._internal.state import InvalidRequest, JobState, StorageError
from service._internal.store import JobRecord, JobStore, NewJob, new_job_id
from service._internal.validation import parse_spec_text, validate_spec
from workers.config.accelerators import Placement
from workers.config.problems import ConfigError
from workers.layout import JobPaths

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_REQUEST_ID_CHARS = 256

PlacementCheck = Callable[[Placement], "tuple[str, str] | None"]


@dataclasses.dataclass(frozen=True)
class Budgets:
    """Server defaults for jobs that do not set their own."""

    max_restarts: int = 3
    max_preemptions: int = 20


@dataclasses.dataclass(frozen=True)
class Submission:
    """A SubmitJob request in domain terms: exactly one of `spec` and `spec_text`."""

    spec: job_pb2.JobSpec | None = None
    spec_text: str | None = None
    request_id: str = ""
    validate_only: bool = False
    priority: int = 0
    max_restarts: int | None = None
    max_preemptions: int | None = None


class JobService:
    """Submission, queries and cancellation over a `JobStore` and the storage root."""

    def __init__(self, store: JobStore, storage: Path, budgets: Budgets = Budgets(), watch_poll_interval: float = 0.5, *,
                 data_roots: Sequence[Path] | None = None, placement_check: PlacementCheck | None = None):
        """`data_roots`: where dataset and init_from paths may point (None: anywhere, for tests of other rules).
        `placement_check`: (field, reason) when the cluster can never hold one host of a job (None: accept all)."""
        self.store, self.storage, self.budgets = store, Path(storage), budgets
        self.placement_check = placement_check
        self.watch_poll_interval = watch_poll_interval
        self.data_roots = None if data_roots is None else tuple(data_roots)

    def job_dir(self, job_id: str) -> Path:
        return self.storage / job_id

    def submit(self, submission: Submission) -> tuple[JobRecord | None, bool]:
        """Validates, then creates (or finds, by request_id) the job; (None, False) when validate_only."""
        if submission.spec_text is not None:
            spec = parse_spec_text(submission.spec_text)
        elif submission.spec is not None:
            spec = submission.spec
        else:
            raise InvalidRequest("config: set spec or spec_text")
        for name, value in (("max_restarts", submission.max_restarts), ("max_preemptions", submission.max_preemptions)):
            if value is not None and value < 0:
                raise InvalidRequest(f"{name}: must be >= 0 (got {value})")
        if len(submission.request_id) > MAX_REQUEST_ID_CHARS:
            raise InvalidRequest(f"request_id: longer than {MAX_REQUEST_ID_CHARS} characters")
        job = validate_spec(spec, self.data_roots)
        if self.placement_check is not None and (problem := self.placement_check(job.placement)) is not None:
            raise ConfigError([problem])
        if submission.validate_only:
            return None, False
        budgets = self.budgets
        name = spec.name or "job"
        job_id = new_job_id(name)
        # The job directory and its spec.textproto exist before the job is committed: a server
        # killed in between leaves an unused directory, never a job without its spec.
        self._write_spec(JobPaths(self.job_dir(job_id)), spec)
        new = NewJob(
            name=name,
            spec=spec.SerializeToString(deterministic=True),
            total_steps=job.total_steps,
            priority=submission.priority,
            max_restarts=budgets.max_restarts if submission.max_restarts is None else submission.max_restarts,
            max_preemptions=budgets.max_preemptions if submission.max_preemptions is None else submission.max_preemptions,
            request_id=submission.request_id or None,
            job_id=job_id,
        )
        try:
            record, created = self.store.create(new)
        finally:
            if not self.store.exists(job_id):  # a retry of an earlier request_id, or the commit failed
                shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
        return record, created

    @staticmethod
    def _write_spec(paths: JobPaths, spec: job_pb2.JobSpec) -> None:
        try:
            paths.root.mkdir(parents=True)
            paths.spec_file.write_text(text_format.MessageToString(spec))
        except OSError as err:
            path = err.filename or paths.spec_file
            log.error("cannot write the job directory: %s: %s", path, err.strerror or err)
            raise StorageError(f"cannot write the job directory: {path}: {err.strerror or err}") from err

    def get(self, job_id: str) -> JobRecord:
        return self.store.get(job_id)

    def list(self, states: Sequence[JobState], page_size: int, page_token: str) -> tuple[builtins.list[JobRecord], str]:
        if page_size < 0:
            raise InvalidRequest(f"page_size: must be >= 0 (got {page_size})")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            after = int(page_token) if page_token else 0
        except ValueError:
            raise InvalidRequest(f"page_token: not a token from ListJobs ({page_token!r})") from None
        records = self.store.list(states, after_seq=after, limit=size + 1)
        more = len(records) > size
        records = records[:size]
        return records, str(records[-1].seq) if more else ""

    def cancel(self, job_id: str, checkpoint: bool = True) -> JobRecord:
        return self.store.request_cancel(job_id, checkpoint)

    async def watch(self, job_id: str) -> AsyncIterator[JobRecord | dict[str, Any]]:
        """The job's record, then each new event and each visible change of the record, until it ends."""
        record = self.store.get(job_id)
        tail = EventTail.at_end(JobPaths(self.job_dir(job_id)).events)
        yield record
        while True:
            for event in tail.read():
                yield event
            latest = self.store.get(job_id)
            if _visible(latest) != _visible(record):
                record = latest
                yield record
            if record.state.is_terminal:
                for event in tail.read():  # reports written just before the end
                    yield event
                return
            await asyncio.sleep(self.watch_poll_interval)

    def events(self, job_id: str, offset: int, limit: int, kinds: Sequence[str]) -> tuple[builtins.list[dict[str, Any]], int]:
        self.store.get(job_id)  # NOT_FOUND for unknown ids
        if offset < 0 or limit < 0:
            raise InvalidRequest("offset and limit must be >= 0")
        return read_page(JobPaths(self.job_dir(job_id)).events, offset, min(limit or 1000, 10_000), kinds)


def _visible(record: JobRecord) -> tuple:
    """The fields whose change is worth a watch update (not update_time)."""
    return (record.state, record.message, record.step, record.restarts, record.preemptions, record.cancel_requested)
