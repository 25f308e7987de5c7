"""tcmalloc without asking: `lc0-train run` and the service's Ray workers map it; LC0_TRAIN_MALLOC=system keeps it out.

When the library is not installed (`make install` installs it as root), the same runs must
work on glibc malloc and map nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import SHRINK, TINY_CONFIG, data_overrides
from workers import malloc

INSTALLED = malloc.find_tcmalloc() is not None
LC0_TRAIN = Path(sys.executable).parent / "lc0-train"


def _clean_env(**changes: str) -> dict[str, str]:
    """This environment without any preload of ours, plus `changes`."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", malloc.SWITCH, malloc.REEXEC_MARKER)}
    return {**env, **changes}


def _mapped_while_running(tmp_path: Path, data: dict[str, Path], **env: str) -> bool:
    """Starts `lc0-train run` on the tiny config; once it is past its entry point (events file
    written), whether tcmalloc is mapped into that process."""
    out = tmp_path / "job"
    overrides = [f"--set={o}" for o in (*SHRINK, *data_overrides(data), "training.total_steps=100000")]
    process = subprocess.Popen([str(LC0_TRAIN), "run", str(TINY_CONFIG), *overrides, "--out", str(out)],
                               env=_clean_env(**env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (out / "events.jsonl").exists():
            assert process.poll() is None, f"lc0-train run exited {process.returncode}: {process.stderr.read().decode()}"
            assert time.monotonic() < deadline, "lc0-train run wrote no events file"
            time.sleep(0.1)
        return malloc.tcmalloc_loaded(process.pid)
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.mark.slow
def test_lc0_train_run_preloads_tcmalloc_unless_switched_off(tmp_path: Path, generated_data: dict[str, Path]) -> None:
    assert _mapped_while_running(tmp_path / "default", generated_data) is INSTALLED
    assert _mapped_while_running(tmp_path / "system", generated_data, LC0_TRAIN_MALLOC="system") is False


def test_a_bad_switch_value_is_an_error_naming_it() -> None:
    done = subprocess.run([str(LC0_TRAIN), "data", "stats", "/nonexistent"], env=_clean_env(LC0_TRAIN_MALLOC="jemalloc"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "LC0_TRAIN_MALLOC" in done.stderr and "jemalloc" in done.stderr


def test_worker_env_names_the_library_for_each_node_and_keeps_other_preloads(monkeypatch: pytest.MonkeyPatch) -> None:
    env = malloc.worker_env({"LD_PRELOAD": "libother.so"})
    if INSTALLED:
        assert env == {"LD_PRELOAD": f"{malloc.SONAME}:libother.so", "TCMALLOC_RELEASE_RATE": "0"}
    else:
        assert env == {}
    assert malloc.worker_env({malloc.SWITCH: "system"}) == {}
    with pytest.raises(ValueError, match=malloc.SWITCH):
        malloc.worker_env({malloc.SWITCH: "jemalloc"})


def _worker_mapped(scheduler: object, job_id: str) -> bool:
    from service._internal.scheduler import worker_pid
    from workers.config.accelerators import Placement

    deadline = time.monotonic() + 120
    while not scheduler.reserve(job_id, Placement()):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "placement group not ready"
        time.sleep(0.2)
    try:
        scheduler.launch(job_id, 1, Placement(), b"not a JobSpec", "/nonexistent")  # type: ignore[attr-defined]
        pid = worker_pid(job_id, 1, timeout=120)
        assert pid is not None
        return malloc.tcmalloc_loaded(pid)
    finally:
        scheduler.release(job_id, 1, 1)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_service_ray_workers_preload_tcmalloc_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a separately started Ray cluster (as a user's own): only the runtime environment can do it."""
    from service._internal.scheduler import Scheduler
    from tests.service_harness import start_ray

    start_ray()
    scheduler = Scheduler()
    assert _worker_mapped(scheduler, f"malloc-{uuid.uuid4().hex[:8]}") is INSTALLED
    monkeypatch.setenv(malloc.SWITCH, "system")
    assert _worker_mapped(scheduler, f"malloc-{uuid.uuid4().hex[:8]}") is False
