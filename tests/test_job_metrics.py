"""Job series from report streams: goodput arithmetic, update-ratio summaries, raw/SWA, bounded series.

Reports are written to real events.jsonl files and read through a real JobStore (SQLite);
the exposition is served by prometheus_client's HTTP server and checked by promtool.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, start_http_server

from lc0train import job_pb2
from service._internal.goodput import GoodputLedger, Transition
from service._internal.metrics import JobMetrics
from service._internal.state import JobState
from service._internal.store import JobStore, NewJob
from tests.metrics_helpers import exposition, scrape
from tests.prometheus_harness import promtool
from workers.training.phases import PhaseClock

T0 = 1_800_000_000.0  # a fixed Unix time: the reports' clock


def report(kind: str, step: int, at: float, metrics: dict | None = None, **info: object) -> dict:
    stamp = datetime.datetime.fromtimestamp(T0 + at, datetime.timezone.utc).isoformat()
    return {"time": stamp, "step": step, "kind": kind, "metrics": metrics or {}, **info}


def history(*steps: tuple[float, JobState, str]) -> list[Transition]:
    return [Transition(T0 + at, state, reason) for at, state, reason in steps]


def test_phase_clock_counts_every_second_in_exactly_one_phase() -> None:
    now = [0.0]
    clock = PhaseClock("step", clock=lambda: now[0])
    now[0] = 2.0
    with clock.phase("data_wait"):
        now[0] = 2.5
        with clock.phase("compilation"):
            now[0] = 10.0
        now[0] = 11.0
    now[0] = 14.0
    assert clock.totals() == {"step": 5.0, "data_wait": 1.5, "compilation": 7.5}
    assert sum(clock.totals().values()) == now[0]


def test_goodput_splits_a_queued_compiled_and_cleanly_ended_job() -> None:
    ledger = GoodputLedger()
    ledger.observe(report("state", 0, 15.0, state="RUNNING"))  # launched at 10: 5 s of start-up
    ledger.observe(report("train", 10, 40.0, phase_seconds={"compilation": 8.0, "step": 12.0, "data_wait": 3.0, "evaluation": 2.0}))
    ledger.observe(report("state", 10, 41.0, state="SUCCEEDED",
                          phase_seconds={"compilation": 8.0, "step": 12.0, "data_wait": 3.0, "evaluation": 2.0, "checkpoint": 1.0}))
    account = ledger.account(history((0, JobState.QUEUED, "submitted"), (10, JobState.STARTING, "placed"),
                                     (16, JobState.RUNNING, "running"), (43, JobState.SUCCEEDED, "finished")), now=T0 + 1000)
    assert account.productive == 12.0
    assert {k: v for k, v in account.badput.items() if v} == {
        "queued": 10.0, "training_prep": 5.0, "program_startup": 8.0, "data_loading": 3.0, "evaluation": 2.0,
        "checkpoint_save": 1.0, "other": 2.0}  # the phases cover the 26 s of reports; 2 s from the last report to the end
    assert account.total == pytest.approx(43.0)


def test_goodput_counts_redone_steps_and_the_gap_of_a_restart_as_wasted_progress() -> None:
    # Before the restart is known, the step time after the checkpoint is not counted yet, so no total ever goes down.
    ledger = GoodputLedger()
    ledger.observe(report("state", 0, 5.0, state="RUNNING"))
    ledger.observe(report("checkpoint", 60, 40.0, phase_seconds={"step": 30.0, "checkpoint": 5.0}))
    ledger.observe(report("train", 100, 55.0, phase_seconds={"step": 45.0, "checkpoint": 5.0}))
    running = ledger.account(history((0, JobState.QUEUED, "submitted"), (0, JobState.STARTING, "placed"),
                                     (6, JobState.RUNNING, "running")), now=T0 + 56)
    assert running.productive == 30.0 and running.total == pytest.approx(55.0 - 15.0)
    # Then the worker is killed.
    ledger.observe(report("state", 60, 70.0, state="RUNNING"))  # relaunched at 62, resumed from step 60
    ledger.observe(report("state", 100, 90.0, state="SUCCEEDED", phase_seconds={"step": 20.0}))
    account = ledger.account(history((0, JobState.QUEUED, "submitted"), (0, JobState.STARTING, "placed"),
                                     (6, JobState.RUNNING, "running"),
                                     (62, JobState.RESTARTING, "worker died; restart 1/3, resuming from the latest checkpoint"),
                                     (71, JobState.RUNNING, "running"), (90, JobState.SUCCEEDED, "finished")), now=T0 + 1000)
    redone = 45.0 - 30.0  # the step time after the checkpoint of step 60: those steps are trained again
    assert account.productive == pytest.approx(30.0 + 20.0)
    assert account.badput["wasted_progress_restart"] == pytest.approx(62 - 55 + redone)
    assert account.badput["wasted_progress_preemption"] == 0.0
    assert account.badput["training_prep"] == pytest.approx(5.0 + 8.0)
    assert account.total == pytest.approx(90.0)


def test_goodput_of_a_preemption_and_of_an_attempt_that_never_started() -> None:
    ledger = GoodputLedger()
    ledger.observe(report("state", 0, 2.0, state="RUNNING"))
    ledger.observe(report("checkpoint", 30, 19.5, phase_seconds={"step": 15.0, "checkpoint": 2.5}))  # written on SIGTERM
    ledger.observe(report("state", 30, 20.0, state="PREEMPTED", phase_seconds={"step": 15.0, "checkpoint": 3.0}))
    account = ledger.account(history((0, JobState.QUEUED, "submitted"), (1, JobState.STARTING, "placed"),
                                     (21, JobState.RESTARTING, "preempted (SIGTERM) at step 30; preemption 1/5, resuming"),
                                     (50, JobState.FAILED, "workers did not answer")), now=T0 + 1000)
    assert account.badput["wasted_progress_preemption"] == pytest.approx(1.0)  # checkpointed at the last step: nothing redone
    assert account.badput["training_prep"] == pytest.approx(1.0 + 29.0)  # the second attempt never reported
    assert account.productive == 15.0 and account.total == pytest.approx(50.0)


def _job(store: JobStore, directory: Path, events: list[dict], end: JobState | None) -> str:
    spec = job_pb2.JobSpec(name="m")
    spec.training.batch_size = 16
    record, _ = store.create(NewJob("m", spec.SerializeToString(), 100, 0, 3, 3))
    store.transition(record.job_id, JobState.QUEUED, JobState.STARTING, "placed", attempt=1)
    store.transition(record.job_id, JobState.STARTING, JobState.RUNNING, "running")
    if end is not None:
        store.transition(record.job_id, JobState.RUNNING, end, "ended")
    (directory / record.job_id).mkdir(parents=True)
    (directory / record.job_id / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return record.job_id


def _reports(rng: np.random.Generator) -> list[dict]:
    """A run's reports: update ratios of 60 parameters in 5 layers, raw and SWA tests, a checkpoint."""
    layers = ["embedding", "encoder", "policy", "value", "moves_left"]
    ratios = {f"update_ratio/{layers[i % 5]}/p{i}/kernel": float(rng.uniform(1e-4, 1e-1)) for i in range(60)}
    ratios["update_ratio/encoder/zero_init/bias"] = -1.0  # a parameter whose norm was 0
    return [
        report("state", 0, 0.0, state="RUNNING"),
        report("test", 0, 1.0, {"total_loss": 5.0, "policy_accuracy": 0.1}, weights="raw", phase_seconds={"evaluation": 1.0}),
        report("test", 0, 1.5, {"total_loss": 4.5, "policy_accuracy": 0.2}, weights="swa", phase_seconds={"evaluation": 1.5}),
        report("train", 10, 5.0, {"total_loss": 4.0, "nonfinite_steps": 2.0, "swa_count": 3.0, **ratios},
               phase_seconds={"evaluation": 1.5, "step": 3.5}),
        report("checkpoint", 10, 6.0, {"checkpoint_save_seconds": 0.5, "skipped_files": 1.0},
               phase_seconds={"evaluation": 1.5, "step": 3.5, "checkpoint": 1.0}),
    ]


