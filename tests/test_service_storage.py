"""Job storage faults: the spec is on disk before a job is committed, and write errors name the path.

Real files and a real SQLite JobStore; the server runs as root here, so unwritable paths are
made with a regular file where a directory must be, and with /dev/full (every write fails).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format

from lc0train import job_pb2
from service._internal.jobs import JobService, Submission
from service._internal.state import StorageError
from service._internal.store import JobRecord, JobStore, NewJob
from tests.service_harness import tiny_spec
from workers.events import Event, EventLogError, JsonlSink
from workers.layout import JobPaths


class SpecCheckingStore(JobStore):
    """Records, at the moment of each commit, whether the job's spec.textproto was already written."""

    def __init__(self, path: Path, storage: Path):
        super().__init__(path)
        self.storage, self.spec_on_disk_at_commit = storage, []

    def create(self, new: NewJob) -> tuple[JobRecord, bool]:
        self.spec_on_disk_at_commit.append(JobPaths(self.storage / new.job_id).spec_file.is_file())
        return super().create(new)


def test_the_spec_is_written_before_the_job_is_committed(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    storage = tmp_path / "storage"
    store = SpecCheckingStore(tmp_path / "jobs.sqlite3", storage)
    jobs = JobService(store, storage)
    spec = tiny_spec(generated_data)
    record, created = jobs.submit(Submission(spec=spec, request_id="once"))
    assert created and store.spec_on_disk_at_commit == [True]
    written = text_format.Parse(JobPaths(storage / record.job_id).spec_file.read_text(), job_pb2.JobSpec())
    assert written == spec
    again, created = jobs.submit(Submission(spec=spec, request_id="once"))  # a retry: the same job, no second directory
    assert not created and again.job_id == record.job_id
    assert [p.name for p in storage.iterdir()] == [record.job_id]


def test_an_unwritable_job_directory_is_refused_naming_the_path_and_nothing_is_stored(
        tmp_path: Path, generated_data: dict[str, Path]) -> None:
    storage = tmp_path / "storage"
    storage.write_text("a file where the storage directory should be")
    store = JobStore(tmp_path / "jobs.sqlite3")
    with pytest.raises(StorageError, match=f"cannot write the job directory: {storage}/tiny-[0-9a-f]{{8}}: Not a directory"):
        JobService(store, storage).submit(Submission(spec=tiny_spec(generated_data)))
    assert store.list() == []


def test_events_that_cannot_be_written_name_the_file(tmp_path: Path) -> None:
    blocked = tmp_path / "job"
    blocked.write_text("")
    with pytest.raises(EventLogError, match=f"cannot write events to {blocked}"):
        JsonlSink(blocked / "events.jsonl")
    full = JsonlSink(Path("/dev/full"))  # opens, but every write fails (ENOSPC, an error without a file name)
    with pytest.raises(EventLogError, match="cannot write events to /dev/full: No space left on device"):
        full(Event("train", 1))
