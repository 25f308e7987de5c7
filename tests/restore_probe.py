"""One JAX process of tests/test_restore_anywhere.py: trains a job to its end (resuming from its
latest checkpoint) and prints, as its last line, the train losses by step, the record ids of
every train batch it decoded and how many leaves of its final train state are sharded.

    python -m tests.restore_probe SETTINGS_JSON

SETTINGS_JSON: {"process": i, "processes": n, "coordinator": "host:port", "devices": local
device count, "job_dir": path, "overrides": [job overrides of configs/tiny.textproto]}.
A record's id is its `visits` field, which neither the model nor the losses read.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

VISITS_OFFSET = 8340


def main(settings: dict) -> None:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={settings['devices']}"
    from workers.training.multihost import initialize

    if settings["processes"] > 1:
        initialize(settings["coordinator"], settings["processes"], settings["process"])
    import jax

    from tests.helpers import TINY_CONFIG
    from workers.config.resolve import resolve
    from workers.config.spec import load_spec
    from workers.data import pipeline
    from workers.data.files import u32_field
    from workers.events import Event, EventBus
    from workers.layout import JobPaths
    from workers.training.loop import run_training

    decoded: list[list[int]] = []
    decode = pipeline.decode_records

    def recording(raw):  # type: ignore[no-untyped-def]
        decoded.append(u32_field(raw, VISITS_OFFSET).tolist())
        return decode(raw)

    pipeline.decode_records = recording  # batches are decoded in stream order (one prefetch thread)
    events: list[Event] = []
    bus = EventBus()
    bus.subscribe(events.append)
    state = run_training(resolve(load_spec(TINY_CONFIG, settings["overrides"])), JobPaths(Path(settings["job_dir"])), bus)
    losses = {e.step: e.metrics["total_loss"] for e in events if e.kind == "train"}
    sharded = sum(not leaf.sharding.is_fully_replicated for leaf in jax.tree_util.tree_leaves(state))
    print(json.dumps({"losses": losses, "batches": decoded, "sharded_leaves": sharded}), flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
