"""A real Prometheus scrapes a real server running a real job; promtool checks the shipped files.

The dashboard's PromQL is evaluated by Prometheus itself (template variables substituted),
and every value a query returns is compared with the job's own report stream.
"""

from __future__ import annotations

import json
import math
import time
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from lc0train import service_pb2
from tests.prometheus_harness import ROOT, Prometheus, promtool
from tests.service_harness import RunningServer, server_config, start_ray, tiny_spec, wait_for

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "lc0-train.json"
RATE_INTERVAL = "30s"  # what Grafana's $__rate_interval is for a 1 s scrape interval and a short range


def test_promtool_accepts_the_config_and_the_alert_rules_and_their_unit_tests() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")
    assert "SUCCESS: 10 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard's panels."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def expected_series(events: list[dict], job_id: str) -> dict[tuple[str, frozenset], float]:
    """The value each series must have after `events`, computed from the reports alone."""
    expected: dict[tuple[str, frozenset], float] = {}

    def put(series: str, value: float, **labels: str) -> None:
        expected[(series, frozenset({"job": job_id, **labels}.items()))] = value

    for event in events:
        kind, metrics = event["kind"], event["metrics"]
        if kind in ("train", "state"):  # a checkpoint is reported at its commit, when training may be further
            put("lc0_train_step", event["step"])
        if kind in ("train", "test", "validation"):
            weights = event.get("weights", "raw")
            for name, value in metrics.items():
                if name.endswith("_loss"):
                    put("lc0_train_loss", value, split=kind, term=name.removesuffix("_loss"), weights=weights)
            if "policy_accuracy" in metrics:
                put("lc0_train_metric", metrics["policy_accuracy"], split=kind, name="policy_accuracy", weights=weights)
        if kind == "train":
            for name in ("learning_rate", "grad_norm", "loss_scale"):
                put(f"lc0_train_{name}", metrics[name])
            put("lc0_train_positions_per_second", metrics["positions_per_s"])
            put("lc0_train_swa_snapshots", metrics["swa_count"])
            layers: dict[str, list[float]] = {}
            for name, value in metrics.items():
                if name.startswith("update_ratio/") and value >= 0:
                    layers.setdefault(name.split("/")[1], []).append(value)
            for layer, values in layers.items():
                for stat, value in (("min", min(values)), ("median", float(np.median(values))), ("max", max(values))):
                    put("lc0_train_update_ratio", value, layer=layer, stat=stat)
        if kind == "checkpoint":
            put("lc0_train_checkpoint_save_seconds", metrics["checkpoint_save_seconds"])
            put("lc0_train_skipped_chunks_total", metrics["skipped_files"])
    put("lc0_train_job_state", 1.0, state="RUNNING")
    put("lc0_train_restarts_total", 0.0)
    put("lc0_train_preemptions_total", 0.0)
    return expected


@pytest.mark.slow
def test_prometheus_scrapes_a_running_job_and_every_dashboard_query_matches_its_reports(
        tmp_path: Path, generated_data: dict[str, Path]) -> None:
    start_ray()
    server = RunningServer(server_config(tmp_path / "service", metrics_port=0))
    prometheus = None
    spec = tiny_spec(generated_data, "training.total_steps=100000", "training.train_avg_report_steps=5", "training.test_steps=10",
                     "training.checkpoint_steps=10", "training.validation_steps=10", f"dataset.input_validation={generated_data['test']}",
                     "training.swa=true", "training.swa_steps=2", "training.swa_max_n=10", "training.precision=FP16")
    job = server.stub.SubmitJob(service_pb2.SubmitJobRequest(spec=spec)).job
    try:
        prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{server.server.metrics_port}")
        selector = f'{{job="{job.job_id}"}}'
        deadline = time.monotonic() + 240
        while True:  # two scrapes of the job running past a checkpoint and a validation pass
            counts = prometheus.query(f"count_over_time(lc0_train_reports_total{selector}[1m])", time.time())
            kinds = {r["metric"]["kind"] for r in counts if int(r["value"][1]) >= 2}
            if {"checkpoint", "validation"} <= kinds:
                break
            assert time.monotonic() < deadline, f"Prometheus has not scraped a checkpoint and a validation pass twice: {counts}"
            time.sleep(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10) as answer:
            promtool("check", "metrics", stdin=answer.read().decode())  # the live exposition passes the linter

        # One committed scrape: every query below sees exactly its samples.
        (stamp,) = prometheus.query(f"timestamp(lc0_train_step{selector})", time.time())
        at = float(stamp["value"][1])
        reports = {r["metric"]["kind"]: int(float(r["value"][1])) for r in prometheus.query(f"lc0_train_reports_total{selector}", at)}
        lines = (Path(job.job_dir) / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines[:sum(reports.values())]]
        assert Counter(e["kind"] for e in events) == reports  # the scrape saw exactly this prefix of the report stream
        expected = expected_series(events, job.job_id)
        assert job.job_id in prometheus.api("label/job/values", **{"match[]": "lc0_train_step"})  # the $job variable

        checked = set()
        for expr in dashboard_queries():
            query = expr.replace("$job", job.job_id).replace("$__rate_interval", RATE_INTERVAL)
            results = prometheus.query(query, at)
            assert results, f"no data for {query}"
            for result in results:
                labels = dict(result["metric"])
                labels.pop("instance", None)  # the scrape target's, added by Prometheus
                name, value = labels.pop("__name__", None), float(result["value"][1])
                key = (name, frozenset(labels.items()))
                if key in expected:
                    assert value == pytest.approx(expected[key], rel=1e-6), (query, labels)
                    checked.add(name)
                elif name is not None and name.startswith("lc0_train_") and name in {n for n, _ in expected}:
                    pytest.fail(f"{query}: series {labels} is not in the job's reports")
                elif "histogram_quantile" not in query:  # a quantile of a window without calls is NaN
                    assert math.isfinite(value), (query, labels)
                if name is None and query.startswith("sum by (job) (lc0_train_productive"):
                    assert 0 < value < 1, value  # goodput
        assert checked == {n for n, _ in expected}, sorted({n for n, _ in expected} - checked)
    finally:
        server.stub.CancelJob(service_pb2.CancelJobRequest(job_id=job.job_id, skip_checkpoint=True))
        wait_for(server.stub, job.job_id, lambda j: j.state in (service_pb2.CANCELLED, service_pb2.SUCCEEDED, service_pb2.FAILED), timeout=60)
        if prometheus is not None:
            prometheus.close()
        server.close()
