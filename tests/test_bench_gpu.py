"""bench/gpu.sh --smoke: every path of the GPU benchmark (preset and config steps, FP32 and BF16, parallel loaders) on CPU."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_bench_smoke_prints_throughput_and_mfu_for_each_run() -> None:
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--smoke"], env={**os.environ, "PYTHON": sys.executable},
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.strip()}
    for run, batch in (("tiny-FP32", "16"), ("bt4-shrunk-BF16", "16")):
        _, got_batch, positions_per_s, step_ms, mfu, peak, device = rows[run]
        assert got_batch == batch and device == "cpu"
        assert float(positions_per_s) > 0 and float(step_ms) > 0 and 0 < float(mfu) and float(peak) > 0
    loader = re.search(r"loader (\d+) processes: ([\d,]+) positions/s", done.stdout)
    assert loader and loader.group(1) == "2" and int(loader.group(2).replace(",", "")) > 0


def test_gpu_bench_refuses_unknown_flags() -> None:
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--fast"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "usage" in done.stderr
