"""Structured training events on one in-process bus.

The trainer publishes every report (train, test, validation, checkpoint, state) as an
`Event`; consumers subscribe: the JSONL file of the job directory, the CLI's console and
the exporter of lc0 nets. The service reads the JSONL file (WatchJob, GetJobEvents and its
Prometheus metrics), so every consumer sees the same reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

Subscriber = Callable[["Event"], None]


@dataclasses.dataclass(frozen=True)
class Event:
    """One report. `step` is the global step after the update it describes."""

    kind: str
    step: int
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)
    time: str = dataclasses.field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat())

    def to_json(self) -> str:
        return json.dumps({"time": self.time, "step": self.step, "kind": self.kind, "metrics": self.metrics, **self.info})


class EventBus:
    """Synchronous fan-out of events to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)


class EventLogError(OSError):
    """events.jsonl (or its directory) cannot be written; the message names the path."""


class JsonlSink:
    """Appends each event as one JSON line and flushes, so readers see it at once."""

    def __init__(self, path: Path):
        self.path = path
        with self._naming_the_path():
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()  # the trainer and the upload thread both publish

    def __call__(self, event: Event) -> None:
        with self._lock, self._naming_the_path():
            self._file.write(event.to_json() + "\n")
            self._file.flush()

    @contextlib.contextmanager
    def _naming_the_path(self) -> Iterator[None]:
        # A failed write or flush raises OSError without a file name ("[Errno 1] Operation not permitted").
        try:
            yield
        except EventLogError:
            raise
        except OSError as err:
            raise EventLogError(err.errno, f"cannot write events to {err.filename or self.path}: {err.strerror or err}") from err

    def close(self) -> None:
        self._file.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    """Parses an events.jsonl file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
