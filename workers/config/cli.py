"""`lc0-train config from-yaml`: convert a legacy lczero-training YAML config to a JobSpec textproto."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workers.config.problems import ConfigError
from workers.config.resolve import resolve


def register(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser("config", help="convert configurations")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    from_yaml = config_commands.add_parser("from-yaml", help="convert a legacy lczero-training YAML config to a JobSpec textproto")
    from_yaml.add_argument("yaml", type=Path, metavar="LEGACY.yaml")
    from_yaml.add_argument("--out", type=Path, help="write the textproto here (default: stdout)")
    from_yaml.add_argument("--strict", action="store_true",
                           help="fail on keys with no effect here (and other conversion notes) instead of noting them")
    from_yaml.set_defaults(func=_from_yaml)


def _from_yaml(args: argparse.Namespace) -> int:
    from workers.config.legacy_convert import convert_legacy_yaml, to_textproto

    try:
        text = args.yaml.read_text()
    except OSError as err:
        raise ConfigError([("<file>", f"cannot read config: {err.strerror}")], str(args.yaml)) from err
    warnings: list[str] = []
    spec = convert_legacy_yaml(text, str(args.yaml), warnings, strict=args.strict)
    job = resolve(spec, source=f"{args.yaml} (converted)")
    for warning in warnings + list(job.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    textproto = to_textproto(spec, args.yaml.name, warnings)
    if args.out:
        args.out.write_text(textproto)
    else:
        sys.stdout.write(textproto)
    return 0
