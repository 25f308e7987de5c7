"""The global data position: what of a stream's files is still to be read, independent of how
many processes read it.

Epoch `e` of a stream over N sorted files reads them in its *global order*
`default_rng([seed, 0, e]).permutation(N)` (without shuffling, the sorted order); a file's
*position* is its place in that order. A `GlobalPosition` lists, per epoch, the positions
already read: epochs before `epoch` are read whole, epoch `epoch + k` has read the positions
of `rests[k]`, later epochs are untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

FILE_ORDER_STREAM = 0  # second seed word of the file-order RNG (record order and sampling use 1 and 2)


def global_order(seed: int, shuffle: bool, epoch: int, num_files: int) -> np.ndarray:
    """File indices (into the sorted list) in the order epoch `epoch` reads them."""
    order = np.arange(num_files)
    if shuffle:
        order = np.random.default_rng([seed, FILE_ORDER_STREAM, epoch]).permutation(order)
    return order


@dataclasses.dataclass(frozen=True)
class EpochRest:
    """The positions of one epoch already read: all before `start`, and `read` (sorted, each > start)."""

    start: int = 0
    read: tuple[int, ...] = ()

    def mask(self, num_files: int) -> np.ndarray:
        """bool [num_files]: which positions are read."""
        mask = np.zeros(num_files, bool)
        mask[: self.start] = True
        mask[list(self.read)] = True
        return mask

    @classmethod
    def of_mask(cls, mask: np.ndarray) -> EpochRest:
        unread = np.flatnonzero(~mask)
        start = int(unread[0]) if len(unread) else len(mask)
        return cls(start, tuple(int(i) for i in np.flatnonzero(mask[start:]) + start))


@dataclasses.dataclass(frozen=True)
class GlobalPosition:
    """What a stream has read, for any number of processes (see the module docstring)."""

    epoch: int = 0
    rests: tuple[EpochRest, ...] = ()

    def read_mask(self, epoch: int, num_files: int) -> np.ndarray:
        """bool [num_files]: the positions of `epoch` already read."""
        k = epoch - self.epoch
        if k < 0:
            return np.ones(num_files, bool)
        return self.rests[k].mask(num_files) if k < len(self.rests) else np.zeros(num_files, bool)

    def files_read(self) -> int:
        """Files read in the epochs this position has partly read (for logs)."""
        return sum(rest.start + len(rest.read) for rest in self.rests)

    @classmethod
    def of_masks(cls, first_epoch: int, masks: np.ndarray) -> GlobalPosition:
        """The position whose epochs `first_epoch`, `first_epoch + 1`, ... have read `masks[k]`."""
        epoch, rows = first_epoch, list(masks)
        while rows and rows[0].all():  # epochs read whole
            epoch, rows = epoch + 1, rows[1:]
        while rows and not rows[-1].any():  # epochs not begun
            rows.pop()
        return cls(epoch, tuple(EpochRest.of_mask(row) for row in rows))

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "rests": [{"start": r.start, "read": list(r.read)} for r in self.rests]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GlobalPosition:
        """Rebuild from `to_json()`; raises ValueError on a malformed dict."""
        try:
            epoch, rests = data["epoch"], data["rests"]
            parsed = tuple(EpochRest(r["start"], tuple(r["read"])) for r in rests)
        except (KeyError, TypeError) as err:
            raise ValueError(f"data position {data!r} is malformed: {err}") from err
        numbers = [epoch, *(r.start for r in parsed), *(i for r in parsed for i in r.read)]
        if set(data) != {"epoch", "rests"} or not all(type(x) is int and x >= 0 for x in numbers):
            raise ValueError(f"data position {data!r} is malformed")
        return cls(epoch, parsed)
