"""A SubmitJob-only control plane for validation tests: the real servicer and JobService on a
loopback grpc.aio server, with a real JobStore, but no controller (nothing runs) and no Ray
unless a placement check asks it."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import grpc

from service._internal.jobs import JobService, PlacementCheck
from service._internal.store import JobStore
from service.api.servicer import TrainingServicer, handlers
from tests.service_harness import RunningServer


class SubmitOnlyServer:
    """What `RunningServer` starts and stops in place of a `TrainingServer`."""

    def __init__(self, tmp: Path, data_roots: Sequence[Path], placement_check: PlacementCheck | None = None):
        self.storage = tmp / "storage"
        self.store = JobStore(tmp / "state" / "jobs.sqlite3")
        servicer = TrainingServicer(JobService(self.store, self.storage, data_roots=data_roots, placement_check=placement_check))
        self.grpc = grpc.aio.server()
        self.grpc.add_generic_rpc_handlers((handlers(servicer),))  # the method table service.server registers

    async def start(self) -> int:
        port = self.grpc.add_insecure_port("127.0.0.1:0")
        await self.grpc.start()
        return port

    async def stop(self, grace: float) -> None:
        await self.grpc.stop(grace)
        self.store.close()


class RunningSubmitServer(RunningServer):
    """`RunningServer` (its own event-loop thread, a client stub) around a `SubmitOnlyServer`."""

    def __init__(self, tmp: Path, data_roots: Sequence[Path], placement_check: PlacementCheck | None = None):
        self._tmp, self._roots, self._placement_check = tmp, tuple(data_roots), placement_check
        super().__init__(config=None)  # type: ignore[arg-type]

    async def _make(self) -> SubmitOnlyServer:  # type: ignore[override]
        return SubmitOnlyServer(self._tmp, self._roots, self._placement_check)
