"""Continuous training through `lc0-train run` (configs/continuous.textproto): games arrive in
batches, each batch starts one network on the newest-chunk window, the worker is SIGKILLed
mid-network and restarted, and Ctrl-C checkpoints and stops."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.config.problems import ConfigError
from workers.config.resolve import resolve
from workers.config.spec import apply_override, load_spec
from workers.data.window import Anchor
from workers.events import read_events
from workers.training.continuous import Cycle, resume_cycle

ROOT = Path(__file__).resolve().parents[1]
GAMES = sorted((ROOT / "tests" / "data" / "lc0-selfplay").glob("*.gz"))
STEPS_PER_NETWORK = 3
BATCH = 3  # games per batch = chunks_per_network
WINDOW = 4  # dataset.num_chunks


def overrides(tmp_path: Path) -> list[str]:
    settings = {
        "dataset.input_train": tmp_path / "games", "dataset.input_test": tmp_path / "test",
        "dataset.num_chunks": WINDOW, "continuous.chunks_per_network": BATCH,
        "continuous.steps_per_network": STEPS_PER_NETWORK, "continuous.poll_interval_s": 0.2,
        "training.batch_size": 8, "training.shuffle_size": 64, "training.num_test_positions": 8,
        "training.train_avg_report_steps": 1, "training.checkpoint_steps": 1, "training.max_to_keep": 3,
        "export.destination": tmp_path / "selfplay" / "{job}-{network}.pb.gz",
    }
    return [arg for name, value in settings.items() for arg in ("--set", f"{name}={value}")]


def start(tmp_path: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "service.cli", "run", str(ROOT / "configs" / "continuous.textproto"),
               *overrides(tmp_path), "--out", str(tmp_path / "job")]
    log = (tmp_path / "run.log").open("ab")
    return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})


def add_games(tmp_path: Path, first: int) -> None:
    for game in range(first, first + BATCH):
        target = tmp_path / "games" / f"training.{game}.gz"
        shutil.copyfile(GAMES[game % len(GAMES)], target.with_suffix(".tmp"))
        target.with_suffix(".tmp").rename(target)  # a self-play client's atomic upload


def events(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    path = tmp_path / "job" / "events.jsonl"
    return [e for e in read_events(path) if e["kind"] == kind] if path.exists() else []


def wait_for(tmp_path: Path, process: subprocess.Popen[bytes], what: str, ready: Callable[[], bool],
             timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"lc0-train run exited ({process.returncode}) waiting for {what}:\n"
                        + (tmp_path / "run.log").read_text()[-3000:])
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}:\n" + (tmp_path / "run.log").read_text()[-3000:])
        time.sleep(0.2)


def waiting_for(tmp_path: Path, network: int, new_chunks: int) -> bool:
    return any(e["phase"] == "waiting" and e["network"] == network and e["new_chunks"] == new_chunks
               for e in events(tmp_path, "cycle"))


def published(tmp_path: Path) -> list[tuple[int, int]]:
    return [(e["network"], e["step"]) for e in events(tmp_path, "published")]


@pytest.mark.slow
def test_lc0_train_run_continuous_batches_kill_and_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "games").mkdir()
    (tmp_path / "test").mkdir()
    for game in GAMES[:2]:
        shutil.copy(game, tmp_path / "test")
    run = start(tmp_path)
    try:
        wait_for(tmp_path, run, "the first wait", lambda: waiting_for(tmp_path, 1, 0))
        assert not (tmp_path / "job" / "nets").exists()
        add_games(tmp_path, 1)
        wait_for(tmp_path, run, "network 1", lambda: published(tmp_path) == [(1, 3)])
        wait_for(tmp_path, run, "the second wait", lambda: waiting_for(tmp_path, 2, 0))
        add_games(tmp_path, 4)
        # SIGKILL once a checkpoint in the middle of network 2 is committed (Orbax renames it into place).
        wait_for(tmp_path, run, "a mid-network checkpoint", lambda: (tmp_path / "job" / "checkpoints" / "5").is_dir())
        run.kill()
        run.wait()
        assert published(tmp_path) == [(1, 3)]
        add_games(tmp_path, 7)  # arrives while the worker is down
        run = start(tmp_path)
        wait_for(tmp_path, run, "network 3", lambda: (3, 9) in published(tmp_path))
        wait_for(tmp_path, run, "the wait for network 4", lambda: waiting_for(tmp_path, 4, 0))
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=120) == 0
    finally:
        if run.poll() is None:
            run.kill()
    assert published(tmp_path) == [(1, 3), (2, 6), (3, 9)]  # no network repeated or skipped
    nets = tmp_path / "job" / "nets"
    for network, step in ((1, 3), (2, 6), (3, 9)):
        assert (tmp_path / "selfplay" / f"continuous-{network}.pb.gz").read_bytes() == (nets / f"{step}.pb.gz").read_bytes()
    windows = {e["network"]: (e["window_chunks"], Path(e["window_oldest"]).name, Path(e["window_newest"]).name)
               for e in events(tmp_path, "cycle") if e["phase"] == "training"}
    # The oldest games drop out of the window as new ones arrive.
    assert windows == {1: (3, "training.1.gz", "training.3.gz"), 2: (4, "training.3.gz", "training.6.gz"),
                       3: (4, "training.6.gz", "training.9.gz")}
    restarts = [e["step"] for e in events(tmp_path, "state") if e["state"] == "RUNNING"]
    assert len(restarts) == 2 and restarts[1] in (5, 6)  # resumed mid-network 2 (or at its last step)
    train_steps = sorted({e["step"] for e in events(tmp_path, "train")})
    assert train_steps == list(range(1, 10))  # exactly steps_per_network steps per network
    assert events(tmp_path, "state")[-1]["state"] == "CANCELLED"
    started = Cycle.from_json(json.loads((tmp_path / "job" / "cycle.json").read_text()))
    assert (started.network, started.training, started.start_step) == (2, True, 6)  # network 3's start
    assert started.anchor.chunk is not None and started.anchor.chunk.endswith("training.9.gz")


def test_a_network_started_without_a_checkpoint_resumes_on_its_own_anchor() -> None:
    finished_one = Cycle(1, Anchor("/g/training.3.gz"), 3, False, 3)  # network 1's final checkpoint
    started_two = Cycle(1, Anchor("/g/training.6.gz"), 3, True, 3)  # network 2 started from it
    assert resume_cycle(finished_one, started_two, step=3, wait=3) == started_two
    # A checkpoint inside network 2 (or later) already holds the cycle: it wins.
    mid_two = dataclasses.replace(started_two, network=1, training=True)
    assert resume_cycle(mid_two, started_two, step=5, wait=3) == mid_two
    # A recorded start from another state (an older network, another step) is ignored.
    assert resume_cycle(finished_one, dataclasses.replace(started_two, network=0), step=3, wait=3) == finished_one
    assert resume_cycle(finished_one, started_two, step=4, wait=3) == finished_one
    # No checkpoint yet: the first network's recorded start (at step 0) resumes, else a fresh wait.
    first = Cycle(0, Anchor("/g/training.3.gz"), 3, True, 0)
    assert resume_cycle(None, first, step=0, wait=3) == first
    assert resume_cycle(None, None, step=0, wait=3) == Cycle(0, Anchor(), 3, False, 0)


def test_next_wait_keeps_the_average_pace_of_upstreams_rule() -> None:
    spec = load_spec(ROOT / "configs" / "continuous.textproto")
    settings = resolve(spec).continuous
    assert settings is not None and settings.chunks_per_network == 100
    # max(wait + chunks_per_network - used, chunks_per_network / 2), computed by hand:
    assert [settings.next_wait(100, used) for used in (100, 130, 80, 260)] == [100, 70, 120, 50]
    # A network starts on the first poll with enough new chunks, so it usually uses more than it
    # waited for; the rule shortens the next wait by the excess, so over many networks the chunks
    # used per network average chunks_per_network, whatever the arrival rate per poll.
    for per_poll in (7, 37, 130):
        wait, used = 100, []
        for _ in range(400):
            pending = 0
            while pending < wait:
                pending += per_poll
            used.append(pending)
            wait = settings.next_wait(wait, pending)
        if per_poll <= 100:
            assert abs(sum(used) / len(used) - 100) < 2, per_poll
        else:  # arrivals faster than one network per poll: a network per poll, all chunks used
            assert set(used) == {per_poll}


@pytest.mark.parametrize(("override", "field"), [
    ("continuous.steps_per_network=0", "continuous.steps_per_network"),
    ("continuous.chunks_per_network=-1", "continuous.chunks_per_network"),
    ("dataset.num_chunks=0", "dataset.num_chunks"),
    ("continuous.poll_interval_s=0", "continuous.poll_interval_s"),
    ("export.destination=[/nets/{network}.pb.gz, /nets/{nope}.pb.gz]", "export.destination[1]"),
    ("export.upload.max_attempts=0", "export.upload.max_attempts"),
])
def test_continuous_config_errors_name_the_field(override: str, field: str) -> None:
    spec = load_spec(ROOT / "configs" / "continuous.textproto")
    apply_override(spec, "export.upload.url=http://127.0.0.1:9/upload")
    apply_override(spec, override)
    with pytest.raises(ConfigError) as error:
        resolve(spec)
    assert field in [path for path, _ in error.value.problems]
