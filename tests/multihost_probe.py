"""One JAX process of tests/test_multihost.py: runs the agreement helpers, prints JSON.

    python -m tests.multihost_probe PROCESS_ID NUM_PROCESSES COORDINATOR
"""

from __future__ import annotations

import json
import sys
import time


def main(process_id: int, num_processes: int, coordinator: str) -> None:
    from workers.training.multihost import agree_stop, gather_json, initialize, while_all

    initialize(coordinator, num_processes, process_id)
    results: dict = {}
    # Only the last process was asked to stop (a cancel that reached it first).
    results["cancel_one"] = agree_stop(process_id == num_processes - 1, "CANCELLED", False)
    results["none"] = agree_stop(False, "CANCELLED", True)
    # Process 0 is cancelled with a checkpoint, the others preempted without: preemption wins, a checkpoint is written.
    results["mixed"] = agree_stop(True, "CANCELLED" if process_id == 0 else "PREEMPTED", process_id == 0)
    # Shards of 3 + 2·process_id items: every process takes as many as the shortest has.
    results["while_all"] = list(while_all(iter(range(3 + 2 * process_id))))
    results["after_while_all"] = list(while_all(iter(range(4))))  # collectives stay in step afterwards
    results["gather_json"] = gather_json({"process": process_id, "files": ["x"] * (process_id + 1)})
    started = time.perf_counter()
    for _ in range(200):
        agree_stop(False, "CANCELLED", True)
    results["agree_stop_ms"] = 1000 * (time.perf_counter() - started) / 200
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
