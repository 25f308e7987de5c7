"""Publishing networks (workers/training/publish.py): atomic copies to destination templates
and the multipart upload to a real loopback HTTP server that fails the first tries."""

from __future__ import annotations

import email.parser
import email.policy
import http.server
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lc0train import lc0net_pb2, model_pb2
from workers.config.problems import ConfigError
from workers.events import Event, EventBus
from workers.training.publish import Publisher

PASSWORD = "s3cret-pwd"
MODEL = model_pb2.ModelConfig(body=model_pb2.BODY_RESNET, residual_blocks=6, filters=64)


def recorded(bus: EventBus) -> list[Event]:
    seen: list[Event] = []
    bus.subscribe(seen.append)
    return seen


def test_destinations_are_written_atomically(tmp_path: Path) -> None:
    payloads = [np.random.default_rng(i).bytes(1 << 21) for i in range(2)]
    nets = [tmp_path / f"net{i}.pb.gz" for i in range(2)]
    for net, data in zip(nets, payloads, strict=True):
        net.write_bytes(data)
    target = tmp_path / "selfplay"
    bus = EventBus()
    events = recorded(bus)
    publisher = Publisher("run7", [str(target / "{job}-{network:03d}{swa}.pb.gz")], None, MODEL, bus)
    bad_reads, reads, done = [], [0], threading.Event()

    def reader() -> None:  # a self-play client polling the folder as fast as it can
        while not done.is_set():
            for path in target.glob("*.pb.gz") if target.exists() else ():
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue
                reads[0] += 1
                if data not in payloads:
                    bad_reads.append((path.name, len(data)))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for network in range(1, 31):
            publisher.publish(network, network * 10, nets[network % 2], nets[(network + 1) % 2])
            publisher.publish(network, network * 10, nets[(network + 1) % 2], None)  # overwrite in place
    finally:
        done.set()
        thread.join()
        publisher.close()
    assert not bad_reads and reads[0] > 0
    assert (target / "run7-030.pb.gz").read_bytes() == payloads[1]
    assert (target / "run7-030-swa.pb.gz").read_bytes() == payloads[1]
    assert not list(target.glob(".*"))  # no temporary file left behind
    assert [e.info["network"] for e in events if e.kind == "published"][:3] == [1, 1, 2]


class _Server(http.server.ThreadingHTTPServer):
    failures_left = 2
    delay_s = 0.0
    received: list[dict[str, Any]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        form = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                for part in message.iter_parts()}
        time.sleep(self.server.delay_s)
        self.server.received.append(form)
        failing = self.server.failures_left > 0
        self.server.failures_left -= 1
        self.send_response(500 if failing else 200)
        self.end_headers()
        self.wfile.write(b"try again" if failing else b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.received = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def uploader(server: _Server, bus: EventBus, **fields: Any) -> Publisher:
    url = f"http://127.0.0.1:{server.server_address[1]}/upload_network"
    return Publisher("run", [], lc0net_pb2.UploadConfig(url=url, training_id=42, **fields), MODEL, bus)


def wait_until(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_upload_retries_until_the_third_try_without_waiting(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("UPLOAD_PWD", PASSWORD)
    net = tmp_path / "30.pb.gz"
    net.write_bytes(b"\x1f\x8bnet bytes")
    server.delay_s = 0.3
    bus = EventBus()
    events = recorded(bus)
    publisher = uploader(server, bus, retry_delay_s=0.05)
    with caplog.at_level(logging.DEBUG):
        started = time.perf_counter()
        publisher.publish(3, 30, net, None)
        assert time.perf_counter() - started < 0.25  # training goes on while the upload runs
        wait_until(lambda: any(e.kind == "upload" and e.info["ok"] for e in events))
        publisher.close()
    assert len(server.received) == 3
    assert server.received[-1] == {"file": net.read_bytes(), "training_id": b"42", "layers": b"6",
                                   "filters": b"64", "pwd": PASSWORD.encode()}
    uploads = [e for e in events if e.kind == "upload"]
    assert [(e.info["ok"], e.metrics.get("upload_failures")) for e in uploads] == [(False, 1.0), (False, 1.0), (True, None)]
    assert uploads[-1].info["attempts"] == 3 and "HTTP 500" in uploads[0].info["error"]
    assert PASSWORD not in caplog.text and all(PASSWORD not in e.to_json() for e in events)


def test_upload_gives_up_after_max_attempts_and_reads_the_password_file(tmp_path: Path, server: _Server) -> None:
    server.failures_left = 10
    (tmp_path / "pwd").write_text(PASSWORD + "\n")
    net = tmp_path / "1.pb.gz"
    net.write_bytes(b"net")
    bus = EventBus()
    events = recorded(bus)
    publisher = uploader(server, bus, max_attempts=2, retry_delay_s=0, password_file=str(tmp_path / "pwd"))
    publisher.publish(1, 10, net, None)
    wait_until(lambda: len([e for e in events if e.kind == "upload"]) == 2)
    publisher.close()
    assert len(server.received) == 2 and server.received[0]["pwd"] == PASSWORD.encode()
    assert not any(e.info.get("ok") for e in events if e.kind == "upload")


def test_a_missing_upload_password_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPLOAD_PWD", raising=False)
    with pytest.raises(ConfigError, match=r"export\.upload\.password_env.*UPLOAD_PWD"):
        Publisher("run", [], lc0net_pb2.UploadConfig(url="http://127.0.0.1:9/"), MODEL, EventBus())
