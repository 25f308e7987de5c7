"""A continuous job's cycle as the service shows it: the status line of GetJob/`status` and the
Prometheus series, both read from the events a real EventBus/JsonlSink wrote."""

from __future__ import annotations

from pathlib import Path

from service._internal.cycles import CycleTracker
from service._internal.job_series import JobSeries
from workers.events import Event, EventBus, JsonlSink, read_events


def write(path: Path, *events: Event) -> None:
    bus, sink = EventBus(), JsonlSink(path)
    bus.subscribe(sink)
    for event in events:
        bus.publish(event)
    sink.close()


def waiting(step: int, network: int, new: int) -> Event:
    return Event("cycle", step, info={"phase": "waiting", "network": network, "new_chunks": new, "needed": 100,
                                      "chunks": 2000, "window_size": 2000})


def test_status_line_and_metrics_follow_the_cycle(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    tracker = CycleTracker()
    assert tracker.status("job", events) == ""  # no file yet: not a continuous job (or not started)
    write(events, Event("train", 10, {"total_loss": 1.0}), waiting(0, 1, 40))
    assert tracker.status("job", events) == "waiting for data: 40/100 new chunks (window 2000/2000)"
    write(events, Event("cycle", 0, info={"phase": "training", "network": 1, "end_step": 50, "window_chunks": 1900,
                                          "window_newest": "/g/training.2100.gz", "window_oldest": "/g/training.201.gz"}))
    assert tracker.status("job", events).startswith("training network 1 to step 50 on 1900 chunks")
    write(events, Event("published", 50, info={"network": 1, "path": "/j/nets/50.pb.gz", "copies": []}),
          Event("upload", 50, {"upload_failures": 1.0}, info={"network": 1, "ok": False, "attempt": 1, "error": "HTTP 500"}),
          Event("upload", 50, {"upload_failures": 1.0}, info={"network": 1, "ok": False, "attempt": 2, "error": "HTTP 500"}),
          waiting(50, 2, 7))
    assert tracker.status("job", events) == ("waiting for data: 7/100 new chunks (window 2000/2000); "
                                             "last published network 1")

    series = JobSeries(batch_size=8)  # what the service's Prometheus collector exports for the job
    for event in read_events(events):
        series.observe(event)
    assert series.gauges["window_chunks"][()] == 1900
    assert series.gauges["chunks_pending"][()] == 7
    assert series.gauges["networks_published"][()] == 1
    assert series.counters["upload_failures"][()] == 2
    assert series.gauges["last_publish_timestamp_seconds"][()] > 1.7e9
