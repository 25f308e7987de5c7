"""Where a chunk stream stands: its resumable cursor and its read counters."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class DataCursor:
    """Where the stream continues: the next record is `offset` into the window that starts at
    file `window_start` of epoch `epoch`. The other fields identify the stream it belongs to."""

    epoch: int
    window_start: int
    offset: int
    seed: int
    shuffle_size: int
    shuffle: bool
    num_files: int
    files_digest: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in checkpoints)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataCursor:
        """Rebuild a cursor from `to_json()` output; raises ValueError on a malformed dict."""
        types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
        if set(data) != set(types):
            raise ValueError(f"data cursor keys {sorted(data)} do not match the expected {sorted(types)}")
        for name, kind in types.items():
            value = data[name]
            if type(value).__name__ != kind or (kind == "int" and value < 0):
                raise ValueError(f"data cursor field {name!r}: {value!r} is not a valid {kind}")
        return cls(**data)


@dataclasses.dataclass
class LoaderStats:
    """Counters of one stream. `files_read`/`records_read` include read-ahead and re-reads in later
    epochs; `positions_emitted` counts what was handed to the caller."""

    files_read: int = 0
    records_read: int = 0
    positions_emitted: int = 0
    skipped_files: dict[str, str] = dataclasses.field(default_factory=dict)
    format_mismatches: int = 0


class StatsRecorder:
    """LoaderStats shared by the reading thread and the caller, behind a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = LoaderStats()

    def add(self, *, files_read: int = 0, records_read: int = 0, positions_emitted: int = 0,
            format_mismatches: int = 0, skipped: tuple[str, str] | None = None) -> None:
        with self._lock:
            self._stats.files_read += files_read
            self._stats.records_read += records_read
            self._stats.positions_emitted += positions_emitted
            self._stats.format_mismatches += format_mismatches
            if skipped is not None:
                self._stats.skipped_files[skipped[0]] = skipped[1]

    def snapshot(self) -> LoaderStats:
        with self._lock:
            return dataclasses.replace(self._stats, skipped_files=dict(self._stats.skipped_files))
