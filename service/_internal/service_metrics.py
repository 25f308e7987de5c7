"""Service-level Prometheus metrics: jobs by state, gRPC calls, controller ticks and store writes.

Bounded by construction: the labels are states, method names, status codes and store
operations, never job ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from service._internal.state import JobState

# The store commits with synchronous=FULL (an fsync per write): sub-millisecond to seconds.
_STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ServiceMetrics:
    """The control plane's own metrics, in the given registry."""

    def __init__(self, registry: CollectorRegistry):
        self.jobs = Gauge("lc0_train_jobs", "Jobs in the database by state", ["state"], registry=registry)
        self.grpc_requests = Counter("lc0_train_grpc_requests", "gRPC calls handled, by method and status code",
                                     ["method", "code"], registry=registry)
        self.grpc_duration = Histogram("lc0_train_grpc_request_duration_seconds", "gRPC call latency by method and status code",
                                       ["method", "code"], unit="seconds", registry=registry)
        self.tick_duration = Histogram("lc0_train_controller_tick_duration_seconds", "Duration of one controller pass over the active jobs",
                                       unit="seconds", registry=registry)
        self.store_write = Histogram("lc0_train_store_write_duration_seconds", "Duration of a job-database write transaction, by operation",
                                     ["operation"], buckets=_STORE_BUCKETS, unit="seconds", registry=registry)

    def set_job_counts(self, counts: dict[JobState, int]) -> None:
        for state, count in counts.items():
            self.jobs.labels(state.value).set(count)

    def observe_store_write(self, operation: str, seconds: float) -> None:
        self.store_write.labels(operation).observe(seconds)

    def observe_call(self, method: str, code: str, seconds: float) -> None:
        self.grpc_requests.labels(method, code).inc()
        self.grpc_duration.labels(method, code).observe(seconds)
