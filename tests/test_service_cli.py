"""`lc0-train submit | status | list | watch | cancel` against a real server (subprocess clients)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from tests.service_harness import RunningServer, server_config, start_ray


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    start_ray()
    running = RunningServer(server_config(tmp_path_factory.mktemp("service-cli")))
    yield running
    running.close()


def _cli(server: RunningServer, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC0_TRAIN_SERVER=f"127.0.0.1:{server.port}")
    return subprocess.run([sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def _sets(*overrides: str) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


@pytest.mark.slow
def test_submit_wait_status_list_watch(server: RunningServer, generated_data: dict[str, Path]) -> None:
    overrides = [*SHRINK, *data_overrides(generated_data), "training.total_steps=10", "training.train_avg_report_steps=5",
                 "training.test_steps=1000", "training.checkpoint_steps=0"]
    done = _cli(server, "submit", str(TINY_CONFIG), *_sets(*overrides, "export.enabled=true"), "--wait")
    assert done.returncode == 0, done.stderr[-3000:]
    job_id = done.stdout.split("submitted ", 1)[1].split()[0]
    job_dir = server.config.storage / job_id
    assert "SUCCEEDED" in done.stdout
    printed = dict(line.split(None, 1) for line in done.stdout.splitlines()[-4:])  # where the results are
    assert printed == {"checkpoints": str(job_dir / "checkpoints"), "latest": str(job_dir / "checkpoints" / "10"),
                       "network": str(job_dir / "nets" / "10.pb.gz"), "events": str(job_dir / "events.jsonl")}, done.stdout
    assert (job_dir / "nets" / "10.pb.gz").is_file()
    assert "pos/s" in done.stdout  # the progress line with throughput
    assert (server.config.storage / job_id / "checkpoints" / "10").is_dir()

    status = _cli(server, "status", job_id)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout and "10 / 10" in status.stdout
    listing = _cli(server, "list", "--state", "SUCCEEDED")
    assert listing.returncode == 0 and job_id in listing.stdout
    watched = _cli(server, "watch", job_id)  # an ended job: the stream ends at once
    assert watched.returncode == 0 and "SUCCEEDED" in watched.stdout

    # A job whose training data is missing fails on the worker: --wait exits 1 with the cause.
    empty = server.config.storage.parent / "empty"
    empty.mkdir()
    failing = [*overrides, f"dataset.input_train={empty}"]
    failed = _cli(server, "submit", str(TINY_CONFIG), *_sets(*failing), "--wait")
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert "FAILED" in failed.stdout and "trainer error" in failed.stdout

    # Invalid input is refused by the server with the field path: exit code 2.
    invalid = _cli(server, "submit", str(TINY_CONFIG), *_sets(*overrides, "training.total_steps=-5"))
    assert invalid.returncode == 2 and "training.total_steps" in invalid.stderr
    missing = _cli(server, "status", "no-such-job")
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
