"""Train-step throughput and MFU of the legacy SE-ResNet (configs/se_resnet_10x128.textproto)
with plain batch norm, batch renorm and ghost batch norm, next to a bare 3×3 convolution
measured in the same process, so the ratios compare on a busy machine.

Protocol as bench/train_step.py (3 warm-up steps, 20 timed steps on a fixed batch of real
lc0 positions, median step time). MFU = XLA's cost-analysis FLOPs of the compiled step /
median step time / the dense f32 matmul peak (2048² matmul) measured in the same process.
The bare convolution is one 3×3, F→F conv on `[B, 8, 8, F]` NHWC: forward, and
forward+backward (XLA's autodiff outside any loop; the model's conv inside a one-step scan,
as the train step runs it). `--autodiff-in-scan` also times XLA's autodiff inside a
one-step scan, the form that made the step ~50× slower before workers/model/conv_grad.py
(slow: seconds per call).

    python bench/resnet.py [--filters 128] [--blocks 10] [--batch-size 256] [--variants plain_bn,renorm,ghost_bn]
                           [--virtual-batch-size 32] [--autodiff-in-scan] [--json]

`make bench` runs 32×2 at batch 64 and 10×128 at batch 256 (plain BN). Numbers and the
history are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.train_step import matmul_peak_gflops, real_batch, time_steps
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.model.conv_grad import NHWC_HWIO, conv_general_dilated
from workers.training.setup import build_training
from workers.training.sharding import to_global_batch
from workers.training.state import parameter_count

CONFIG = ROOT / "configs" / "se_resnet_10x128.textproto"
SELFPLAY = ROOT / "tests" / "data" / "lc0-selfplay"
BN_VARIANTS = {
    "plain_bn": lambda args: [],
    "renorm": lambda args: ["model.renorm=true", "model.renorm_max_r=3", "model.renorm_max_d=5"],
    "ghost_bn": lambda args: [f"model.virtual_batch_size={args.virtual_batch_size}"],
}


def measure_step(overrides: list[str]) -> dict[str, float]:
    """Median train-step time and XLA's FLOP count of the SE-ResNet example with `overrides`."""
    job = resolve(load_spec(CONFIG, [f"dataset.input_train={SELFPLAY}", f"dataset.input_test={SELFPLAY}", "export.enabled=false",
                                     *overrides]))
    mesh, init, steps, state = build_training(job)
    batch = to_global_batch(mesh, real_batch(job.batch_size))
    sums = steps.zero_sums()
    train = steps.train.lower(state, sums, batch).compile()
    times, _ = time_steps(train, state, sums, lambda: batch)
    median = statistics.median(times)
    return {"params": parameter_count(init.params), "step_ms_median": median * 1e3, "step_ms_min": min(times) * 1e3,
            "positions_per_s": job.batch_size / median, "gflop_per_step": _cost_flops(train) / 1e9}


def _cost_flops(compiled: jax.stages.Compiled) -> float:
    analysis = compiled.cost_analysis()
    return float((analysis[0] if isinstance(analysis, list) else analysis)["flops"])


def median_ms(fn: Callable, *args: jax.Array, repeats: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def measure_bare_conv(filters: int, batch_size: int, autodiff_in_scan: bool) -> dict[str, float]:
    """Median ms of a 3×3 F→F conv on [B, 8, 8, F]: forward, forward+backward in the forms the step could run."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch_size, 8, 8, filters)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 3, filters, filters)) * 0.05, jnp.float32)

    def xla_conv(x: jax.Array, k: jax.Array) -> jax.Array:
        return lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC_HWIO)

    def model_conv(x: jax.Array, k: jax.Array) -> jax.Array:
        return conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=NHWC_HWIO)

    def grads(conv: Callable) -> Callable:
        return jax.grad(lambda x, k: jnp.sum(conv(x, k) ** 2), argnums=(0, 1))

    def in_scan(conv: Callable) -> Callable:
        return lambda x, k: lax.scan(lambda c, xs: (c, grads(conv)(xs, k)), 0.0, x[None])[1]

    flops = 2 * batch_size * 64 * 9 * filters * filters
    result = {
        "gflop_fwd": flops / 1e9,
        "fwd_ms": median_ms(jax.jit(xla_conv), x, k, repeats=10),
        "fwd_bwd_ms": median_ms(jax.jit(grads(xla_conv)), x, k, repeats=10),
        "model_conv_fwd_bwd_in_scan_ms": median_ms(jax.jit(in_scan(model_conv)), x, k, repeats=10),
    }
    if autodiff_in_scan:
        result["xla_autodiff_fwd_bwd_in_scan_ms"] = median_ms(jax.jit(in_scan(xla_conv)), x, k, repeats=1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filters", type=int, default=128)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--virtual-batch-size", type=int, default=32)
    parser.add_argument("--variants", default=",".join(BN_VARIANTS), help=f"comma-separated subset of {', '.join(BN_VARIANTS)}")
    parser.add_argument("--autodiff-in-scan", action="store_true", help="also time XLA's conv autodiff inside a scan (slow)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(BN_VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(BN_VARIANTS)}")

    peak = matmul_peak_gflops()
    conv = measure_bare_conv(args.filters, args.batch_size, args.autodiff_in_scan)
    base = [f"model.filters={args.filters}", f"model.residual_blocks={args.blocks}", f"training.batch_size={args.batch_size}"]
    results = {name: measure_step([*base, *BN_VARIANTS[name](args)]) for name in variants}
    # A busy machine only lowers a measured peak: take the better of before and after.
    peak = max(peak, matmul_peak_gflops())
    conv_mfu = {key.removesuffix("_ms") + "_mfu": conv["gflop_fwd"] * (1 if key == "fwd_ms" else 3) / (conv[key] / 1e3) / peak
                for key in conv if key.endswith("_ms")}
    for result in results.values():
        result["mfu"] = result["gflop_per_step"] / (result["step_ms_median"] / 1e3) / peak
        result["mfu_vs_bare_conv_fwd_bwd"] = result["mfu"] / conv_mfu["fwd_bwd_mfu"]
        result["time_vs_first_variant"] = result["step_ms_median"] / results[variants[0]]["step_ms_median"]
    summary = {"filters": args.filters, "blocks": args.blocks, "batch_size": args.batch_size, "matmul_peak_gflops": peak,
               "bare_conv": {**conv, **conv_mfu}, **results}
    if args.json:
        print(json.dumps(summary))
        return
    print(f"f32 matmul peak {peak:.0f} GFLOP/s; bare 3x3 {args.filters}->{args.filters} conv on [{args.batch_size},8,8,{args.filters}]:")
    for key, mfu in conv_mfu.items():
        print(f"  {key.removesuffix('_mfu'):>34}: {conv[key.replace('_mfu', '_ms')]:9.1f} ms  MFU {mfu:.3f}")
    for name, r in results.items():
        print(f"{name:>9}: {r['positions_per_s']:8.1f} pos/s  {r['step_ms_median']:8.1f} ms/step  {r['gflop_per_step'] / args.batch_size:.3f} "
              f"GFLOP/pos  MFU {r['mfu']:.3f} ({r['mfu_vs_bare_conv_fwd_bwd']:.2f}x bare conv fwd+bwd)  "
              f"{r['time_vs_first_variant']:.2f}x {variants[0]} time  ({r['params']:,} params)")


if __name__ == "__main__":
    main()
