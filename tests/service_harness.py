"""Test harness for the control plane: a real grpc.aio server on 127.0.0.1:0 in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import grpc

from lc0train import service_pb2, service_pb2_grpc
from service._internal.controller import ControllerSettings
from service._internal.jobs import Budgets
from service.server import ServerConfig, TrainingServer
from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from workers.config.spec import load_spec

# The tests' chunk files and nets live under pytest's temporary directories.
TEST_DATA_ROOTS = (Path(tempfile.gettempdir()),)
# Fast control loop for tests; the watchdog timeouts stay generous unless a test shrinks them.
FAST = ControllerSettings(poll_interval=0.1, startup_timeout=120, heartbeat_timeout=60, progress_timeout=300, cancel_timeout=60)


class RunningServer:
    """A TrainingServer on its own event loop thread, plus a client stub."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.server = self._call(self._make)
        self.port = self._call(self.server.start)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = service_pb2_grpc.TrainingServiceStub(self.channel)

    async def _make(self) -> TrainingServer:
        return TrainingServer(self.config)

    def _call(self, factory: Callable) -> object:
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(timeout=120)

    def close(self) -> None:
        self.channel.close()
        self._call(lambda: self.server.stop(grace=1))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def server_config(tmp: Path, **changes: object) -> ServerConfig:
    values: dict = dict(storage=tmp / "storage", db=tmp / "state" / "jobs.sqlite3", address="127.0.0.1:0", controller=FAST,
                        budgets=Budgets(max_restarts=2, max_preemptions=5), watch_poll_interval=0.1, data_roots=TEST_DATA_ROOTS)
    values.update(changes)
    return ServerConfig(**values)


def tiny_spec(data: dict[str, Path], *overrides: str):
    """The shipped tiny config, shrunk (tests/helpers.SHRINK), on the generated data."""
    return load_spec(TINY_CONFIG, [*SHRINK, *data_overrides(data), *overrides])


def wait_for(stub: service_pb2_grpc.TrainingServiceStub, job_id: str, predicate: Callable[[service_pb2.Job], bool],
              timeout: float = 180.0) -> service_pb2.Job:
    deadline = time.monotonic() + timeout
    while True:
        job = stub.GetJob(service_pb2.GetJobRequest(job_id=job_id, omit_spec=True))
        if predicate(job):
            return job
        assert time.monotonic() < deadline, f"timed out; job is {service_pb2.JobState.Name(job.state)}: {job.message}"
        time.sleep(0.1)


def state_name(job: service_pb2.Job) -> str:
    return service_pb2.JobState.Name(job.state)


def watch(stub: service_pb2_grpc.TrainingServiceStub, job_id: str) -> Iterator[service_pb2.JobUpdate]:
    return stub.WatchJob(service_pb2.WatchJobRequest(job_id=job_id), timeout=300)


class ServerProcess:
    """`lc0-train serve` in a subprocess: joined to `ray`, or with its own embedded Ray when None."""

    def __init__(self, tmp: Path, ray: RayCluster | None, *extra: str):
        self.port_file = tmp / "port"
        self.port_file.unlink(missing_ok=True)
        args = [sys.executable, "-m", "service.cli", "serve", "--address", "127.0.0.1:0", "--port-file", str(self.port_file),
                "--storage", str(tmp / "storage"), "--db", str(tmp / "state" / "jobs.sqlite3"), "--poll-interval", "0.2",
                "--data-root", str(TEST_DATA_ROOTS[0]), *extra]
        if ray is not None:
            args += ["--ray-address", ray.address]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(tmp / "server.log", "ab"))
        deadline = time.monotonic() + 120
        while not self.port_file.exists():
            assert self.process.poll() is None, (tmp / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port_file.read_text()}")
        self.stub = service_pb2_grpc.TrainingServiceStub(self.channel)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.channel.close()
        self.process.send_signal(sig)
        return self.process.wait(timeout=60)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayCluster:
    """A local Ray head started with `ray start --block` in its own process group.

    Started outside the test process because ray.init() would fork the (multithreaded,
    JAX-importing) pytest process; with its own ports so it never meets another cluster on
    this machine; stopped by signalling only the processes it started.
    """

    def __init__(self) -> None:
        self.address = f"127.0.0.1:{_free_port()}"
        self.process = _ray_start(["--head", "--num-cpus=4", "--include-dashboard=false", f"--port={self.address.rsplit(':', 1)[1]}",
                                   f"--ray-client-server-port={_free_port()}"])

    def add_node(self, num_cpus: int, *flags: str, labels: dict[str, str] | None = None) -> subprocess.Popen:
        """Starts another node (a "host") of this cluster on this machine; stop it with `stop_node`.

        `flags` go to `ray start` (`--num-gpus=2`, `--resources=JSON`); `labels` are set as an
        autoscaler sets them (RAY_OVERRIDE_LABELS), which may also set Ray's own `ray.io/` ones.
        """
        env = {"RAY_OVERRIDE_LABELS": json.dumps(labels)} if labels else {}
        return _ray_start([f"--address={self.address}", f"--num-cpus={num_cpus}", *flags], env)

    @staticmethod
    def stop_node(process: subprocess.Popen) -> None:
        process.terminate()  # `ray start --block` stops the processes it started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of ours left in its session
        process.wait(timeout=10)

    def connect(self) -> None:
        import ray

        from service._internal.scheduler import NAMESPACE

        deadline = time.monotonic() + 120
        while True:
            try:
                ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False)
                return
            except ConnectionError:
                assert self.process.poll() is None, "ray start exited"
                assert time.monotonic() < deadline, "the Ray head did not come up"
                time.sleep(1)

    def stop(self) -> None:
        import ray

        ray.shutdown()
        self.stop_node(self.process)


def loopback_node_flags() -> list[str]:
    """`ray start` flags that keep a node on loopback with free ports, away from other clusters on this machine."""
    ports = {"--dashboard-agent-listen-port": _free_port(), "--dashboard-agent-grpc-port": _free_port(),
             "--runtime-env-agent-port": _free_port(), "--metrics-export-port": _free_port()}
    return ["--node-ip-address=127.0.0.1", *(f"{flag}={value}" for flag, value in ports.items())]


def ray_environment() -> dict[str, str]:
    """The environment of processes that join the test cluster: a throwaway loopback cluster without token auth."""
    return dict(os.environ, RAY_AUTH_MODE="disabled", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def _ray_start(flags: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """`ray start --block` on loopback with free ports, in its own process group."""
    args = [str(Path(sys.executable).parent / "ray"), "start", "--block", "--disable-usage-stats", *loopback_node_flags(), *flags]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**ray_environment(), **(env or {})})


_CLUSTER: list[RayCluster] = []


def start_ray() -> RayCluster:
    """One Ray cluster per test session (4 logical CPUs: jobs of one CPU can overlap)."""
    import atexit

    import ray

    if not _CLUSTER:
        cluster = RayCluster()
        _CLUSTER.append(cluster)
        atexit.register(cluster.stop)
    if not ray.is_initialized():
        _CLUSTER[0].connect()
    return _CLUSTER[0]
