"""Train-step throughput and model-FLOPs utilisation for the shared benchmark presets.

Protocol (../shared/docs/benchmarks.md): 3 warm-up steps (the first compiles), then 20
timed steps, each timed to `block_until_ready` of the new state and metrics; positions/s =
batch / median step time; MFU against a dense matmul peak in the compute dtype (jit of an
n² matmul, n = --peak-size, 2048 by default) measured in the same process. A second measurement runs the step with the real data
pipeline (ChunkStream over real lc0 chunks) and a metrics fetch every 10 steps attached.

    python bench/train_step.py --preset tiny|small|medium [--batch-size N] [--precision FP32|BF16] [--json]
    python bench/train_step.py --config configs/bt4.textproto [--set FIELD=VALUE ...] [...]

bench/gpu.sh runs every preset and BT4 in FP32 and BF16 on a GPU (`--smoke`: tiny sizes on CPU).

For the numbers the benchmark quotes, start the process with tcmalloc preloaded
(`make bench` does): LD_PRELOAD=libtcmalloc_minimal.so.4 TCMALLOC_RELEASE_RATE=0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lc0train import job_pb2, model_pb2, training_pb2
from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.data.files import discover_chunks, read_chunk
from workers.data.pipeline import ChunkStream
from workers.data.v6 import decode_records
from workers.model.dims import NetDims
from workers.training.setup import build_training
from workers.training.sharding import to_global_batch
from workers.training.state import TrainState, parameter_count
from workers.training.step import Batch

# embedding size, encoder blocks, heads, dff, dense embedding, smolgen (channels, hidden, gen) or None
PRESETS = {
    "tiny": (64, 2, 4, 128, 16, None),
    "small": (128, 4, 4, 256, 32, (16, 128, 128)),
    "medium": (256, 6, 8, 512, 64, (16, 128, 128)),
}
WARMUP_STEPS, TIMED_STEPS = 3, 20
SELFPLAY = ROOT / "tests" / "data" / "lc0-selfplay"


def preset_spec(name: str, batch_size: int, precision: str = "FP32", batch_splits: int = 1) -> job_pb2.JobSpec:
    """The preset as a JobSpec: Mish everywhere, NAdamW(0.9, 0.98, 1e-7, wd 1e-4), lr 1e-3, clip 10."""
    e, blocks, heads, dff, dense, smolgen = PRESETS[name]
    model = model_pb2.ModelConfig(
        input_type=model_pb2.INPUT_CLASSICAL_112_PLANE, embedding_size=e, embedding_dense_sz=dense, embedding_dff=dff,
        encoder_layers=blocks, encoder_heads=heads, encoder_dff=dff, default_activation=model_pb2.MISH,
        value_embedding_size=32, moves_left_embedding_size=8,
    )
    if smolgen:
        model.use_smolgen = True
        model.smolgen_hidden_channels, model.smolgen_hidden_sz, model.smolgen_gen_sz = smolgen
        model.smolgen_activation = model_pb2.SWISH
    training = training_pb2.TrainingConfig(
        batch_size=batch_size, total_steps=1000, test_steps=1000, train_avg_report_steps=10, lr_values=[1e-3],
        optimizer=training_pb2.NADAMW, beta_1=0.9, beta_2=0.98, epsilon=1e-7, weight_decay=1e-4, max_grad_norm=10,
        precision=training_pb2.Precision.Value(precision), num_batch_splits=batch_splits,
    )
    spec = job_pb2.JobSpec(name=f"bench-{name}", seed=0, model=model, training=training)
    spec.dataset.input_train.append(str(SELFPLAY))
    spec.dataset.input_test.append(str(SELFPLAY))
    return spec


def config_spec(path: Path, overrides: list[str], batch_size: int, precision: str, batch_splits: int) -> job_pb2.JobSpec:
    """A JobSpec file on one host and the bench's real chunks, with the bench's batch size, precision and splits."""
    return load_spec(path, [*overrides, "resources.hosts=1", f"training.batch_size={batch_size}", f"training.precision={precision}",
                            f"training.num_batch_splits={batch_splits}", f"dataset.input_train={SELFPLAY}",
                            f"dataset.input_test={SELFPLAY}", f"dataset.input_validation={SELFPLAY}",
                            "export.enabled=false"])


def matmul_flops_per_position(m: NetDims) -> int:
    """Training matmul FLOPs per position (3× forward; every Linear and attention einsum)."""
    e, d, heads, tokens = m.embedding, m.d_model, m.heads, 64
    dense = m.embedding_dense
    fwd = 2 * 12 * 64 * tokens * dense + 2 * tokens * (112 + dense) * e + 2 * tokens * 2 * e * m.embedding_dff
    per_block = 2 * tokens * e * d * 4 + 2 * 2 * tokens * tokens * d + 2 * tokens * 2 * e * m.dff
    if m.smolgen is not None:
        hc, hs, gen = m.smolgen.hidden_channels, m.smolgen.hidden_size, m.smolgen.gen_size
        per_block += 2 * tokens * e * hc + 2 * tokens * hc * hs + 2 * hs * gen * heads + 2 * heads * gen * tokens * tokens
    fwd += m.layers * per_block
    pe, pd = m.policy_embedding, m.policy_d_model
    fwd += 2 * tokens * e * pe + 2 * tokens * pe * pd * 2 + 2 * tokens * tokens * pd + 2 * 8 * pd * 4
    for channels, hidden, outputs in ((m.value_channels, m.value_hidden, 3), (m.moves_left_channels, m.moves_left_hidden, 1)):
        fwd += 2 * tokens * e * channels + 2 * tokens * channels * hidden + 2 * hidden * outputs
    return 3 * fwd


def matmul_peak_gflops(n: int = 2048, repeats: int = 10, dtype: str = "float32") -> float:
    """Dense n×n matmul throughput (GFLOP/s) of this process's default device in `dtype`."""
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n), np.float32), dtype)
    matmul = jax.jit(lambda x, y: x @ y)
    matmul(a, a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def real_batch(batch_size: int) -> Batch:
    """A batch of real lc0 self-play positions, tiled to batch_size."""
    raw = np.concatenate([read_chunk(p) for p in discover_chunks([str(SELFPLAY)])])
    return Batch.from_decoded(decode_records(np.resize(raw, (batch_size, raw.shape[1]))))


def time_steps(step: Callable, state: TrainState, sums: dict, next_batch: Callable[[], Batch], fetch_every: int = 0) -> tuple[list[float], TrainState]:
    """Runs warm-up then timed steps; each timed to block_until_ready of the new state and sums."""
    times = []
    for i in range(WARMUP_STEPS + TIMED_STEPS):
        start = time.perf_counter()
        state, sums = step(state, sums, next_batch())
        if fetch_every and (i + 1) % fetch_every == 0:
            jax.device_get(sums)
        jax.block_until_ready((state, sums))
        if i >= WARMUP_STEPS:
            times.append(time.perf_counter() - start)
    return times, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--config", type=Path, help="a transformer JobSpec textproto (e.g. configs/bt4.textproto) instead of a preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD.PATH=VALUE",
                        help="override a field of --config (repeatable)")
    parser.add_argument("--peak-size", type=int, default=2048, help="n of the n×n matmul that measures the peak (8192 fills a GPU)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", choices=["FP32", "BF16"], default="FP32", help="compute dtype (parameters stay FP32)")
    parser.add_argument("--batch-splits", type=int, default=1, help="gradient accumulation micro-batches per step")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    job = resolve(config_spec(args.config, args.overrides, args.batch_size, args.precision, args.batch_splits) if args.config
                  else preset_spec(args.preset, args.batch_size, args.precision, args.batch_splits))
    mesh, init, steps, state = build_training(job)
    peak = matmul_peak_gflops(args.peak_size, dtype="bfloat16" if args.precision == "BF16" else "float32")

    batch = to_global_batch(mesh, real_batch(args.batch_size))
    bare, state = time_steps(steps.train, state, steps.zero_sums(), lambda: batch)

    stream = ChunkStream(discover_chunks([str(SELFPLAY)]), batch_size=args.batch_size, shuffle_size=4096, seed=0,
                         input_format=job.model.input_type, prefetch=2)
    batches = (to_global_batch(mesh, Batch.from_decoded(b)) for b in stream)
    piped, state = time_steps(steps.train, state, steps.zero_sums(), lambda: next(batches), fetch_every=10)
    stream.close()

    median = statistics.median(bare)
    flops = matmul_flops_per_position(job.model.dims) * args.batch_size / median
    result = {
        "preset": str(args.config) if args.config else args.preset,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "batch_splits": args.batch_splits,
        "params": parameter_count(init.params),
        "devices": mesh.size,
        "device": str(jax.devices()[0].device_kind),
        "positions_per_s": args.batch_size / median,
        "step_ms_median": median * 1e3,
        "step_ms_min": min(bare) * 1e3,
        "step_ms_max": max(bare) * 1e3,
        "achieved_gflops": flops / 1e9,
        "matmul_peak_gflops": peak,
        "mfu": flops / 1e9 / peak,
        "pipeline_positions_per_s": args.batch_size / statistics.median(piped),
        "pipeline_step_ms_median": statistics.median(piped) * 1e3,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "allocator": _allocator(),
        "jax": jax.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>26}: {value:.4g}" if isinstance(value, float) else f"{key:>26}: {value}")


def _allocator() -> str:
    preload = os.environ.get("LD_PRELOAD", "")
    for name in ("tcmalloc", "jemalloc"):
        if name in preload:
            return name
    return "glibc"


if __name__ == "__main__":
    main()
