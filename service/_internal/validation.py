"""Up-front validation of submitted specs: wire-level checks, then `workers.config.resolve`.

Every problem is reported as (field path, reason), the same shape `ConfigError` uses, so
the API can answer INVALID_ARGUMENT naming the field. The input message is never mutated.
"""

from __future__ import annotations

from google.protobuf import descriptor, text_format, unknown_fields
from google.protobuf.message import Message

from lc0train import job_pb2
from service._internal.state import InvalidSpec
from workers.config.problems import ConfigError
from workers.config.resolve import ResolvedJob, resolve

# A JobSpec is a few hundred bytes; anything near this is an error or an abuse.
MAX_SPEC_BYTES = 256 * 1024
MAX_NAME_CHARS = 128


def parse_spec_text(text: str) -> job_pb2.JobSpec:
    """Parses a textproto JobSpec; errors name the line and column."""
    if len(text) > MAX_SPEC_BYTES:
        raise InvalidSpec([("spec_text", f"{len(text)} characters exceed the limit of {MAX_SPEC_BYTES}")])
    spec = job_pb2.JobSpec()
    try:
        text_format.Parse(text, spec)
    except text_format.ParseError as err:
        raise InvalidSpec([(f"spec_text (line {err.GetLine()}, column {err.GetColumn()})", str(err).split(" : ", 1)[-1])]) from err
    return spec


def validate_spec(spec: job_pb2.JobSpec) -> ResolvedJob:
    """Returns the resolved job or raises `InvalidSpec` with every problem found."""
    size = spec.ByteSize()
    if size > MAX_SPEC_BYTES:
        raise InvalidSpec([("spec", f"{size} bytes exceed the limit of {MAX_SPEC_BYTES}")])
    problems: list[tuple[str, str]] = []
    _check_wire(spec, "", problems)
    if len(spec.name) > MAX_NAME_CHARS:
        problems.append(("name", f"{len(spec.name)} characters exceed the limit of {MAX_NAME_CHARS}"))
    if not spec.HasField("model"):
        problems.append(("model", "required"))
    if not spec.HasField("training"):
        problems.append(("training", "required"))
    if problems:
        raise InvalidSpec(problems)
    try:
        return resolve(spec)
    except ConfigError as err:
        raise InvalidSpec(err.problems) from err


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
