"""Train-step throughput of the legacy SE-ResNet (configs/se_resnet_10x128.textproto) with
plain batch norm, batch renorm and ghost batch norm, in one process so the ratios compare.

Protocol as bench/train_step.py (3 warm-up steps, 20 timed steps on a fixed batch of real
lc0 positions, median step time); the ratio to plain BN is the number to quote.

    python bench/resnet.py [--filters 128] [--blocks 10] [--batch-size 128] [--virtual-batch-size 32] [--json]

The full 10×128 example takes over 15 minutes on a 2-core CPU, so `make bench` runs 32×2
at batch 64 (about a minute). On 2026-11-26, quiet 2-core CPU with tcmalloc: plain BN 148
pos/s (431 ms/step), renorm 0.96×, ghost BN (32) 1.01× the plain step time. Batch norm is
not what makes residual steps slow on XLA:CPU; profiling the conv policy and value heads
is the next step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train_step import real_batch, time_steps  # noqa: E402
from workers.config.resolve import resolve  # noqa: E402
from workers.config.spec import load_spec  # noqa: E402
from workers.training.setup import build_training  # noqa: E402
from workers.training.sharding import to_global_batch  # noqa: E402
from workers.training.state import parameter_count  # noqa: E402

CONFIG = ROOT / "configs" / "se_resnet_10x128.textproto"
SELFPLAY = ROOT / "tests" / "data" / "lc0-selfplay"


def measure(overrides: list[str]) -> dict[str, float]:
    """Median train-step time of the SE-ResNet example with `overrides` on a real batch."""
    job = resolve(load_spec(CONFIG, [f"dataset.input_train={SELFPLAY}", f"dataset.input_test={SELFPLAY}", "export.enabled=false",
                                     *overrides]))
    mesh, init, steps, state = build_training(job)
    batch = to_global_batch(mesh, real_batch(job.batch_size))
    times, _ = time_steps(steps.train, state, steps.zero_sums(), lambda: batch)
    median = statistics.median(times)
    return {"params": parameter_count(init.params), "step_ms_median": median * 1e3, "positions_per_s": job.batch_size / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filters", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--virtual-batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = [f"model.filters={args.filters}", f"model.residual_blocks={args.blocks}", f"training.batch_size={args.batch_size}"]
    variants = {
        "plain_bn": base,
        "renorm": [*base, "model.renorm=true", "model.renorm_max_r=3", "model.renorm_max_d=5"],
        "ghost_bn": [*base, f"model.virtual_batch_size={args.virtual_batch_size}"],
    }
    results = {name: measure(overrides) for name, overrides in variants.items()}
    plain = results["plain_bn"]["step_ms_median"]
    for result in results.values():
        result["time_vs_plain_bn"] = result["step_ms_median"] / plain
    if args.json:
        print(json.dumps({"filters": args.filters, "blocks": args.blocks, "batch_size": args.batch_size, **results}))
        return
    for name, result in results.items():
        print(f"{name:>9}: {result['positions_per_s']:8.1f} pos/s  {result['step_ms_median']:8.1f} ms/step  "
              f"{result['time_vs_plain_bn']:.2f}x plain BN  ({result['params']:,} params)")


if __name__ == "__main__":
    main()
