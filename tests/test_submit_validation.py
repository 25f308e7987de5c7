"""SubmitJob refuses what would fail later, naming the field, and stores nothing; the allowed data roots.

Requests go through a real loopback gRPC server (the servicer, its lenient decoder, JobService
and a real JobStore) without Ray: no job is run. The generated table checks the contract that
matters: whatever SubmitJob accepts passes the trainer's start checks too.
"""

from __future__ import annotations

import os
import random
import struct
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from google.protobuf import descriptor
from google.protobuf.message import Message

from lc0train import job_pb2
from lc0train import service_pb2 as Q
from tests.service_harness import tiny_spec
from tests.submit_server import RunningSubmitServer
from workers.config.host_limits import MAX_BATCH_SIZE
from workers.config.paths import outside_roots_message, raise_path_problems, spec_input_paths
from workers.config.problems import ConfigError
from workers.config.resolve import check_devices, resolve
from workers.data.splits import resolve_data_files
from workers.training.optim import make_optimizer, make_schedule

F = descriptor.FieldDescriptor
VALIDATE_ONLY = bytes([(4 << 3) | 0, 1])
NON_FINITE = (float("nan"), float("inf"), float("-inf"))


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory, generated_data: dict[str, Path]) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("validation")
    places = {"tmp": tmp, "data": generated_data["train"].parent, "allowed": tmp / "allowed", "outside": tmp / "outside",
              "worker_only": tmp / "worker-only"}  # a root the server does not mount
    for name in ("allowed", "outside"):
        places[name].mkdir()
    (places["allowed"] / "empty").mkdir()
    (places["outside"] / "secret.gz").write_bytes(b"not for you")
    (places["allowed"] / "escape").symlink_to(places["outside"])
    return places


@pytest.fixture(scope="module")
def server(places: dict[str, Path]) -> Iterator[RunningSubmitServer]:
    running = RunningSubmitServer(places["tmp"], [places["data"], places["allowed"], places["worker_only"]])
    yield running
    running.close()


def _call(server: RunningSubmitServer, raw: bytes) -> tuple[bool, str]:
    call = server.channel.unary_unary("/lc0train.TrainingService/SubmitJob", request_serializer=None,
                                      response_deserializer=Q.SubmitJobResponse.FromString)
    try:
        response = call(raw, timeout=30)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
        return False, err.details() or ""
    assert not response.created
    return True, ""


def _nothing_stored(server: RunningSubmitServer) -> None:
    assert list(server.stub.ListJobs(Q.ListJobsRequest()).jobs) == []
    storage = server.server.storage
    assert not storage.exists() or not any(storage.iterdir())


def _spec(generated_data: dict[str, Path], *overrides: str) -> job_pb2.JobSpec:
    return tiny_spec(generated_data, "training.total_steps=4", "training.test_steps=2", "training.train_avg_report_steps=2",
                     *overrides)


def _request(spec: job_pb2.JobSpec) -> bytes:
    return Q.SubmitJobRequest(spec=spec).SerializeToString()


def _set(spec: Message, path: str, value: object) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        spec = getattr(spec, parent)
    field = spec.DESCRIPTOR.fields_by_name[name]
    if field.is_repeated:
        spec.ClearField(name)
        getattr(spec, name).append(value)
    else:
        setattr(spec, name, value)


def _scalar_fields(message: descriptor.Descriptor, prefix: str = "") -> Iterator[tuple[str, F]]:
    for field in message.fields:
        path = f"{prefix}.{field.name}" if prefix else field.name
        if field.type == F.TYPE_MESSAGE:
            yield from _scalar_fields(field.message_type, path)
        else:
            yield path, field


def _start_checks(spec: job_pb2.JobSpec) -> None:
    """What a worker checks before its first step (loop.run_training and _TrainLoop.__init__), on the fewest
    devices its mesh runs on (one without a mesh)."""
    raise_path_problems(spec_input_paths(spec))
    job = resolve(spec)
    check_devices(job, device_count=job.mesh.fixed_devices, process_count=job.hosts)  # the fewest devices its mesh runs on
    resolve_data_files(job.dataset, job.seed)
    make_optimizer(job.optimizer, make_schedule(job.schedule))


# ---- the malformed cases of issue 18, each refused with its field path ------------------------

