"""`lc0-train net export|import|eval`: lc0 network files from the command line.

Errors in the input (not an lc0 net, unsupported format, bad position, missing
checkpoint) print `error: ...` and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_HELP_SOURCE = "job directory, its checkpoints/ directory, or an imported net directory"


def register(commands: argparse._SubParsersAction) -> None:
    """Adds the `net` command group to the `lc0-train` parser."""
    net = commands.add_parser("net", help="lc0 network files: export, import, evaluate")
    sub = net.add_subparsers(dest="net_command", required=True)

    export = sub.add_parser("export", help="write a checkpoint as an lc0 .pb.gz network")
    export.add_argument("checkpoint", type=Path, help=_HELP_SOURCE)
    export.add_argument("--out", type=Path, required=True, help="output .pb.gz file")
    _add_weights_choice(export)
    export.set_defaults(func=_export)

    imp = sub.add_parser("import", help="read an lc0 .pb.gz network into a checkpoint a job can start from")
    imp.add_argument("net", type=Path, help="lc0 network file (.pb.gz)")
    imp.add_argument("--out", type=Path, required=True, help="output directory (model.textproto, params/)")
    imp.set_defaults(func=_import)

    ev = sub.add_parser("eval", help="evaluate positions with our forward pass")
    ev.add_argument("source", type=Path, help=f"lc0 .pb.gz file, {_HELP_SOURCE}")
    ev.add_argument("--moves", default="", help='UCI moves from the start position (or --fen), e.g. "e2e4 e7e5"')
    ev.add_argument("--fen", help="starting position (default: the standard start)")
    ev.add_argument("--positions", type=Path, help="JSONL file, one {\"moves\": [...], \"fen\": ...} per line")
    ev.add_argument("--json", action="store_true", help="print one JSON object per position")
    _add_weights_choice(ev)
    ev.set_defaults(func=_eval)


def _add_weights_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
    parser.add_argument("--swa", action="store_true", help="the SWA weights instead of the raw ones")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _export(args: argparse.Namespace) -> int:
    from workers.lc0net.export import export_net
    from workers.lc0net.netfile import write_net
    from workers.lc0net.store import load_stored

    try:
        stored = load_stored(args.checkpoint, args.step, args.swa)
        write_net(export_net(stored.config, stored.params, stored.training), args.out)
    except ValueError as err:
        return _fail(str(err))
    print(f"wrote {args.out} (step {stored.training.steps})")
    return 0


def _read_and_import(path: Path) -> tuple[Any, Any]:
    """The file's Net and its ImportedNet; errors name the file."""
    from workers.lc0net.importer import import_net
    from workers.lc0net.netfile import read_net

    try:
        net = read_net(path)
        return net, import_net(net)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def _import(args: argparse.Namespace) -> int:
    from google.protobuf import text_format

    from workers.lc0net.store import save_imported

    try:
        net, imported = _read_and_import(args.net)
        save_imported(args.out, imported.config, imported.params, net.training_params)
    except (ValueError, FileExistsError) as err:
        return _fail(str(err))
    print(text_format.MessageToString(imported.config), end="")
    if imported.ignored:
        print(f"# ignored {len(imported.ignored)} tensors of auxiliary outputs BTNet lacks (lc0 does not play with them): "
              f"{', '.join(imported.ignored)}", file=sys.stderr)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from workers.lc0net.evaluate import evaluate

    try:
        config, params = _load_for_eval(args)
        positions = _positions(args)
        results = evaluate(config, params, positions)
    except ValueError as err:
        return _fail(str(err))
    for result in results:
        print(json.dumps(result) if args.json else _summary(result))
    return 0


def _load_for_eval(args: argparse.Namespace) -> tuple[Any, Any]:
    if args.source.is_file():
        if args.step is not None or args.swa:
            raise ValueError("--step and --swa apply to checkpoints, not to .pb.gz files")
        _, imported = _read_and_import(args.source)
        return imported.config, imported.params
    from workers.lc0net.store import load_stored

    stored = load_stored(args.source, args.step, args.swa)
    return stored.config, stored.params


def _positions(args: argparse.Namespace) -> list:
    from workers.lc0net.evaluate import Position

    if args.positions is None:
        return [Position(tuple(args.moves.split()), args.fen)]
    if args.moves or args.fen:
        raise ValueError("use either --positions or --moves/--fen")
    positions = []
    for number, line in enumerate(args.positions.read_text().splitlines(), 1):
        if line.strip():
            try:
                positions.append(Position.from_json(json.loads(line)))
            except (json.JSONDecodeError, ValueError, AttributeError) as err:
                raise ValueError(f"{args.positions}:{number}: {err}") from err
    return positions


def _summary(result: dict[str, Any]) -> str:
    best = sorted(result["legal"], key=lambda m: -m["prob"])[:5]
    moves = " ".join(f"{m['uci']} {m['prob']:.3f}" for m in best)
    win, draw, loss = result["wdl"]
    return f"{result['fen']}\n  wdl {win:.3f} {draw:.3f} {loss:.3f}  q {result['q']:+.3f}  moves left {result['moves_left']:.1f}\n  {moves}"
