"""Job specs: textproto parsing (files and submitted text alike) and `--set` overrides, with
errors naming file, line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence, TypeAlias

from google.protobuf import descriptor, text_format
from google.protobuf.message import Message

from lc0train import job_pb2
from workers.config.problems import ConfigError

Spec: TypeAlias = job_pb2.JobSpec


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> Spec:
    """Parses a JobSpec textproto and applies `field.path=value` overrides."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError([("<file>", f"cannot read config: {err.strerror}")], str(path)) from err
    spec = parse_spec(text, str(path))
    for override in overrides:
        apply_override(spec, override)
    return spec


def parse_spec(text: str, source: str) -> Spec:
    """Parses a JobSpec textproto (a file, or a submitted `spec_text`); errors name `source`, line and column."""
    spec = Spec()
    try:
        text_format.Parse(text, spec)
    except text_format.ParseError as err:
        # ParseError's message starts with "line:column : "; the problem's path says where instead.
        raise ConfigError([(f"line {err.GetLine()}, column {err.GetColumn()}", str(err).split(" : ", 1)[-1])], source) from err
    return spec


def apply_override(spec: Spec, override: str) -> None:
    """Sets one `a.b.c=value` field (`a.b.c=` unsets it); repeated fields take `[v1, v2]` or a single value."""
    field_path, sep, value = override.partition("=")
    if not sep or not field_path:
        raise ConfigError([(override, "expected field.path=value")], "--set")
    message: Message = spec
    names = field_path.split(".")
    for i, name in enumerate(names):
        field = message.DESCRIPTOR.fields_by_name.get(name)
        walked = ".".join(names[: i + 1])
        if field is None:
            known = ", ".join(sorted(message.DESCRIPTOR.fields_by_name))
            raise ConfigError([(walked, f"no such field (known: {known})")], "--set")
        if i < len(names) - 1:
            if field.type != descriptor.FieldDescriptor.TYPE_MESSAGE or _is_repeated(field):
                raise ConfigError([(walked, "is not a message field")], "--set")
            message = getattr(message, name)
    if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
        raise ConfigError([(field_path, "is a message; set one of its fields")], "--set")
    literal = value.strip()
    if not literal:  # `field.path=` unsets the field
        message.ClearField(field.name)
        return
    if field.type == descriptor.FieldDescriptor.TYPE_STRING:
        items = [v.strip() for v in literal.strip("[]").split(",")] if _is_repeated(field) else [literal]
        literal = "[" + ", ".join(_quote(v) for v in items if v) + "]" if _is_repeated(field) else _quote(literal)
    if _is_repeated(field):
        message.ClearField(field.name)
        if not literal.startswith("["):
            literal = f"[{literal}]"
    try:
        text_format.Merge(f"{field.name}: {literal}", message)
    except text_format.ParseError as err:
        raise ConfigError([(field_path, f"bad value {value!r}: {str(err).split(' : ', 1)[-1]}")], "--set") from err


def _is_repeated(field: descriptor.FieldDescriptor) -> bool:
    return field.is_repeated


def _quote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