def test_malformed_specs_are_refused_with_their_field_path_and_nothing_is_stored(
        server: RunningSubmitServer, generated_data: dict[str, Path], places: dict[str, Path]) -> None:
    allowed = places["allowed"]
    cases = {
        "training.lr_values[0]: must be a finite number (got nan)": _spec(generated_data, "training.lr_values=[nan]"),
        "training.constant_lr.lr: must be a finite number (got inf)": _spec(generated_data, "training.constant_lr.lr=inf"),
        "training.weight_decay: must be a finite number (got nan)": _spec(generated_data, "training.weight_decay=nan"),
        "training.loss_weights.policy: must be a finite number (got -inf)": _spec(generated_data, "training.loss_weights.policy=-inf"),
        "training.policy_loss_weight: must be a finite number": _spec(generated_data, "training.policy_loss_weight=nan"),
        "dataset.input_train[0]: empty path": _spec(generated_data, 'dataset.input_train=""'),
        "dataset.input_test[0]: does not exist": _spec(generated_data, f"dataset.input_test={allowed / 'nope'}"),
        "dataset.input_train[0]: matches nothing and its directory": _spec(generated_data, f"dataset.input_train={allowed / 'no' / '*.gz'}"),
        "init_from.path: does not exist": _spec(generated_data, f"init_from.path={allowed / 'net.pb.gz'}"),
        "training.batch_size: 1073741824 positions need": _spec(generated_data, "training.batch_size=1073741824"),
        "training.shuffle_size: 2147483647 records need": _spec(generated_data, "training.shuffle_size=2147483647"),
        "dataset.num_chunks: a window of 1073741824 chunks needs": _spec(generated_data, "dataset.num_chunks=1073741824"),
    }
    for expected, spec in cases.items():
        ok, details = _call(server, _request(spec))
        assert not ok and expected in details, (expected, details)
    assert "GiB" in details and "at most" in details  # the size messages say what a host can hold
    valid = _request(_spec(generated_data))
    wire = {
        "#100: unknown field number 100 in SubmitJobRequest": valid + bytes([0xA0, 0x06, 1]),
        "validate_only: wrong wire type 2": valid + bytes([(4 << 3) | 2, 1, 1]),
        "validate_only: wrong wire type 1": valid + bytes([(4 << 3) | 1]) + bytes(8),
        "spec.training (field 4) at byte": bytes([0x0A, 5, 0x22, 0x10]) + b"abc",
        "spec_text (field 2) at byte 0: the string is not valid UTF-8": bytes([0x12, 2, 0xFF, 0xFE]),
    }
    for expected, raw in wire.items():
        ok, details = _call(server, raw)
        assert not ok and expected in details, (expected, details)
    _nothing_stored(server)


# ---- allowed roots -----------------------------------------------------------------------------

def test_paths_outside_the_roots_get_one_message_whether_or_not_they_exist(
        server: RunningSubmitServer, generated_data: dict[str, Path], places: dict[str, Path]) -> None:
    outside, allowed = places["outside"], places["allowed"]
    tries = {
        "an existing file": str(outside / "secret.gz"),
        "a missing file": str(outside / "missing.gz"),
        "an existing directory": str(outside),
        "a missing directory": str(outside / "missing"),
        "an existing system file": "/etc/passwd",
        "a '..' escape from a root": str(allowed / ".." / "outside" / "secret.gz"),
        "a symlink out of a root": str(allowed / "escape" / "secret.gz"),
        "a glob through a symlink out of a root": str(allowed / "escape" / "*.gz"),
    }
    messages = {}
    for what, path in tries.items():
        for field in ("dataset.input_train", "init_from.path"):
            ok, details = _call(server, _request(_spec(generated_data, f"{field}={path}")) + VALIDATE_ONLY)
            assert not ok, (what, field)
            prefix = "dataset.input_train[0]" if field.startswith("dataset") else field
            messages[(what, field)] = details.split(f"{prefix}: ", 1)[1].split("; ")[0]
    assert set(messages.values()) == {outside_roots_message([places["data"], allowed, places["worker_only"]])}, messages
    # The upload password is read by the workers and sent to the upload URL: a file like any other input.
    upload = ("continuous.chunks_per_network=1", "continuous.steps_per_network=1", "dataset.num_chunks=4", "export.enabled=true",
              "export.upload.url=http://127.0.0.1:9/upload")
    roots_message = outside_roots_message([places["data"], allowed, places["worker_only"]])
    for path in (str(outside / "secret.gz"), "/etc/passwd"):
        ok, details = _call(server, _request(_spec(generated_data, *upload, f"export.upload.password_file={path}")) + VALIDATE_ONLY)
        assert not ok and f"export.upload.password_file: {roots_message}" in details
    # ... and so is any environment variable it could name: only the upload's own.
    ok, details = _call(server, _request(_spec(generated_data, *upload, "export.upload.password_env=LC0_TRAIN_TOKEN")) + VALIDATE_ONLY)
    assert not ok and "export.upload.password_env: 'LC0_TRAIN_TOKEN': must be UPLOAD_PWD or start with LC0_UPLOAD_" in details
    ok, details = _call(server, _request(_spec(generated_data, *upload, "export.upload.password_env=LC0_UPLOAD_RUN1")) + VALIDATE_ONLY)
    assert ok, details
    # Published networks are written only inside the roots, and only by continuous jobs.
    for template in (f"{outside}/{{network}}.pb.gz", f"{allowed}/../outside/{{network}}.pb.gz"):
        ok, details = _call(server, _request(_spec(generated_data, *upload[:4], f"export.destination={template}")) + VALIDATE_ONLY)
        assert not ok and (f"export.destination[0]: {roots_message}" in details or "'..' is not allowed" in details), details
    ok, details = _call(server, _request(_spec(generated_data, *upload[:4], "name=../up", f"export.destination={allowed}/{{job}}/n.pb.gz"))
                        + VALIDATE_ONLY)
    assert not ok and "name: '../up' names a folder of export.destination" in details
    ok, details = _call(server, _request(_spec(generated_data, *upload[:4], f"export.destination={allowed}/{{job}}-{{network}}.pb.gz"))
                        + VALIDATE_ONLY)
    assert ok, details
    ok, details = _call(server, _request(_spec(generated_data, f"export.destination={allowed}/{{network}}.pb.gz")) + VALIDATE_ONLY)
    assert not ok and "export.destination: only applies to a continuous job" in details
    ok, details = _call(server, _request(_spec(generated_data, f"dataset.input_train={allowed}/*/../../outside/*.gz")))
    assert not ok and "'..' after a wildcard" in details
    ok, details = _call(server, _request(_spec(generated_data, "dataset.input_train=relative/dir")))
    assert not ok and "must be an absolute path" in details
    _nothing_stored(server)


