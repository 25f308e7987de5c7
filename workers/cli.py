"""The trainer's `lc0-train` commands: run, gen-data, data stats/rescore, net, config.

Commands stay thin: each parses arguments and calls the library. `service.cli.main` is the
entry point that registers them beside the service's commands and maps `ConfigError` to exit
code 2 with the offending field path.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

from workers.config.resolve import resolve
from workers.config.spec import load_spec
from workers.config.cli import register as register_config_commands
from workers.layout import COMPILE_CACHE_DIR, compile_cache_dir
from workers.lc0net.cli import register as register_net_commands

log = logging.getLogger("lc0-train")


def register(commands: argparse._SubParsersAction) -> None:
    """Adds the trainer's commands to the `lc0-train` subparsers (the entry point is `service.cli`)."""
    run = commands.add_parser("run", help="train a job in this process")
    run.add_argument("config", type=Path, help="JobSpec textproto")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD.PATH=VALUE", help="override a config field (repeatable)")
    run.add_argument("--out", type=Path, help="job directory (default: runs/<name>)")
    cache = run.add_mutually_exclusive_group()
    cache.add_argument("--compile-cache", type=Path, metavar="DIR",
                       help=f"persistent compilation cache (default: {COMPILE_CACHE_DIR}/ beside the job directory)")
    cache.add_argument("--no-compile-cache", action="store_true", help="compile every program afresh")
    run.set_defaults(func=_run)

    gen = commands.add_parser("gen-data", help="write V6 training chunks from games played with python-chess")
    gen.add_argument("--out", type=Path, required=True, help="output directory")
    gen.add_argument("--games", type=int, default=32, help="number of games (one chunk file each)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--max-plies", type=int, default=200, help="games longer than this end as draws")
    gen.add_argument("--input-format", choices=sorted(_INPUT_FORMATS), default="classical")
    gen.set_defaults(func=_gen_data)

    data = commands.add_parser("data", help="inspect training data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    stats = data_commands.add_parser("stats", help="summarise chunk files")
    stats.add_argument("paths", nargs="+", help="files, directories or globs")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(func=_data_stats)
    rescore = data_commands.add_parser("rescore", help="write V7 chunks with short-term targets from V6 games")
    rescore.add_argument("paths", nargs="+", metavar="INPUT", help="files, directories or globs")
    rescore.add_argument("--out", type=Path, required=True, help="output directory (same file names)")
    rescore.set_defaults(func=_data_rescore)
    register_net_commands(commands)  # net export, import, eval
    register_config_commands(commands)  # config from-yaml


_INPUT_FORMATS = {"classical": 1, "canonical": 3}


def _run(args: argparse.Namespace) -> int:
    from workers.console import ConsoleReporter
    from workers.events import EventBus, JsonlSink
    from workers.layout import JobPaths
    from workers.training.loop import StopRequest, run_training

    began = time.time()
    spec = load_spec(args.config, args.overrides)
    job = resolve(spec, source=str(args.config))
    for warning in job.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    paths = JobPaths(args.out or Path("runs") / (spec.name or args.config.stem))
    compile_cache = None if args.no_compile_cache else args.compile_cache or compile_cache_dir(paths.root.absolute().parent)
    bus = EventBus()
    sink = JsonlSink(paths.events)
    bus.subscribe(sink)
    stop = StopRequest()
    previous = signal.getsignal(signal.SIGINT)

    def interrupted(signum: int, frame: object) -> None:
        # The first Ctrl-C ends the run at the next step with a checkpoint; a second one aborts.
        log.warning("interrupted: checkpointing and stopping (Ctrl-C again to abort)")
        signal.signal(signal.SIGINT, previous)
        stop.request("CANCELLED", checkpoint=True)

    progress_steps = job.continuous.steps_per_network if job.continuous else job.total_steps
    signal.signal(signal.SIGINT, interrupted)
    with ConsoleReporter(progress_steps) as console:
        bus.subscribe(console)
        try:
            run_training(job, paths, bus, stop, compile_cache=compile_cache, began=began)
        finally:
            signal.signal(signal.SIGINT, previous)
            sink.close()
    print(f"job directory: {paths.root}\ncheckpoints:   {paths.checkpoints}\nevents:        {paths.events}")
    return 0


def _gen_data(args: argparse.Namespace) -> int:
    from workers.data.v6 import InputFormat
    from workers.data.writer import write_games

    files = write_games(args.out, args.games, args.seed, InputFormat(_INPUT_FORMATS[args.input_format]), args.max_plies)
    print(f"wrote {len(files)} chunk files to {args.out}")
    return 0


def _data_stats(args: argparse.Namespace) -> int:
    from workers.data.stats import dataset_stats, format_stats_table

    try:
        stats = dataset_stats(args.paths)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(stats) if args.json else format_stats_table(stats))
    return 0


def _data_rescore(args: argparse.Namespace) -> int:
    from workers.data.rescore import format_report, rescore_files

    try:
        report = rescore_files(args.paths, args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 1 if report.skipped else 0
