"""Reading a server's real /metrics exposition in tests."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from service._internal.store import JobStore

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def exposition(port: int) -> str:
    """The text of http://127.0.0.1:port/metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return answer.read().decode()


def scrape(port: int) -> Samples:
    """{(sample name, sorted labels): value} of one scrape of http://127.0.0.1:port/metrics."""
    text = exposition(port)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in text_string_to_metric_families(text) for s in family.samples}


def scrape_when_ended(port: int, job_id: str, state: str, timeout: float = 10.0) -> Samples:
    """A scrape taken once the job's series show it in `state` (the controller exports on its next tick)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if samples.get(("lc0_train_job_state", (("job", job_id), ("state", state)))) == 1.0:
            return samples
        assert time.monotonic() < deadline, f"/metrics does not show job {job_id} {state}"
        time.sleep(0.2)


def assert_wall_time_accounted(samples: Samples, store: JobStore, job_id: str, caused: set[str]) -> dict[str, float]:
    """Productive plus badput seconds make up the ended job's wall time (within 2%), each reason in `caused` non-zero."""
    job = (("job", job_id),)
    productive = samples[("lc0_train_productive_seconds_total", job)]
    badput = {dict(labels)["reason"]: value for (name, labels), value in samples.items()
              if name == "lc0_train_badput_seconds_total" and dict(labels)["job"] == job_id}
    history = store.history(job_id)
    wall = history[-1].time - history[0].time  # submission to the recorded end
    assert productive + sum(badput.values()) == pytest.approx(wall, rel=0.02), (productive, badput, wall)
    assert productive > 0
    assert {reason for reason in caused if badput[reason] <= 0} == set(), badput
    assert badput["queued"] == pytest.approx(history[1].time - history[0].time, abs=1e-3)  # QUEUED → STARTING
    return badput
