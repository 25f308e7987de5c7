"""What sharding the train state buys and costs.

1. Per-device state bytes of the BT4 job (configs/bt4.textproto with SWA on, ≈185M
   parameters) under pure data parallelism and `fsdp` 2, 4 and 8: computed from abstract
   shapes (jax.eval_shape of the model and the train state, an AbstractMesh; nothing is
   allocated or trained), with the sharding table the trainer uses.
2. Train-step time of a small model (configs/tiny.textproto, batch 64) on 1, 2 and 4 forced
   CPU devices, data-parallel (data N) and fully sharded (fsdp N), each in its own process
   (XLA_FLAGS=--xla_force_host_platform_device_count=N): the median step of the protocol of
   bench/train_step.py (3 warm-ups, 20 timed steps). The communication share is measured, not
   modelled: the compiled step's collectives (all-reduce, all-gather, reduce-scatter, ...) are
   read from its HLO, their
   bytes summed per kind, and one collective of each kind moving those bytes over all the
   mesh's devices is timed alone (shard_map, same mesh; kinds other than all-gather and
   reduce-scatter are timed as an all-reduce of their bytes); share = that time / step time.
   On forced CPU devices the "devices" share the host's cores and a collective is a memory
   copy, so the share says what the sharding adds in traffic, not what a GPU/TPU link costs.

    python bench/scaling.py [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
from jax.sharding import AbstractMesh, Mesh, NamedSharding, PartitionSpec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.resnet import median_ms
from bench.train_step import time_steps
from tests.step_helpers import selfplay_batch
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.training.optim import make_optimizer, make_schedule
from workers.training.setup import build_training
from workers.training.sharding import AXES, state_bytes, state_shardings
from workers.training.state import init_params, init_state, parameter_count

FSDP_SIZES = (1, 2, 4, 8)
DEVICE_COUNTS = (1, 2, 4)
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute")
_SHAPE = re.compile(r"\b(f32|f16|bf16|s32|u32|pred|f64|s64|u8|s8)\[([\d,]*)\]")
_BYTES = {"f32": 4, "f16": 2, "bf16": 2, "s32": 4, "u32": 4, "pred": 1, "f64": 8, "s64": 8, "u8": 1, "s8": 1}


def state_bytes_table() -> list[dict]:
    """Per-device MiB of the BT4 state's parts for each fsdp size (from abstract shapes)."""
    job = resolve(load_spec(ROOT / "configs" / "bt4.textproto", ["training.swa=true", "training.swa_steps=100"]))
    params, batch_stats = jax.eval_shape(lambda: init_params(job.model, job.seed)[1:])
    tx = make_optimizer(job.optimizer, make_schedule(job.schedule))
    state = jax.eval_shape(lambda p, b: init_state(p, tx, batch_stats=b, swa=True, precision=job.precision), params, batch_stats)
    rows = []
    for fsdp in FSDP_SIZES:
        sizes = state_bytes(state, state_shardings(state, AbstractMesh((8 // fsdp, fsdp), AXES)))
        rows.append({"fsdp": fsdp, "parameters": parameter_count(params), **{k: v / 2**20 for k, v in sizes.items()}})
    return rows


def collective_bytes(hlo: str) -> dict[str, int]:
    """Bytes of each kind of collective in a compiled HLO module (the results' sizes)."""
    totals: dict[str, int] = {}
    for line in hlo.splitlines():
        for kind in COLLECTIVES:
            match = re.search(rf"=\s*(.*?)\s{kind}(-start)?\(", line)
            if match:
                shapes = _SHAPE.findall(match.group(1))
                size = sum(_BYTES[dtype] * math.prod(int(d) for d in dims.split(",") if d) for dtype, dims in shapes)
                totals[kind] = totals.get(kind, 0) + size
    return totals


def collective_seconds(mesh: Mesh, kind: str, nbytes: int) -> float:
    """The time of one `kind` collective moving `nbytes` per device over all of `mesh`'s devices."""
    n = mesh.size
    per_device = max(n, nbytes // 4 // n * n)
    ops = {"all-reduce": (lambda x: jax.lax.psum(x, AXES), per_device),
           "all-gather": (lambda x: jax.lax.all_gather(x, AXES, tiled=True), per_device // n),
           "reduce-scatter": (lambda x: jax.lax.psum_scatter(x, AXES, tiled=True), per_device * n)}
    op, local = ops.get(kind, ops["all-reduce"])
    spec = PartitionSpec(AXES)
    fn = jax.jit(jax.shard_map(op, mesh=mesh, in_specs=spec, out_specs=spec))
    x = jax.device_put(jnp.ones((local * n,), jnp.float32), NamedSharding(mesh, spec))
    return median_ms(fn, x, repeats=10) / 1000


def step_timing(devices: int) -> list[dict]:
    """In a process with `devices` forced CPU devices: step and collective times, data N and fsdp N."""
    assert jax.device_count() == devices, jax.devices()
    rows = []
    for data, fsdp in ((devices, 1), (1, devices)) if devices > 1 else ((1, 1),):
        job = resolve(load_spec(ROOT / "configs" / "tiny.textproto", ["training.batch_size=64", f"resources.mesh.data={data}",
                                                                       f"resources.mesh.fsdp={fsdp}", "export.enabled=false"]))
        mesh, _, steps, state = build_training(job)
        batch = selfplay_batch(mesh, 1, job.batch_size)
        sums = steps.zero_sums()
        hlo = steps.train.lower(state, sums, batch).compile().as_text()
        traffic = collective_bytes(hlo)
        step_s = statistics.median(time_steps(steps.train, state, sums, lambda: batch)[0])
        comm_s = sum(collective_seconds(mesh, kind, nbytes) for kind, nbytes in traffic.items())
        rows.append({"devices": devices, "data": data, "fsdp": fsdp, "step_ms": 1000 * step_s, "collective_ms": 1000 * comm_s,
                     "communication_share": comm_s / step_s, "collective_mib": {k: v / 2**20 for k, v in traffic.items()}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timing-devices", type=int, help=argparse.SUPPRESS)  # the child process of part 2
    args = parser.parse_args()
    if args.timing_devices:
        print(json.dumps(step_timing(args.timing_devices)))
        return
    table = state_bytes_table()
    timings = []
    for n in DEVICE_COUNTS:
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}", JAX_PLATFORMS="cpu")
        out = subprocess.run([sys.executable, __file__, "--timing-devices", str(n)], env=env, cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        timings += json.loads(out.strip().splitlines()[-1])
    if args.json:
        print(json.dumps({"bt4_state_mib_per_device": table, "tiny_step": timings}))
        return
    print(f"BT4 ({table[0]['parameters'] / 1e6:.1f}M parameters, NAdamW, SWA on): per-device MiB from abstract shapes")
    print(f"{'mesh':>10} {'params':>9} {'opt state':>10} {'SWA':>9} {'total':>9}")
    for row in table:
        mesh = "data" if row["fsdp"] == 1 else f"fsdp {row['fsdp']}"
        print(f"{mesh:>10} {row['params']:9.1f} {row['opt_state']:10.1f} {row['swa']:9.1f} {row['total']:9.1f}")
    print("\nconfigs/tiny.textproto, batch 64, forced CPU devices: median step; collectives timed alone")
    print(f"{'devices':>7} {'data':>4} {'fsdp':>4} {'step ms':>8} {'coll. ms':>8} {'share':>6}  collective MiB per step")
    for row in timings:
        traffic = ", ".join(f"{k} {v:.2f}" for k, v in row["collective_mib"].items()) or "none"
        print(f"{row['devices']:>7} {row['data']:>4} {row['fsdp']:>4} {row['step_ms']:8.1f} {row['collective_ms']:8.1f} "
              f"{row['communication_share']:6.1%}  {traffic}")


if __name__ == "__main__":
    main()