def _series_count(port: int) -> int:
    return len(scrape(port))


def test_job_series_summarise_update_ratios_keep_raw_and_swa_apart_and_expire(tmp_path: Path) -> None:
    now = [T0 + 100.0]
    registry = CollectorRegistry()
    metrics = JobMetrics(registry, retention=600.0, clock=lambda: now[0])
    store = JobStore(tmp_path / "jobs.sqlite3")
    reports = _reports(np.random.default_rng(0))
    server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
    port = server.server_port
    try:
        first = _job(store, tmp_path / "jobs", reports, None)
        metrics.update(store.get(first), tmp_path / "jobs" / first / "events.jsonl", lambda: store.history(first))
        samples = scrape(port)
        promtool("check", "metrics", stdin=exposition(port))
        one_job = _series_count(port)

        ratios = {k: v for k, v in reports[3]["metrics"].items() if k.startswith("update_ratio/")}
        for layer in ("embedding", "encoder", "policy", "value", "moves_left"):
            values = np.array([v for k, v in ratios.items() if k.split("/")[1] == layer and v >= 0])
            for stat, expected in (("min", values.min()), ("median", np.median(values)), ("max", values.max())):
                key = ("lc0_train_update_ratio", (("job", first), ("layer", layer), ("stat", stat)))
                assert samples[key] == pytest.approx(expected)
        assert len([k for k in samples if k[0] == "lc0_train_update_ratio"]) == 15  # not 61
        loss = {dict(labels)["weights"]: value for (name, labels), value in samples.items()
                if name == "lc0_train_loss" and dict(labels)["split"] == "test"}
        assert loss == {"raw": 5.0, "swa": 4.5}
        job = (("job", first),)
        assert samples[("lc0_train_steps_total", job)] == 10 and samples[("lc0_train_positions_total", job)] == 160
        assert samples[("lc0_train_nonfinite_steps_total", job)] == 2 and samples[("lc0_train_skipped_chunks_total", job)] == 1
        assert samples[("lc0_train_swa_snapshots", job)] == 3 and samples[("lc0_train_checkpoints_total", job)] == 1

        # 50 more jobs run and end; once their retention has passed, the series are those of one job again.
        ended = [_job(store, tmp_path / "jobs", reports, JobState.SUCCEEDED) for _ in range(50)]
        for job_id in ended:
            metrics.update(store.get(job_id), tmp_path / "jobs" / job_id / "events.jsonl", lambda job_id=job_id: store.history(job_id))
        assert _series_count(port) > 40 * one_job
        now[0] += 599.0
        metrics.prune()
        assert _series_count(port) > 40 * one_job  # still within retention: Prometheus can scrape their final values
        now[0] += 2.0
        metrics.prune()
        assert _series_count(port) == one_job
        assert not any(dict(labels).get("job") in ended for _, labels in scrape(port))
    finally:
        server.shutdown()
        server.server_close()
        store.close()

