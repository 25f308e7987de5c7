"""Control-plane benchmark: restart-to-first-step, submit-to-first-step and GetJob latency under load.

Starts a real server (embedded Ray, in-process) on loopback with the workers' compilation
cache in <storage>/compile_cache (empty at the start), then
1. submits the shipped tiny job, shrunk, preempts its worker after the first step (SIGTERM:
   checkpoint and stop) and lets the controller start attempt 2; prints each attempt's
   restart-to-first-step time (the actor's start → its first completed step, from the
   trainer's first train report), the cold/warm ratio and the cache hits;
2. submits it `--jobs` times in a row and times submit → RUNNING (actor up, trainer
   initialised) → first train report (the first step; the cache is warm by now);
3. runs `--clients` concurrent clients, each on its own channel, calling GetJob in a loop
   for `--seconds` while a job trains, and reports p50/p99 latency and calls/s.

    python bench/service.py [--jobs 3] [--clients 50] [--seconds 10] [--no-compile-cache] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc

from lc0train import service_pb2, service_pb2_grpc
from service._internal.controller import ControllerSettings
from service.server import ServerConfig, TrainingServer
from tests.helpers import SHRINK, TINY_CONFIG  # the shipped example, shrunk
from workers.config.spec import load_spec
from workers.layout import compile_cache_dir


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _spec(data: Path, steps: int) -> service_pb2.SubmitJobRequest:
    spec = load_spec(TINY_CONFIG, [*SHRINK, f"dataset.input_train={data / 'train'}", f"dataset.input_test={data / 'test'}",
                                   f"training.total_steps={steps}", "training.train_avg_report_steps=1",
                                   "training.test_steps=1000000", "training.checkpoint_steps=0"])
    return service_pb2.SubmitJobRequest(spec=spec)


def submit_latency(stub: service_pb2_grpc.TrainingServiceStub, data: Path) -> dict[str, float]:
    started = time.perf_counter()
    job = stub.SubmitJob(_spec(data, 20)).job
    submitted = time.perf_counter()
    running = first_step = None
    for update in stub.WatchJob(service_pb2.WatchJobRequest(job_id=job.job_id)):
        now = time.perf_counter()
        if update.HasField("job") and update.job.state == service_pb2.RUNNING and running is None:
            running = now
        if update.event.kind == "train" and first_step is None:
            first_step = now
    return {"submit_rpc_s": submitted - started, "to_running_s": (running or first_step) - started,
            "to_first_step_s": first_step - started}


def restart_to_first_step(stub: service_pb2_grpc.TrainingServiceStub, data: Path) -> list[dict[str, float]]:
    """Attempt 1 and 2 of one job (preempted after its first step): each attempt's start-up report."""
    from service._internal.scheduler import worker_pid
    from workers.events import read_events

    job = stub.SubmitJob(_spec(data, 1_000_000)).job
    events = Path(job.job_dir) / "events.jsonl"

    def first_steps() -> list[dict]:
        """The first train report of each attempt so far (an attempt's reports begin with its RUNNING report)."""
        reports: list[dict] = []
        attempts = 0
        for event in read_events(events) if events.exists() else []:
            if event["kind"] == "state" and event.get("state") == "RUNNING":
                attempts += 1
            elif event["kind"] == "train" and len(reports) < attempts:
                reports.append(event)
        return reports

    def wait_for_attempts(count: int) -> list[dict]:
        deadline = time.monotonic() + 600
        while len(reports := first_steps()) < count:
            assert time.monotonic() < deadline, f"attempt {count} reported no step"
            time.sleep(0.2)
        return reports

    wait_for_attempts(1)
    os.kill(worker_pid(job.job_id, 1) or 0, signal.SIGTERM)  # a preemption: checkpoint, stop, restart
    reports = wait_for_attempts(2)
    stub.CancelJob(service_pb2.CancelJobRequest(job_id=job.job_id, skip_checkpoint=True))
    while stub.GetJob(service_pb2.GetJobRequest(job_id=job.job_id)).state != service_pb2.CANCELLED:
        time.sleep(0.2)
    return [{"startup_s": r["startup_seconds"], "cache_hits": sum(r.get("compile_cache_hits", [])),
             "cache_misses": sum(r.get("compile_cache_misses", []))} for r in reports]


