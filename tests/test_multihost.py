"""workers/training/multihost.py across real JAX processes (jax.distributed on CPU, gloo), without Ray."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_processes_agree_on_stopping_and_on_the_shortest_shard() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        coordinator = f"127.0.0.1:{s.getsockname()[1]}"
    processes = [subprocess.Popen([sys.executable, "-m", "tests.multihost_probe", str(i), "2", coordinator], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    for process_id, result in enumerate(outputs):
        assert result["cancel_one"] == [True, "CANCELLED", False]
        assert result["none"] == [False, "", False]
        assert result["mixed"] == [True, "PREEMPTED", True]
        assert result["while_all"] == [0, 1, 2]  # process 1 had 5 items
        assert result["after_while_all"] == [0, 1, 2, 3]
        assert result["gather_json"] == [{"process": 0, "files": ["x"]}, {"process": 1, "files": ["x", "x"]}]
    print(f"agree_stop: {max(r['agree_stop_ms'] for r in outputs):.2f} ms per step")
