"""`lc0-train`: the entry point, and the control plane's commands (serve, submit, status, list,
cancel, watch).

`main` is the composition root: it registers the trainer's commands (`workers.cli`) beside
the service's, so the trainer package never imports the control plane. Clients find the
server with `--server HOST:PORT` or `$LC0_TRAIN_SERVER`. Exit codes: 0 success, 1 the job
failed or the call failed, 2 invalid input.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any, Sequence

import grpc

from lc0train import service_pb2
from workers import malloc
from workers.cli import register as register_trainer_commands
from workers.config.problems import ConfigError
from workers.config.resolve import DATA_PATH_FIELDS

log = logging.getLogger(__name__)



def main(argv: Sequence[str] | None = None) -> int:
    """Runs one `lc0-train` command; a `ConfigError` exits 2 naming the offending field path."""
    if argv is None:  # the command itself, not a call from Python: re-exec with tcmalloc (workers/malloc.py)
        malloc.reexec_with_tcmalloc()
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def parser() -> argparse.ArgumentParser:
    """The `lc0-train` command line (tests check the deploy files' commands against it)."""
    root = argparse.ArgumentParser(prog="lc0-train", description="Train Leela Chess Zero networks on JAX.")
    root.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = root.add_subparsers(dest="command", required=True)
    register_trainer_commands(commands)  # run, gen-data, data, net, config
    register(commands)  # serve, submit, status, list, cancel, watch
    return root


def register(commands: Any) -> None:
    """Adds the service commands to an argparse subparsers object."""
    serve = commands.add_parser("serve", help="run the control plane (gRPC TrainingService + Ray scheduler)")
    serve.add_argument("--address", default="127.0.0.1:50051", help="HOST:PORT to listen on (port 0 picks one)")
    serve.add_argument("--storage", type=Path, default=Path("runs/service"), help="shared storage root of the job directories")
    serve.add_argument("--db", type=Path, default=_default_db(), help="job database on this machine's local disk")
    serve.add_argument("--data-root", type=Path, action="append", dest="data_roots", metavar="DIR",
                       help="a directory that dataset and init_from paths may point into (repeatable); the storage root is "
                            "always allowed; default: the server's working directory")
    serve.add_argument("--ray-address", help="join this Ray cluster (default: start Ray in-process)")
    cache = serve.add_mutually_exclusive_group()
    cache.add_argument("--compile-cache", type=Path, metavar="DIR",
                       help="the workers' shared persistent compilation cache, on storage every host sees "
                            "(default: <storage>/compile_cache)")
    cache.add_argument("--no-compile-cache", action="store_true", help="every attempt compiles afresh")
    serve.add_argument("--metrics-port", type=int, help="serve Prometheus /metrics on this port")
    serve.add_argument("--metrics-retention", type=float, default=900.0,
                       help="seconds an ended job's series stay in /metrics (default 900)")
    serve.add_argument("--cpus-per-host", type=float, default=1.0,
                       help="CPUs reserved per host of a job (GPUs and TPU chips come from its resources.accelerator)")
    serve.add_argument("--autoscaling", action="store_true",
                       help="the Ray cluster adds nodes on demand: queue jobs no node can hold yet instead of refusing them")
    serve.add_argument("--max-restarts", type=int, default=3, help="default worker-death budget of a job")
    serve.add_argument("--max-preemptions", type=int, default=20, help="default preemption budget of a job")
    serve.add_argument("--poll-interval", type=float, default=1.0, help="controller tick, seconds")
    serve.add_argument("--heartbeat-timeout", type=float, default=60.0, help="an unanswered worker poll after this is a frozen worker")
    serve.add_argument("--progress-timeout", type=float, default=1800.0, help="no trainer report for this long is a hung worker")
    serve.add_argument("--auth-token-file", type=Path, help="require 'authorization: Bearer <token in file>'")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain (with --tls-key)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key (with --tls-cert)")
    serve.add_argument("--port-file", type=Path, help="write the bound port here once serving")
    serve.add_argument("--crash-after", help=argparse.SUPPRESS)  # fault injection for tests: exit after committing this state
    serve.set_defaults(func=_serve)

    def client(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--server", help="HOST:PORT of the control plane (default: $LC0_TRAIN_SERVER or 127.0.0.1:50051)")
        sub.add_argument("--auth-token-file", type=Path, default=_env_path("LC0_TRAIN_TOKEN_FILE"), help="bearer token file")
        sub.add_argument("--tls-ca", type=Path, default=_env_path("LC0_TRAIN_TLS_CA"), help="CA certificate: connect with TLS")
        return sub

    submit = client("submit", "submit a job")
    submit.add_argument("config", type=Path, help="JobSpec textproto")
    submit.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD.PATH=VALUE")
    submit.add_argument("--wait", action="store_true", help="watch the job to its end; exit non-zero unless it succeeds")
    submit.add_argument("--request-id", default="", help="idempotency key (default: a fresh one)")
    submit.add_argument("--priority", type=int, default=0)
    submit.add_argument("--max-restarts", type=int)
    submit.add_argument("--validate-only", action="store_true", help="check the spec on the server; create nothing")
    submit.set_defaults(func=_submit)
    status = client("status", "show a job")
    status.add_argument("job_id")
    status.set_defaults(func=_status)
    listing = client("list", "list jobs")
    listing.add_argument("--state", action="append", default=[], choices=[s for s in service_pb2.JobState.keys() if s != "JOB_STATE_UNSPECIFIED"])
    listing.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
    listing.set_defaults(func=_list)
    cancel = client("cancel", "cancel a job (the workers checkpoint and stop)")
    cancel.add_argument("job_id")
    cancel.add_argument("--no-checkpoint", action="store_true")
    cancel.add_argument("--wait", action="store_true", help="wait until the job has stopped")
    cancel.set_defaults(func=_cancel)
    watch = client("watch", "follow a job: progress, throughput, ETA, losses")
    watch.add_argument("job_id")
    watch.set_defaults(func=_watch)


def _default_db() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "lc0-train" / "jobs.sqlite3"


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


# ---- server ------------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    from service._internal.controller import ControllerSettings
    from service._internal.jobs import Budgets
    from service.server import ServerConfig, TrainingServer
    from workers.layout import compile_cache_dir

    logging.getLogger("service").setLevel(logging.INFO)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("error: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    config = ServerConfig(
        storage=args.storage.resolve(), db=args.db.expanduser().resolve(), address=args.address, ray_address=args.ray_address,
        cpus_per_host=args.cpus_per_host, autoscaling=args.autoscaling,
        auth_token=args.auth_token_file.read_text().strip() if args.auth_token_file else None,
        tls_cert=args.tls_cert, tls_key=args.tls_key,
        controller=ControllerSettings(poll_interval=args.poll_interval, heartbeat_timeout=args.heartbeat_timeout,
                                      progress_timeout=args.progress_timeout),
        budgets=Budgets(args.max_restarts, args.max_preemptions),
        metrics_port=args.metrics_port,
        data_roots=None if args.data_roots is None else tuple(root.expanduser().resolve() for root in args.data_roots),
        metrics_retention=args.metrics_retention,
        compile_cache=None if args.no_compile_cache else (args.compile_cache or compile_cache_dir(args.storage)).resolve(),
    )
    crash_after = args.crash_after

    def after_transition(record: Any) -> None:
        if crash_after and record.state.value == crash_after:
            log.warning("--crash-after %s: exiting right after the commit", crash_after)
            os._exit(3)

    async def serve() -> None:
        server = TrainingServer(config, after_transition=after_transition)
        port = await server.start()
        print(f"serving lc0train.TrainingService on port {port}; storage {config.storage}; database {config.db}", flush=True)
        if args.port_file:
            args.port_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.port_file.with_suffix(".tmp")
            tmp.write_text(str(port))
            tmp.replace(args.port_file)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(grace=5)

    asyncio.run(serve())
    return 0


# ---- clients -----------------------------------------------------------------------------

def _stub(args: argparse.Namespace) -> Any:
    from service.client import connect

    return connect(args.server, args.auth_token_file, args.tls_ca)[1]


def _rpc_error(err: grpc.RpcError) -> int:
    print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
    return 2 if err.code() == grpc.StatusCode.INVALID_ARGUMENT else 1


def _absolute_data_paths(spec: Any, base: Path) -> None:
    """Relative dataset and init_from paths are relative to where the client runs, not the server."""
    def absolute(value: str) -> str:
        return str((base / value).resolve()) if value.strip() and not value.startswith(("/", "~", "gs://", "s3://")) else value
    for name in DATA_PATH_FIELDS:
        field = getattr(spec.dataset, name)
        field[:] = [absolute(value) for value in field]
    if spec.init_from.path:
        spec.init_from.path = absolute(spec.init_from.path)


def _submit(args: argparse.Namespace) -> int:
    from service.client import render_job
    from workers.config.spec import load_spec

    spec = load_spec(args.config, args.overrides)
    _absolute_data_paths(spec, Path.cwd())
    request = service_pb2.SubmitJobRequest(spec=spec, request_id=args.request_id or uuid.uuid4().hex, priority=args.priority,
                                           validate_only=args.validate_only)
    if args.max_restarts is not None:
        request.max_restarts = args.max_restarts
    stub = _stub(args)
    try:
        response = stub.SubmitJob(request)
    except grpc.RpcError as err:
        return _rpc_error(err)
    if args.validate_only:
        print(f"{args.config}: valid")
        return 0
    print(f"submitted {response.job.job_id}" + ("" if response.created else " (already submitted with this request id)"))
    if not args.wait:
        return 0
    return _follow(stub, response.job.job_id, render_job)


def _follow(stub: Any, job_id: str, render: Any) -> int:
    from service.client import state_name, watch_job

    try:
        job = watch_job(stub, job_id)
    except grpc.RpcError as err:
        return _rpc_error(err)
    print(render(job))
    for label, path in _outputs(Path(job.job_dir)):
        print(f"{label:<11} {path}")
    return 0 if state_name(job.state) == "SUCCEEDED" else 1


def _outputs(job_dir: Path) -> list[tuple[str, Path]]:
    """Where a job's results are: its checkpoints (and the latest), the latest exported networks, events."""
    from workers.layout import NET_SUFFIX, SWA_SUFFIX, JobPaths

    paths = JobPaths(job_dir)
    outputs = [("checkpoints", paths.checkpoints)]
    steps = sorted(int(p.name) for p in paths.checkpoints.iterdir() if p.name.isdigit()) if paths.checkpoints.is_dir() else []
    if steps:
        outputs.append(("latest", paths.checkpoint(steps[-1])))
    nets = {net: int(net.name.removesuffix(NET_SUFFIX).removesuffix(SWA_SUFFIX)) for net in paths.nets.glob("*" + NET_SUFFIX)}
    if nets:
        newest = max(nets.values())
        outputs += [("network", net) for net in (paths.net(newest), paths.net(newest, swa=True)) if net in nets]
    outputs.append(("events", paths.events))
    return outputs


def _status(args: argparse.Namespace) -> int:
    from service.client import render_job

    try:
        job = _stub(args).GetJob(service_pb2.GetJobRequest(job_id=args.job_id, omit_spec=True))
    except grpc.RpcError as err:
        return _rpc_error(err)
    print(render_job(job))
    return 0


def _list(args: argparse.Namespace) -> int:
    from service.client import state_name

    stub, token, shown = _stub(args), "", 0
    states = [service_pb2.JobState.Value(s) for s in args.state]
    print(f"{'JOB':<28} {'STATE':<11} {'STEP':>14}  MESSAGE")
    while True:
        try:
            page = stub.ListJobs(service_pb2.ListJobsRequest(states=states, page_size=100, page_token=token))
        except grpc.RpcError as err:
            return _rpc_error(err)
        for job in page.jobs:
            print(f"{job.job_id:<28} {state_name(job.state):<11} {f'{job.step}/{job.total_steps}':>14}  {job.message[:60]}")
            shown += 1
            if args.limit and shown >= args.limit:
                return 0
        token = page.next_page_token
        if not token:
            return 0


def _cancel(args: argparse.Namespace) -> int:
    from service.client import render_job

    stub = _stub(args)
    try:
        job = stub.CancelJob(service_pb2.CancelJobRequest(job_id=args.job_id, skip_checkpoint=args.no_checkpoint))
    except grpc.RpcError as err:
        return _rpc_error(err)
    if args.wait:
        return 0 if _follow(stub, args.job_id, render_job) in (0, 1) else 1
    print(f"cancel requested for {job.job_id}")
    return 0


def _watch(args: argparse.Namespace) -> int:
    from service.client import render_job

    return _follow(_stub(args), args.job_id, render_job)


if __name__ == "__main__":
    sys.exit(main())
