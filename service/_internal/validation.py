"""Up-front validation of submitted requests and specs: size and wire-level checks, the input
paths against the server's allowed roots (`workers.config.paths`), then `workers.config.resolve`.

Every problem is a `ConfigError` of (field path, reason) pairs, the one error class of job
configs, so the API answers INVALID_ARGUMENT naming the field. Text is parsed by
`workers.config.spec.parse_spec`, as `lc0-train run` parses files. The input message is
never mutated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from google.protobuf import descriptor, unknown_fields
from google.protobuf.message import Message

from lc0train import job_pb2
from workers.config.paths import confinement_problems, path_problems, spec_input_paths, spec_output_paths
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


def check_request(request: Message) -> None:
    """Refuses a request with fields this server does not know or with a wrong wire type (its
    own fields only; the spec is checked by `validate_spec`)."""
    problems: list[tuple[str, str]] = []
    _check_unknown(request, "", problems)
    if problems:
        raise ConfigError(problems)


def validate_spec(spec: job_pb2.JobSpec, data_roots: Sequence[Path] | None = None) -> ResolvedJob:
    """Returns the resolved job or raises `ConfigError` with every problem found.

    With `data_roots`, dataset and `init_from` paths must lie inside them; an `init_from`
    path that is refused is not read.
    """
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
    if data_roots is not None:
        problems.extend(path_problems(spec_input_paths(spec), data_roots))
        problems.extend(confinement_problems(spec_output_paths(spec), data_roots))
    if any(path == "init_from.path" for path, _ in problems):
        spec = _without_init_from(spec)
    try:
        job = resolve(spec)
    except ConfigError as err:
        raise ConfigError([*problems, *err.problems]) from None
    if problems:
        raise ConfigError(problems)
    return job


def _without_init_from(spec: job_pb2.JobSpec) -> job_pb2.JobSpec:
    copy = job_pb2.JobSpec()
    copy.CopyFrom(spec)
    copy.ClearField("init_from")
    return copy


def _check_unknown(message: Message, prefix: str, problems: list[tuple[str, str]]) -> None:
    """Unknown field numbers, and known ones sent with another wire type (both land in the unknown set)."""
    unknown = unknown_fields.UnknownFieldSet(message)
    fields = message.DESCRIPTOR.fields_by_number
    for i in range(len(unknown)):
        number = unknown[i].field_number
        known = fields.get(number)
        if known is not None:
            path = f"{prefix}.{known.name}" if prefix else known.name
            problems.append((path, f"wrong wire type {unknown[i].wire_type} for field {number} "
                                   f"(a {_TYPE_NAMES.get(known.type, 'value')})"))
        else:
            problems.append((f"{prefix}#{number}" if prefix else f"#{number}",
                             f"unknown field number {number} in {message.DESCRIPTOR.name}"))


_TYPE_NAMES = {value: name.removeprefix("TYPE_").lower() for name, value in vars(descriptor.FieldDescriptor).items()
               if name.startswith("TYPE_") and isinstance(value, int)}


def _check_wire(message: Message, prefix: str, problems: list[tuple[str, str]]) -> None:
    """Unknown fields (wrong wire types land there too) and enum numbers the schema lacks."""
    _check_unknown(message, prefix, problems)
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
