"""The job directory: the one place that spells its file and folder names.

`lc0-train run --out DIR` and the service (`<storage>/<job id>`) write the same layout:
`spec.textproto` (the config as accepted), `checkpoints/<step>/` (Orbax), `events.jsonl`
(one JSON report per line), `nets/<step>.pb.gz` (exported lc0 nets, `-swa` for SWA) and,
for a continuous job, `cycle.json` (the network last started). Beside the job directories,
`compile_cache/` holds the persistent compilation cache that all jobs share.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

SWA_SUFFIX = "-swa"
NET_SUFFIX = ".pb.gz"
COMPILE_CACHE_DIR = "compile_cache"


def compile_cache_dir(storage: Path) -> Path:
    """The compilation cache shared by the jobs whose directories are in `storage` (workers/training/compile_cache.py)."""
    return storage / COMPILE_CACHE_DIR


@dataclasses.dataclass(frozen=True)
class JobPaths:
    """The paths of one job directory."""

    root: Path

    @property
    def spec_file(self) -> Path:
        return self.root / "spec.textproto"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def cycle(self) -> Path:
        """A continuous job's cycle as last started (workers/training/continuous.py)."""
        return self.root / "cycle.json"

    @property
    def nets(self) -> Path:
        return self.root / "nets"

    def net(self, step: int, swa: bool = False) -> Path:
        """The exported lc0 net of `step` (the SWA weights' when `swa`)."""
        return self.nets / f"{step}{SWA_SUFFIX if swa else ''}{NET_SUFFIX}"

    def checkpoint(self, step: int) -> Path:
        """The Orbax folder of the checkpoint at `step`."""
        return self.checkpoints / str(step)
