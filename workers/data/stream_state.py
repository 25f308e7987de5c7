"""Where a chunk stream stands: its resumable cursor and its read counters."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workers.data.global_position import GlobalPosition


_REQUIRED: dict[str, type] = {"epoch": int, "window_start": int, "offset": int, "seed": int, "shuffle_size": int,
             "shuffle": bool, "num_files": int, "files_digest": str}
# Added later; a cursor saved before lacks them (see `DataCursor`).
_OPTIONAL: dict[str, type] = {"sampling": str, "process_index": int, "process_count": int, "origin": dict, "shard_until": int}


@dataclasses.dataclass(frozen=True)
class DataCursor:
    """Where one process's stream continues: the next record is `offset` into the window that
    starts at file `window_start` of the files this process is dealt in epoch `epoch`
    (`workers.data.dealing`). `seed` .. `sampling` identify the stream; `process_index`,
    `process_count`, `origin` and `shard_until` say how its files were dealt.

    A cursor saved before these were recorded has `sampling` None (not compared on resume) and
    `process_count` 0 (its place in the saved list says which process it was)."""

    epoch: int
    window_start: int
    offset: int
    seed: int
    shuffle_size: int
    shuffle: bool
    num_files: int  # all files of the stream (an old cursor: its process's shard)
    files_digest: str
    sampling: str | None = None
    process_index: int = 0
    process_count: int = 0
    origin: GlobalPosition = GlobalPosition()  # what was left to read when the stream was dealt
    shard_until: int = -1  # epochs up to this one are dealt as the old per-process shards

    def identity(self) -> dict[str, Any]:
        """The fields that recognise the stream."""
        return {"seed": self.seed, "shuffle_size": self.shuffle_size, "shuffle": self.shuffle,
                "num_files": self.num_files, "files_digest": self.files_digest, "sampling": self.sampling}

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (stored in checkpoints)."""
        return {**dataclasses.asdict(self), "origin": self.origin.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataCursor:
        """Rebuild a cursor from `to_json()` output (or an older cursor's, without the later
        fields); raises ValueError on a malformed dict."""
        if not set(_REQUIRED) <= set(data) <= set(_REQUIRED) | set(_OPTIONAL):
            raise ValueError(f"data cursor keys {sorted(data)} do not match the expected {sorted(_REQUIRED)} "
                             f"(and optionally {sorted(_OPTIONAL)})")
        for name, value in data.items():
            kind = (_REQUIRED | _OPTIONAL)[name]
            lowest = -1 if name == "shard_until" else 0
            if type(value) is not kind or (isinstance(value, int) and value < lowest):
                raise ValueError(f"data cursor field {name!r}: {value!r} is not a valid {kind.__name__}")
        fields = dict(data)
        if "origin" in fields:
            fields["origin"] = GlobalPosition.from_json(fields["origin"])
        return cls(**fields)


def files_digest(files: Sequence[Path]) -> str:
    """A short digest of a sorted file list (by name), recorded in cursors."""
    return hashlib.sha256("\n".join(p.name for p in files).encode()).hexdigest()[:16]


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