def test_paths_the_server_cannot_judge_are_accepted_and_checked_by_the_worker_at_start(
        server: RunningSubmitServer, generated_data: dict[str, Path], places: dict[str, Path]) -> None:
    allowed = places["allowed"]
    later = [f"dataset.input_train={allowed / 'empty'}",  # self-play fills it later
             f"dataset.input_train={allowed / 'empty' / '*.gz'}",
             f"dataset.input_train={allowed / '*' / '*.gz'}"]
    for override in later:
        assert _call(server, _request(_spec(generated_data, override)) + VALIDATE_ONLY)[0], override
    worker_only = _spec(generated_data, f"dataset.input_test={places['worker_only'] / 'test'}",
                        f"init_from.path={places['worker_only'] / 'net.pb.gz'}")
    assert _call(server, _request(worker_only) + VALIDATE_ONLY)[0]
    with pytest.raises(ConfigError) as caught:  # what the trainer runs first, before any step
        raise_path_problems(spec_input_paths(worker_only))
    assert [path for path, _ in caught.value.problems] == ["dataset.input_test[0]", "init_from.path"]
    _nothing_stored(server)


# ---- the generated table -----------------------------------------------------------------------

def _generated_cases(base: job_pb2.JobSpec, places: dict[str, Path]) -> Iterator[tuple[str, bytes, str | None]]:
    """(what, request bytes, the field path a refusal must name or None when either answer is fine)."""
    fields = list(_scalar_fields(job_pb2.JobSpec.DESCRIPTOR))
    sizes = (0, -1, 3, 2**30, 2**31 - 1)

    def changed(path: str, value: object) -> bytes:
        spec = job_pb2.JobSpec()
        spec.CopyFrom(base)
        _set(spec, path, value)
        return _request(spec) + VALIDATE_ONLY

    for path, field in fields:
        repeated_path = f"{path}[0]" if field.is_repeated else path
        if field.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
            for value in NON_FINITE:
                yield f"{path}={value}", changed(path, value), repeated_path
            for value in (0.0, -1.0, 1e30):
                yield f"{path}={value}", changed(path, value), None
        elif field.type in (F.TYPE_INT32, F.TYPE_INT64):
            for value in sizes:
                yield f"{path}={value}", changed(path, value), None
        elif field.type == F.TYPE_ENUM:
            for value in [v.number for v in field.enum_type.values] + [999]:
                yield f"{path}={value}", changed(path, value), repeated_path if value == 999 else None
        elif field.type == F.TYPE_BOOL:
            yield f"{path}=true", changed(path, True), None
    for batch_size in (MAX_BATCH_SIZE, MAX_BATCH_SIZE + 1):
        yield f"batch_size={batch_size}", changed("training.batch_size", batch_size), None
    allowed, data = places["allowed"], places["data"]
    paths = {"": "dataset.input_train[0]", str(allowed / "nope"): "dataset.input_train[0]", str(data / "train"): None,
             str(data / "*" / "*.gz"): None, str(places["outside"]): "dataset.input_train[0]", "/": "dataset.input_train[0]"}
    for value, expected in paths.items():
        yield f"input_train={value!r}", changed("dataset.input_train", value), expected
    valid = _request(base)
    rng = random.Random(18)
    for i in range(60):  # flipped bytes: refused (somewhere) or a spec that must then start cleanly
        raw = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        yield f"flipped bytes #{i}", bytes(raw) + VALIDATE_ONLY, None
    for i in range(20):
        cut = rng.randrange(1, len(valid))
        yield f"truncated at {cut}", valid[:cut] + VALIDATE_ONLY, None
    for number in (8, 15, 100, 536870911):
        tag = _varint((number << 3) | 0)
        yield f"unknown field {number}", valid + tag + b"\x01" + VALIDATE_ONLY, f"#{number}"
    for wire_type, payload in ((1, bytes(8)), (2, b"\x01\x01"), (5, bytes(4))):
        yield f"validate_only as wire type {wire_type}", valid + bytes([(4 << 3) | wire_type]) + payload, "validate_only"
    for i in range(10):
        yield f"random bytes #{i}", rng.randbytes(rng.randint(1, 64)) + VALIDATE_ONLY, None
    yield "a float32 NaN on the wire", _nan_lr_request(base) + VALIDATE_ONLY, "training.lr_values[0]"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _nan_lr_request(base: job_pb2.JobSpec) -> bytes:
    """A NaN written straight into the wire (a signalling-NaN bit pattern) rather than via Python floats."""
    spec = job_pb2.JobSpec()
    spec.CopyFrom(base)
    spec.training.ClearField("lr_values")
    training = spec.training.SerializeToString() + bytes([(_lr_number() << 3) | 5]) + struct.pack("<I", 0x7FA00000)
    spec.ClearField("training")
    raw = spec.SerializeToString() + bytes([(4 << 3) | 2]) + _varint(len(training)) + training
    return bytes([(1 << 3) | 2]) + _varint(len(raw)) + raw


