"""Data-loader throughput: read → inflate → shuffle → batch → decode through ChunkStream.

    python bench/loader.py [--files DIR_OR_GLOB] [--batch-size 256] [--seconds 10] [--json]

Runs one process, first with everything in the calling thread (prefetch 0), then with the
background threads (prefetch 2), then prefetching with the legacy down-sampling alone (1 in
--sample records kept), then with diff focus added (min 0.025, slope 3.0), and reports
positions/s (wall clock) and positions per CPU-second for each; the sampling rows also report
the records read and filtered per second (32 are read per position kept at sample 32), and the
filter's own rate over the same records. Inflating the chunks is most of the time: at sample 32
positions/s are about the inflate rate over 32.
`positions_per_s` is the prefetching configuration that training uses. Without --files it cycles
over the real lc0 chunks in tests/data/lc0-selfplay. The goal is ≥ 50,000 positions/s per process.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script from a checkout

from workers.data.files import ChunkError, discover_chunks, read_chunk, u32_field
from workers.data.pipeline import ChunkStream
from workers.data.sampling import KEEP_ALL, DiffFocus, Sampling

logger = logging.getLogger(__name__)

DEFAULT_FILES = REPO / "tests" / "data" / "lc0-selfplay"
WARMUP_BATCHES = 3


def detect_input_format(files: list[Path]) -> int:
    """The input format of the first readable chunk."""
    for path in files:
        try:
            return int(u32_field(read_chunk(path), 4)[0])
        except ChunkError as exc:
            logger.warning("skipping chunk %s: %s", path, exc.reason)
    raise ValueError(f"none of the {len(files)} chunk files is readable")


def measure(files: list[Path], *, batch_size: int, shuffle_size: int, seconds: float, prefetch: int,
            input_format: int, seed: int, sampling: Sampling = KEEP_ALL) -> dict[str, Any]:
    """Positions/s pulled from a fresh stream over `seconds`, after a short warm-up."""
    with ChunkStream(files, batch_size=batch_size, shuffle_size=shuffle_size, seed=seed,
                     input_format=input_format, prefetch=prefetch, sampling=sampling) as stream:
        for _ in range(WARMUP_BATCHES):
            next(stream)
        records_start = stream.stats.records_read
        batches = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        while (elapsed := time.perf_counter() - start) < seconds:
            next(stream)
            batches += 1
        cpu = time.process_time() - cpu_start
        stats = stream.stats
    return {
        "positions_per_s": round(batches * batch_size / elapsed),
        # CPU time of all the process's threads: the loader's cost, unaffected by other processes.
        "positions_per_cpu_s": round(batches * batch_size / cpu),
        "records_read_per_s": round((stats.records_read - records_start) / elapsed),
        "records_read_per_cpu_s": round((stats.records_read - records_start) / cpu),
        "batches": batches,
        "seconds": round(elapsed, 3),
        "files_read": stats.files_read,
        "skipped_files": len(stats.skipped_files),
    }


def measure_filter(files: list[Path], sampling: Sampling, seconds: float) -> int:
    """Records/s through the sampling filter alone (the records of `files`, drawn per file as the
    stream does), for its cost apart from reading and decoding."""
    chunks = [read_chunk(path) for path in files]
    records, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for index, rows in enumerate(chunks):
            sampling.select(rows, 0, records, index)
            records += len(rows)
    return round(records / elapsed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", default=str(DEFAULT_FILES), help="directory, glob or file of V6 chunks")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shuffle-size", type=int, default=65536, help="records per shuffle window")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed duration of each mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", type=int, default=32, help="legacy down-sampling of the sampling rows")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    files = discover_chunks([args.files])
    input_format = detect_input_format(files)
    legacy_sampling = Sampling(args.sample, DiffFocus(diff_focus_min=0.025, diff_focus_slope=3.0))
    modes = {
        name: measure(files, batch_size=args.batch_size, shuffle_size=args.shuffle_size, seconds=args.seconds,
                      prefetch=prefetch, input_format=input_format, seed=args.seed, sampling=sampling)
        for name, prefetch, sampling in (("prefetch_off", 0, KEEP_ALL), ("prefetch_on", 2, KEEP_ALL),
                                         ("sample_only", 2, Sampling(args.sample)), ("sampling_on", 2, legacy_sampling))
    }
    filter_rate = measure_filter(files, legacy_sampling, min(args.seconds, 2.0))
    result = {
        "positions_per_s": modes["prefetch_on"]["positions_per_s"],
        "sampling_filter_records_per_s": filter_rate,
        "batch_size": args.batch_size,
        "files": len(files),
        "shuffle_size": args.shuffle_size,
        "input_format": input_format,
        "modes": modes,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{len(files)} files, batch {args.batch_size}, shuffle window {args.shuffle_size}")
        for name, mode in modes.items():
            print(f"  {name:13s} {mode['positions_per_s']:>9,d} positions/s, "
                  f"{mode['positions_per_cpu_s']:>9,d} per CPU-second; records read {mode['records_read_per_s']:>9,d}/s, "
                  f"{mode['records_read_per_cpu_s']:>9,d} per CPU-second ({mode['batches']} batches)")
        print(f"  sampling filter alone: {filter_rate:,d} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