def get_job_load(port: int, job_id: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    barrier = threading.Barrier(clients)

    def client(i: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = service_pb2_grpc.TrainingServiceStub(channel)
            request = service_pb2.GetJobRequest(job_id=job_id)
            stub.GetJob(request)  # connect before the clock starts
            barrier.wait()
            end = time.perf_counter() + seconds
            while (now := time.perf_counter()) < end:
                stub.GetJob(request)
                latencies[i].append(time.perf_counter() - now)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [x for per_client in latencies for x in per_client]
    return {"clients": clients, "calls": len(flat), "calls_per_s": len(flat) / seconds,
            "p50_ms": 1000 * _percentile(flat, 0.50), "p99_ms": 1000 * _percentile(flat, 0.99),
            "max_ms": 1000 * max(flat)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-compile-cache", action="store_true", help="the workers compile every program afresh")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from workers.data.writer import write_games

    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    write_games(tmp / "data" / "train", num_games=12, seed=1, max_plies=80)
    write_games(tmp / "data" / "test", num_games=3, seed=2, max_plies=80)
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    async def make() -> TrainingServer:
        return TrainingServer(ServerConfig(storage=tmp / "storage", db=tmp / "state" / "jobs.sqlite3", address="127.0.0.1:0",
                                           controller=ControllerSettings(poll_interval=0.1), watch_poll_interval=0.1,
                                           data_roots=(tmp / "data",),
                                           compile_cache=None if args.no_compile_cache else compile_cache_dir(tmp / "storage")))

    server = asyncio.run_coroutine_threadsafe(make(), loop).result()
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = service_pb2_grpc.TrainingServiceStub(channel)
    results: dict = {"restart_to_first_step": restart_to_first_step(stub, tmp / "data")}
    results["submit_to_first_step"] = [submit_latency(stub, tmp / "data") for _ in range(args.jobs)]
    background = stub.SubmitJob(_spec(tmp / "data", 1_000_000)).job  # a job training during the load test
    while stub.GetJob(service_pb2.GetJobRequest(job_id=background.job_id)).state != service_pb2.RUNNING:
        time.sleep(0.2)
    results["get_job_under_load"] = get_job_load(port, background.job_id, args.clients, args.seconds)
    stub.CancelJob(service_pb2.CancelJobRequest(job_id=background.job_id, skip_checkpoint=True))
    while stub.GetJob(service_pb2.GetJobRequest(job_id=background.job_id)).state != service_pb2.CANCELLED:
        time.sleep(0.2)
    channel.close()
    asyncio.run_coroutine_threadsafe(server.stop(grace=1), loop).result()
    if args.json:
        print(json.dumps(results))
    else:
        cold, warm = results["restart_to_first_step"]
        cache = ("off", "", "") if args.no_compile_cache else (
            "on", f" ({cold['cache_misses']} compilations)", f" ({warm['cache_hits']} cache hits, {warm['cache_misses']} compilations)")
        print(f"restart → first step (actor start → first step), compilation cache {cache[0]}: "
              f"attempt 1 {cold['startup_s']:.2f} s{cache[1]}, attempt 2 {warm['startup_s']:.2f} s{cache[2]}; "
              f"attempt 1 / attempt 2 = {cold['startup_s'] / warm['startup_s']:.1f}")
        for i, r in enumerate(results["submit_to_first_step"]):
            print(f"job {i}: submit rpc {1000 * r['submit_rpc_s']:.1f} ms, → RUNNING {r['to_running_s']:.2f} s, "
                  f"→ first step {r['to_first_step_s']:.2f} s")
        first = [r["to_first_step_s"] for r in results["submit_to_first_step"]]
        print(f"submit → first step: median {statistics.median(first):.2f} s")
        load = results["get_job_under_load"]
        print(f"GetJob, {load['clients']} concurrent clients: p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms, "
              f"max {load['max_ms']:.1f} ms, {load['calls_per_s']:.0f} calls/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