def _lr_number() -> int:
    return job_pb2.JobSpec.DESCRIPTOR.fields_by_name["training"].message_type.fields_by_name["lr_values"].number


def test_no_accepted_request_fails_the_start_checks(server: RunningSubmitServer, generated_data: dict[str, Path],
                                                    places: dict[str, Path]) -> None:
    base = _spec(generated_data)
    _start_checks(base)  # the base itself is valid
    cases = list(_generated_cases(base, places))
    assert len(cases) >= 200
    failures, accepted = [], 0
    for what, raw, expected in cases:
        ok, details = _call(server, raw)
        if ok:
            accepted += 1
            assert expected is None, (what, "accepted")
            request = Q.SubmitJobRequest.FromString(raw)
            try:
                _start_checks(request.spec)
            except (ConfigError, ValueError) as err:
                failures.append((what, str(err)))
        elif expected is not None:
            assert f"{expected}: " in details, (what, details)
        else:
            assert details, what
    assert not failures, failures[:10]
    assert 50 < accepted < len(cases) - 50, accepted  # both answers were exercised
    _nothing_stored(server)
    assert os.listdir(places["outside"]) == ["secret.gz"]


def test_data_roots_default_to_the_storage_and_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from service.cli import parser
    from service.server import ServerConfig, allowed_data_roots

    config = ServerConfig(storage=tmp_path / "storage", db=tmp_path / "jobs.sqlite3")
    monkeypatch.chdir(tmp_path)
    assert allowed_data_roots(config) == (tmp_path / "storage", tmp_path)
    monkeypatch.chdir("/")  # a server started in / does not open the whole filesystem
    assert allowed_data_roots(config) == (tmp_path / "storage",)
    args = parser().parse_args(["serve", "--data-root", "/srv/a", "--data-root", "/srv/b"])
    assert args.data_roots == [Path("/srv/a"), Path("/srv/b")]
    explicit = ServerConfig(storage=tmp_path / "storage", db=tmp_path / "jobs.sqlite3", data_roots=(Path("/srv/a"),))
    assert allowed_data_roots(explicit) == (tmp_path / "storage", Path("/srv/a"))
