"""Validation problems as (field path, reason) pairs, collected so one `ConfigError` names them all."""

from __future__ import annotations

import math
from typing import Sequence

from google.protobuf import descriptor
from google.protobuf.message import Message

_FLOAT_TYPES = (descriptor.FieldDescriptor.TYPE_FLOAT, descriptor.FieldDescriptor.TYPE_DOUBLE)


class ConfigError(ValueError):
    """One or more invalid fields; `problems` holds (field path, reason) pairs."""

    def __init__(self, problems: Sequence[tuple[str, str]], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(f"{path}: {reason}" for path, reason in self.problems))


class Problems(list[tuple[str, str]]):
    """A list of (field path, reason) with helpers for the common rules."""

    def add(self, path: str, reason: str) -> None:
        self.append((path, reason))

    def positive(self, path: str, value: float, rule: str = "") -> None:
        if value <= 0:
            self.add(path, rule or f"must be > 0 (got {value})")

    def non_negative(self, path: str, value: float) -> None:
        if value < 0:
            self.add(path, f"must be >= 0 (got {value})")

    def finite(self, path: str, value: float) -> None:
        if not math.isfinite(value):
            self.add(path, f"must be a finite number (got {value})")

    def finite_fields(self, message: Message, prefix: str = "") -> None:
        """Every float and double field set anywhere in `message` (repeated ones too) must be finite."""
        for field, value in message.ListFields():
            path = f"{prefix}.{field.name}" if prefix else field.name
            items = list(value) if field.is_repeated else [value]
            for i, item in enumerate(items):
                item_path = f"{path}[{i}]" if field.is_repeated else path
                if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                    self.finite_fields(item, item_path)
                elif field.type in _FLOAT_TYPES:
                    self.finite(item_path, item)

    def unit_interval(self, path: str, value: float) -> None:
        """0 <= value < 1 (momenta and decay rates)."""
        if not 0.0 <= value < 1.0:
            self.add(path, f"must be in [0, 1) (got {value})")


def optional(message: Message, name: str, default: float) -> float:
    """A proto3 `optional` scalar, or `default` when unset."""
    return getattr(message, name) if message.HasField(name) else default
