"""Optional bearer-token auth (UNAUTHENTICATED without it) and TLS, on a real server."""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lc0train import service_pb2, service_pb2_grpc
from tests.service_harness import RunningServer, server_config, start_ray

TOKEN = "correct-horse-battery-staple"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (and its key), valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lc0-train test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Path]]:
    start_ray()
    tmp = tmp_path_factory.mktemp("auth")
    cert, key = _self_signed(tmp)
    running = RunningServer(server_config(tmp, auth_token=TOKEN, tls_cert=cert, tls_key=key))
    yield running, cert
    running.close()


def _channel(port: int, cert: Path, token: str | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    if token is not None:
        credentials = grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def test_calls_need_the_bearer_token(secure: tuple[RunningServer, Path]) -> None:
    server, cert = secure
    for token in (None, "wrong-token", ""):
        with _channel(server.port, cert, token) as channel:
            stub = service_pb2_grpc.TrainingServiceStub(channel)
            for call in (lambda: stub.ListJobs(service_pb2.ListJobsRequest(), timeout=10),
                         lambda: stub.GetJob(service_pb2.GetJobRequest(job_id="x"), timeout=10),
                         lambda: list(stub.WatchJob(service_pb2.WatchJobRequest(job_id="x"), timeout=10))):
                with pytest.raises(grpc.RpcError) as caught:
                    call()
                assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, (token, caught.value.details())
            # Reflection (a bidirectional stream) is closed like the service's own methods ...
            reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                list(reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, (token, caught.value.details())
            # ... and health stays open for probes.
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
    with _channel(server.port, cert, TOKEN) as channel:
        stub = service_pb2_grpc.TrainingServiceStub(channel)
        assert stub.ListJobs(service_pb2.ListJobsRequest(), timeout=10).next_page_token == ""
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetJob(service_pb2.GetJobRequest(job_id="no-such-job"), timeout=10)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # authenticated: reaches the servicer
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10)
        assert "lc0train.TrainingService" in {s.name for answer in answers for s in answer.list_services_response.service}
    # Every call is counted and timed by method and status code, refused ones included. An aborted call's status
    # reaches the client before the server-side handler returns, so the counts may lag an instant behind.
    expected = {("lc0train.TrainingService/ListJobs", "UNAUTHENTICATED"): 3, ("lc0train.TrainingService/GetJob", "UNAUTHENTICATED"): 3,
                ("lc0train.TrainingService/WatchJob", "UNAUTHENTICATED"): 3, ("grpc.health.v1.Health/Check", "OK"): 3,
                ("lc0train.TrainingService/ListJobs", "OK"): 1, ("lc0train.TrainingService/GetJob", "NOT_FOUND"): 1}
    deadline = time.monotonic() + 5
    while True:
        requests = {key: server.server.registry.get_sample_value("lc0_train_grpc_requests_total", {"method": key[0], "code": key[1]})
                    for key in expected}
        timed = {key: server.server.registry.get_sample_value("lc0_train_grpc_request_duration_seconds_count", {"method": key[0], "code": key[1]})
                 for key in expected}
        if requests == expected == timed or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert requests == expected == timed, (requests, timed)


def test_plaintext_clients_cannot_talk_to_a_tls_server(secure: tuple[RunningServer, Path]) -> None:
    server, _ = secure
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.RpcError) as caught:
            service_pb2_grpc.TrainingServiceStub(channel).ListJobs(service_pb2.ListJobsRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_cli_client_with_token_file_and_ca(secure: tuple[RunningServer, Path], tmp_path: Path) -> None:
    server, cert = secure
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    base = [sys.executable, "-m", "service.cli", "list", "--server", f"127.0.0.1:{server.port}", "--tls-ca", str(cert)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC0_TRAIN_")}
    ok = subprocess.run([*base, "--auth-token-file", str(token_file)], capture_output=True, text=True, timeout=120, env=env)
    assert ok.returncode == 0 and "JOB" in ok.stdout, ok.stderr
    denied = subprocess.run(base, capture_output=True, text=True, timeout=120, env=env)
    assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stderr
