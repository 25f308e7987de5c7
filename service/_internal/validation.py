"""Up-front validation of submitted specs: size and wire-level checks, then `workers.config.resolve`.

Every problem is a `ConfigError` of (field path, reason) pairs, the one error class of job
configs, so the API answers INVALID_ARGUMENT naming the field. Text is parsed by
`workers.config.spec.parse_spec`, as `lc0-train run` parses files. The input message is
never mutated.
"""

from __future__ import annotations

from google.protobuf import descriptor, unknown_fields
from google.protobuf.message import Message

from lc0train import job_pb2
from workers.config.problems import ConfigError
from workers.config.resolve import ResolvedJob, resolve
from workers.config.spec import parse_spec

# A JobSpec is a few hundred bytes; anything near this is an error or an abuse.
MAX_SPEC_BYTES = 256 * 1024
MAX_NAME_CHARS = 128


def parse_spec_text(text: str) -> job_pb2.JobSpec:
    """Parses a submitted textproto JobSpec; errors name spec_text, the line and column."""
    if len(text) > MAX_SPEC_BYTES:
        raise ConfigError([("spec_text", f"{len(text)} characters exceed the limit of {MAX_SPEC_BYTES}")])
    return parse_spec(text, "spec_text")


def validate_spec(spec: job_pb2.JobSpec) -> ResolvedJob:
    """Returns the resolved job or raises `ConfigError` with every problem found."""
    size = spec.ByteSize()
    if size > MAX_SPEC_BYTES:
        raise ConfigError([("spec", f"{size} bytes exceed the limit of {MAX_SPEC_BYTES}")])
    problems: list[tuple[str, str]] = []
    _check_wire(spec, "", problems)
    if len(spec.name) > MAX_NAME_CHARS:
        problems.append(("name", f"{len(spec.name)} characters exceed the limit of {MAX_NAME_CHARS}"))
    if not spec.HasField("model"):
        problems.append(("model", "required"))
    if not spec.HasField("training"):
        problems.append(("training", "required"))
    if problems:
        raise ConfigError(problems)
    return resolve(spec)


def _check_wire(message: Message, prefix: str, problems: list[tuple[str, str]]) -> None:
    """Unknown fields (wrong wire types land there too) and enum numbers the schema lacks."""
    unknown = unknown_fields.UnknownFieldSet(message)
    for i in range(len(unknown)):
        field = unknown[i]
        problems.append((f"{prefix}#{field.field_number}" if prefix else f"#{field.field_number}",
                         "unknown field number or wrong wire type"))
    for field, value in message.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        repeated = field.is_repeated
        values = list(value) if repeated else [value]
        for i, item in enumerate(values):
            item_path = f"{path}[{i}]" if repeated else path
            if field.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
                _check_wire(item, item_path, problems)
            elif field.type == descriptor.FieldDescriptor.TYPE_ENUM and field.enum_type.values_by_number.get(item) is None:
                known = ", ".join(v.name for v in field.enum_type.values)
                problems.append((item_path, f"unknown enum value {item} (known: {known})"))
