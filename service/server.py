"""Assembles the control plane: JobStore, Scheduler, Controller and the gRPC server.

One process serves `lc0train.TrainingService`, `grpc.health.v1.Health` and server
reflection on one port (TLS and a bearer token optional), and runs the controller loop
on a thread. Ray is joined at `ray_address`, or started in-process (the embedded default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from pathlib import Path
from typing import Callable

import grpc
from prometheus_client import CollectorRegistry, start_http_server
from grpc_health.v1 import _async as health_async
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service._internal.controller import Controller, ControllerSettings
from service._internal.jobs import Budgets, JobService
from service._internal.metrics import JobMetrics
from service._internal.scheduler import NAMESPACE, Scheduler
from service._internal.service_metrics import ServiceMetrics
from service._internal.store import JobRecord, JobStore
from service.api.auth import BearerTokenInterceptor
from service.api.call_metrics import CallMetricsInterceptor
from service.api.servicer import SERVICE_NAME, TrainingServicer, handlers

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Everything `lc0-train serve` configures."""

    storage: Path
    db: Path
    address: str = "127.0.0.1:50051"
    ray_address: str | None = None
    cpus_per_host: float = 1.0  # CPUs each host of a job reserves besides its accelerators
    # The Ray cluster adds nodes on demand: a job no node can hold yet waits QUEUED instead
    # of being refused at submit.
    autoscaling: bool = False
    auth_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    controller: ControllerSettings = ControllerSettings()
    budgets: Budgets = Budgets()
    watch_poll_interval: float = 0.5
    metrics_port: int | None = None
    metrics_retention: float = 900.0  # seconds an ended job's series stay in /metrics
    # Where dataset and init_from paths may point besides the storage root; None: the server's
    # working directory (see `allowed_data_roots`).
    data_roots: tuple[Path, ...] | None = None
    # The workers' persistent compilation cache, shared by all jobs (`lc0-train serve` defaults it to
    # <storage>/compile_cache); None: every attempt compiles afresh.
    compile_cache: Path | None = None


def allowed_data_roots(config: ServerConfig) -> tuple[Path, ...]:
    """The storage root (its exported nets are what `init_from` usually names) and `data_roots`,
    by default the server's working directory unless that is the filesystem root."""
    if config.data_roots is not None:
        extra = config.data_roots
    else:
        cwd = Path.cwd()
        extra = () if cwd == Path(cwd.anchor) else (cwd,)
    return tuple(root.absolute() for root in (config.storage, *extra))


def check_db_location(db: Path, storage: Path) -> None:
    """WAL is unsafe on shared filesystems: refuse a database inside the shared storage root."""
    db, storage = db.resolve(), storage.resolve()
    if db == storage or storage in db.parents:
        raise ValueError(f"the job database {db} must be on the server's local disk, not under the shared storage {storage}")


def ensure_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)
    else:
        # address="local": always a new in-process cluster, never one another `ray start` on this
        # machine left in /tmp/ray/ray_current_cluster (a bare ray.init() would try to join it).
        ray.init(address="local", namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)


class TrainingServer:
    """The running control plane; `start()` binds and returns the port."""

    def __init__(self, config: ServerConfig, after_transition: Callable[[JobRecord], None] | None = None):
        check_db_location(config.db, config.storage)
        self.config = config
        config.storage.mkdir(parents=True, exist_ok=True)
        ensure_ray(config.ray_address)
        self.registry = CollectorRegistry()
        self.service_metrics = ServiceMetrics(self.registry)
        self.store = JobStore(config.db, on_write=self.service_metrics.observe_store_write)
        scheduler = Scheduler(config.cpus_per_host, compile_cache=config.compile_cache)
        self.jobs = JobService(self.store, config.storage, config.budgets, config.watch_poll_interval,
                               data_roots=allowed_data_roots(config),
                               placement_check=None if config.autoscaling else scheduler.impossible)
        self.metrics = JobMetrics(self.registry, config.metrics_retention) if config.metrics_port is not None else None
        self.metrics_port: int | None = None
        self._metrics_http: object | None = None
        self.controller = Controller(self.store, scheduler, config.storage,
                                     config.controller, after_transition=after_transition, metrics=self.metrics,
                                     service_metrics=self.service_metrics, embedded_ray=config.ray_address is None)
        self.health = health_async.HealthServicer()
        interceptors: list[grpc.aio.ServerInterceptor] = [CallMetricsInterceptor(self.service_metrics)]
        if config.auth_token:
            interceptors.append(BearerTokenInterceptor(config.auth_token))
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        self.grpc = grpc.aio.server(interceptors=interceptors, options=options)
        self.grpc.add_generic_rpc_handlers((handlers(TrainingServicer(self.jobs)),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection((SERVICE_NAME, reflection.SERVICE_NAME, "grpc.health.v1.Health"), self.grpc)
        self.port = 0

    async def start(self) -> int:
        config = self.config
        if config.tls_cert and config.tls_key:
            credentials = grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])
            self.port = self.grpc.add_secure_port(config.address, credentials)
        else:
            self.port = self.grpc.add_insecure_port(config.address)
        if not self.port:
            raise OSError(f"cannot bind {config.address}")
        await self.grpc.start()
        if config.metrics_port is not None:
            host = config.address.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"
            self._metrics_http, _ = start_http_server(config.metrics_port, addr=host, registry=self.registry)
            self.metrics_port = self._metrics_http.server_port
            log.info("metrics on http://%s:%d/metrics", host, self.metrics_port)
        self.controller.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving on port %d (storage %s, database %s, data roots %s, compilation cache %s, pid %d)", self.port,
                 config.storage, config.db, ", ".join(map(str, self.jobs.data_roots or ())), config.compile_cache or "off", os.getpid())
        return self.port

    async def stop(self, grace: float = 5.0) -> None:
        """Graceful: NOT_SERVING, drain calls for `grace` seconds, stop the controller. Jobs keep running."""
        await self.health.enter_graceful_shutdown()
        await self.grpc.stop(grace)
        await asyncio.to_thread(self.controller.close)
        if self._metrics_http is not None:
            self._metrics_http.shutdown()  # type: ignore[attr-defined]
            self._metrics_http.server_close()  # type: ignore[attr-defined]
        self.store.close()

    async def wait(self) -> None:
        await self.grpc.wait_for_termination()
