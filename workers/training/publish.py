"""Publishing a continuous job's networks: destination templates and an lc0 training server.

Each network's net (and SWA net), already exported to `<job>/nets/`, is copied to every
`export.destination` template, atomically: written to a hidden temporary file in the target
folder and renamed into place, so a self-play client watching the folder never reads half a
file. With `export.upload` the gzipped net is also POSTed as a multipart form (file field
`file`; fields `training_id`, `layers`, `filters`, `pwd`) by a background thread that retries
with exponential backoff, reports every failure as an `upload` event (metric
`upload_failures`) and never blocks or stops training. The password is never logged.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import requests

from lc0train import lc0net_pb2, model_pb2
from workers.config.continuous_settings import DEFAULT_PASSWORD_ENV
from workers.config.problems import ConfigError
from workers.events import Event, EventBus

log = logging.getLogger(__name__)

_DEFAULT_ATTEMPTS = 5
_DEFAULT_RETRY_DELAY_S = 10.0
_TIMEOUT_S = 120.0


@dataclasses.dataclass(frozen=True)
class _Upload:
    network: int
    step: int
    path: Path


class Publisher:
    """Copies each network to the destination templates and queues its upload (the templates
    and upload settings were validated with the job: `continuous_settings`)."""

    def __init__(self, job_name: str, destinations: Sequence[str], upload: lc0net_pb2.UploadConfig | None,
                 model: model_pb2.ModelConfig, bus: EventBus) -> None:
        self._job = job_name
        self._templates = list(destinations)
        self._bus = bus
        self._uploader = _Uploader(upload, model, bus) if upload is not None else None

    def publish(self, network: int, step: int, net: Path, swa_net: Path | None) -> None:
        """Publish network `network` (the nets of `step`): destinations, event, upload."""
        copies: list[str] = []
        for template in self._templates:
            for source, swa in ((net, False), (swa_net, True)):
                if source is None:
                    continue
                target = Path(template.format(job=self._job, network=network, step=step, swa="-swa" if swa else ""))
                copy_atomically(source, target)
                copies.append(str(target))
        self._bus.publish(Event("published", step, info={"network": network, "path": str(net), "copies": copies}))
        if self._uploader is not None:
            self._uploader.submit(_Upload(network, step, net))

    def close(self) -> None:
        """Stop the upload thread (uploads still queued or retrying are dropped, with a warning)."""
        if self._uploader is not None:
            self._uploader.close()


def copy_atomically(source: Path, target: Path) -> None:
    """Copy `source` to `target` through a hidden temporary file in `target`'s folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def net_size(model: model_pb2.ModelConfig) -> tuple[int, int]:
    """(layers, filters) as lc0's training server records them: residual blocks and filters, or
    encoder layers and embedding size for an attention body."""
    if model.body == model_pb2.BODY_RESNET:
        return model.residual_blocks, model.filters
    return model.encoder_layers, model.embedding_size


class _Uploader:
    """A daemon thread that uploads queued networks in order, retrying each with backoff."""

    def __init__(self, config: lc0net_pb2.UploadConfig, model: model_pb2.ModelConfig, bus: EventBus) -> None:
        self._url = config.url
        self._attempts = config.max_attempts if config.HasField("max_attempts") else _DEFAULT_ATTEMPTS
        self._delay = config.retry_delay_s if config.HasField("retry_delay_s") else _DEFAULT_RETRY_DELAY_S
        layers, filters = net_size(model)
        self._fields = {"training_id": str(config.training_id), "layers": str(layers), "filters": str(filters),
                        "pwd": _password(config)}
        self._bus = bus
        self._queue: queue.Queue[_Upload | None] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="net-upload", daemon=True)
        self._thread.start()

    def submit(self, upload: _Upload) -> None:
        self._queue.put(upload)

    def close(self) -> None:
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout=5)
        if not self._queue.empty():
            log.warning("stopping with %d network upload(s) not done", self._queue.qsize())

    def _run(self) -> None:
        while not self._closed.is_set():
            upload = self._queue.get()
            if upload is None:
                return
            self._upload(upload)

    def _upload(self, upload: _Upload) -> None:
        data = upload.path.read_bytes()
        for attempt in range(1, self._attempts + 1):
            error = self._post(upload, data)
            if error is None:
                self._bus.publish(Event("upload", upload.step, info={"network": upload.network, "ok": True,
                                                                      "attempts": attempt}))
                return
            log.warning("upload of network %d, try %d of %d failed: %s", upload.network, attempt,
                        self._attempts, error)
            self._bus.publish(Event("upload", upload.step, {"upload_failures": 1.0}, info={
                "network": upload.network, "ok": False, "attempt": attempt, "error": error}))
            if attempt < self._attempts and self._closed.wait(self._delay * 2 ** (attempt - 1)):
                return

    def _post(self, upload: _Upload, data: bytes) -> str | None:
        """None on success, else what went wrong (never the form fields: they hold the password)."""
        try:
            response = requests.post(self._url, data=self._fields, timeout=_TIMEOUT_S,
                                     files={"file": (upload.path.name, data, "application/octet-stream")})
        except requests.RequestException as err:
            return f"{type(err).__name__}: {err}"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _password(config: lc0net_pb2.UploadConfig) -> str:
    if config.password_file:
        try:
            return Path(config.password_file).read_text().splitlines()[0].strip()
        except (OSError, IndexError) as err:
            raise ConfigError([("export.upload.password_file", f"cannot read a password from "
                                                               f"{config.password_file}: {err}")]) from err
    name = config.password_env or DEFAULT_PASSWORD_ENV
    if name not in os.environ:
        raise ConfigError([("export.upload.password_env", f"environment variable {name} is not set "
                                                           "(or set export.upload.password_file)")])
    return os.environ[name]
