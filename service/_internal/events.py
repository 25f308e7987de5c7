"""Reading a job's events.jsonl while its trainer appends to it.

Only complete lines (ending in a newline) are returned: the writer flushes whole lines, so
a partial line is one still being written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence


class EventTail:
    """Returns the lines appended since the last call, starting at `offset` bytes."""

    def __init__(self, path: Path, offset: int = 0):
        self.path, self.offset = Path(path), offset

    @classmethod
    def at_end(cls, path: Path) -> "EventTail":
        """A tail that skips what is already there: the events from now on."""
        return cls(path, path.stat().st_size if path.exists() else 0)

    def read(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return [_parse(line) for line in data[: end + 1].splitlines() if line.strip()]


def read_page(path: Path, offset: int, limit: int, kinds: Sequence[str] = ()) -> tuple[list[dict[str, Any]], int]:
    """Events with line index ≥ offset (filtered by kind), at most `limit`; and the next offset."""
    try:
        lines = path.read_bytes().split(b"\n")[:-1]  # the last piece is empty or still being written
    except FileNotFoundError:
        return [], offset
    events: list[dict[str, Any]] = []
    index = offset
    for index in range(offset, len(lines)):
        if len(events) >= limit:
            return events, index
        if not lines[index].strip():
            continue
        event = _parse(lines[index])
        if not kinds or event.get("kind") in kinds:
            events.append(event)
    return events, max(offset, len(lines))


def _parse(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"kind": "unparseable", "raw": line.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"kind": "unparseable", "raw": str(value)}
