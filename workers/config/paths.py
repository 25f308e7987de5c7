"""A job's input paths (dataset sources, `init_from` and the upload password file): where they may
point and whether they exist.

`path_problems` is run by the server at submit, with its allowed roots (`lc0-train serve
--data-root`), and by the trainer at start, without roots, where it finds the paths only the
workers can see. A path outside the roots gets one message whether or not it exists, and
nothing outside them is looked at beyond resolving the path itself (`..` and symlinks are
resolved before the check). Inside a root, a path is refused when it does not exist: a file
or directory that is missing, a glob that matches nothing and whose directory is missing,
an `ARCHIVE.tar:MEMBER` whose archive is missing. A glob or a directory that exists but is
empty is accepted: self-play may fill it later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from lc0train import data_pb2
from workers.config.continuous_settings import TEMPLATE_SAMPLE
from workers.config.problems import ConfigError, Problems
from workers.config.resolve import DATA_PATH_FIELDS, ResolvedJob
from workers.config.spec import Spec
from workers.data.archives import split_member

_GLOB_CHARS = frozenset("*?[")


InputPaths = Iterable[tuple[str, str]]  # (field path, value) of paths the workers will read


def spec_input_paths(spec: Spec) -> InputPaths:
    """Every path the workers of `spec` will read."""
    continuous = spec.HasField("continuous")
    return _input_paths(spec.dataset, spec.init_from.path, spec.export.upload.password_file if continuous else "")


def resolved_input_paths(job: ResolvedJob) -> InputPaths:
    """Every path the workers of `job` will read."""
    upload = job.continuous.upload if job.continuous else None
    return _input_paths(job.dataset, str(job.init_from or ""), upload.password_file if upload else "")


def _input_paths(dataset: data_pb2.DataConfig, init_from: str, password_file: str) -> Iterator[tuple[str, str]]:
    for name in DATA_PATH_FIELDS:
        for i, value in enumerate(getattr(dataset, name)):
            yield f"dataset.{name}[{i}]", value
    if init_from:
        yield "init_from.path", init_from
    if password_file:
        yield "export.upload.password_file", password_file


def path_problems(paths: InputPaths, roots: Sequence[Path] | None = None) -> Problems:
    """Problems with the input `paths`; with `roots`, paths must resolve inside one of them."""
    problems = Problems()
    real_roots = None if roots is None else [Path(os.path.realpath(root)) for root in roots]
    for field, value in paths:
        if not value.strip():
            continue  # resolve() reports empty paths
        path = os.path.expanduser(value)
        if real_roots is not None:
            if reason := _confinement_problem(path, real_roots):
                problems.add(field, reason)
                continue
            root = _root_of(path, real_roots)
            if root is None or not root.is_dir():
                continue  # a root only the workers mount: they check the path when the job starts
        if reason := _missing(path):
            problems.add(field, reason)
    return problems


def spec_output_paths(spec: Spec) -> InputPaths:
    """A sample of every path outside the job directory the workers of `spec` will write (the
    network destinations; a template that does not format is reported by resolve())."""
    if not spec.HasField("continuous"):
        return
    for i, template in enumerate(spec.export.destination):
        try:
            yield f"export.destination[{i}]", template.format(**TEMPLATE_SAMPLE | {"job": spec.name or "job"})
        except Exception:  # resolve() names the bad template
            continue


def confinement_problems(paths: InputPaths, roots: Sequence[Path]) -> Problems:
    """Problems of the `paths` that do not resolve inside one of `roots` (whether or not they exist)."""
    problems = Problems()
    real_roots = [Path(os.path.realpath(root)) for root in roots]
    for field, value in paths:
        if reason := _confinement_problem(os.path.expanduser(value), real_roots):
            problems.add(field, reason)
    return problems


def raise_path_problems(paths: InputPaths) -> None:
    """The trainer's start check: raises `ConfigError` naming each input path missing on this host."""
    if problems := path_problems(paths):
        raise ConfigError(problems)


def outside_roots_message(roots: Sequence[Path]) -> str:
    """The one answer for a path outside the roots, whether or not it exists."""
    return f"is outside the server's allowed data roots {', '.join(map(str, roots))} (lc0-train serve --data-root)"


def _confinement_problem(path: str, roots: list[Path]) -> str | None:
    if not os.path.isabs(path):
        return "must be an absolute path (the server's and the workers' working directories differ)"
    fixed, rest = _split_pattern(_archive(path) or path)
    if ".." in rest:
        return "'..' after a wildcard is not allowed"
    if _root_of(fixed, roots) is None:
        return outside_roots_message(roots)
    return None


def _root_of(path: str, roots: list[Path]) -> Path | None:
    fixed, _ = _split_pattern(_archive(path) or path)
    real = Path(os.path.realpath(fixed))
    return next((root for root in roots if real == root or root in real.parents), None)


def _missing(path: str) -> str | None:
    archive = _archive(path)
    if archive is not None:
        return None if os.path.isfile(archive) else f"the archive {archive} does not exist"
    if os.path.exists(path):
        return None
    fixed, rest = _split_pattern(path)
    if not rest:
        return "does not exist"
    if os.path.isdir(fixed):  # matches now, or may once self-play writes there
        return None
    return f"matches nothing and its directory {fixed} does not exist"


def _split_pattern(path: str) -> tuple[str, list[str]]:
    """(the path up to its first wildcard component, the components from there on)."""
    parts = Path(path).parts
    first = next((i for i, part in enumerate(parts) if _GLOB_CHARS & set(part)), len(parts))
    return str(Path(*parts[:first])) if first else ".", list(parts[first:])


def _archive(path: str) -> str | None:
    """The archive of an `ARCHIVE.tar:MEMBER` address (None for any other path), as the reader splits it."""
    split = split_member(path)
    return str(split[0]) if split else None
