"""A real Prometheus for the tests: Debian's `prometheus` and `promtool` binaries (`make test` installs them)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; a missing one fails the test with what to install."""
    path = shutil.which(name)
    assert path, f"`{name}` is not on PATH: install Debian's prometheus package (apt-get install prometheus), as `make test` does"
    return path


def promtool(*args: str, stdin: str | None = None, cwd: Path = PROMETHEUS_DIR) -> str:
    """Runs promtool and returns its output; fails the test with that output when promtool does."""
    done = subprocess.run([binary("promtool"), *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{output}"
    return output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """The shipped prometheus.yml and alerts.yml, scraping `target` every `interval` seconds."""

    def __init__(self, directory: Path, target: str, interval: float = 1.0):
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
        config["global"].update(scrape_interval=f"{round(interval * 1000)}ms", evaluation_interval=f"{round(interval * 1000)}ms")
        (scrape,) = config["scrape_configs"]
        scrape["static_configs"] = [{"targets": [target]}]
        directory.mkdir(parents=True, exist_ok=True)
        for rule_file in config["rule_files"]:
            shutil.copy(PROMETHEUS_DIR / rule_file, directory / rule_file)
        (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.url = f"http://127.0.0.1:{_free_port()}"
        self._log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary("prometheus"), f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address={self.url.removeprefix('http://')}"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=directory)
        self.directory = directory
        deadline = time.monotonic() + 60
        while not self._ready():
            assert self.process.poll() is None, f"prometheus exited:\n{(directory / 'prometheus.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "prometheus did not become ready in 60 s"
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: Any) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30) as answer:
            body = json.loads(answer.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        """An instant query at Unix time `at`: [{"metric": labels, "value": [time, "value"]}, ...]."""
        data = self.api("query", query=expr, time=f"{at:.3f}")
        assert data["resultType"] in ("vector", "scalar"), data
        return data["result"] if data["resultType"] == "vector" else [{"metric": {}, "value": data["result"]}]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
