"""The files under deploy/ and the Dockerfile, checked structurally against each other and the CLI.

Nothing here runs Docker: the compose file's command is parsed by the real `lc0-train`
argument parser, and ports, volume paths, images, datasources and dashboards are compared
with what the other files expect.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.cli import parser
from service.server import check_db_location

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _mounts(service: str) -> dict[str, str]:
    """{container path: source} of a compose service's volumes."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target = volume.split(":")[:2]
        mounts[target] = source
    return mounts


def _serve_args() -> Any:
    command = SERVICES["lc0-train"]["command"]
    assert command[0] == "serve"
    return parser().parse_args(command)  # the real parser: an unknown or malformed flag fails here


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml", ".json")))
def test_every_manifest_parses(path: str) -> None:
    text = (ROOT / path).read_text()
    documents = [json.loads(text)] if path.endswith(".json") else list(yaml.safe_load_all(text))
    assert documents and all(isinstance(d, dict) for d in documents), path


def test_compose_server_flags_ports_and_volumes_agree() -> None:
    args = _serve_args()
    server = SERVICES["lc0-train"]
    published = {int(p.split(":")[1]) for p in server["ports"]}
    assert _port(args.address) in published and args.address.startswith("0.0.0.0:")  # reachable from outside the container
    mounts = _mounts("lc0-train")
    assert str(args.storage) in mounts and str(args.db.parent) in mounts
    check_db_location(args.db, args.storage)  # the database is not on the shared storage
    named = {source for source in mounts.values() if not source.startswith(".")}
    assert named <= set(COMPOSE["volumes"]), named - set(COMPOSE["volumes"])
    assert (ROOT / "deploy" / server["build"]["context"] / "Dockerfile").is_file()


def test_dockerfile_runs_as_a_user_owning_the_volumes_with_accelerator_build_args() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0"), users
    args = _serve_args()
    owned = re.search(rf"chown {users[-1]}:{users[-1]} (.+)", dockerfile)
    assert owned and {str(args.storage), str(args.db.parent)} <= set(owned.group(1).split())
    exposed = {int(p) for line in re.findall(r"^EXPOSE\s+(.+)$", dockerfile, re.M) for p in line.split()}
    assert {_port(args.address), args.metrics_port} <= exposed
    # Each accelerator the build arg accepts is an extra of pyproject.toml (test_deploy_kubernetes checks what they pin).
    accelerators = set(re.search(r"^\s+(gpu\|tpu)\)", dockerfile, re.M).group(1).split("|"))
    assert accelerators <= set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    # The Kubernetes control plane's volumes are group-owned by the image's user.
    uid = re.search(r"^ARG LC0_UID=(\d+)$", dockerfile, re.M)
    deployment = next(d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "control-plane.yaml").read_text()) if d["kind"] == "Deployment")
    assert uid and deployment["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == int(uid.group(1))
    assert re.search(r"^ARG ACCELERATOR=cpu$", dockerfile, re.M)
    build_args = SERVICES["lc0-train"]["build"]["args"]
    assert build_args["ACCELERATOR"] in accelerators | {"cpu"}


def test_prometheus_scrapes_the_server_and_loads_the_mounted_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (scrape,) = config["scrape_configs"]
    assert scrape["honor_labels"] is True  # the series' own `job` label (the training job) wins
    (target,) = scrape["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host == "lc0-train" and int(port) == _serve_args().metrics_port
    mounts = _mounts("prometheus")
    config_target = next(t for t, s in mounts.items() if s == "./prometheus/prometheus.yml")
    for rule_file in config["rule_files"]:  # relative to the config file, where they are mounted
        assert mounts[str(Path(config_target).parent / rule_file)] == f"./prometheus/{rule_file}"
        assert (DEPLOY / "prometheus" / rule_file).is_file()
    for service in ("prometheus", "grafana"):
        image, _, tag = SERVICES[service]["image"].partition(":")
        assert tag and tag != "latest", f"{service}: pin the image version"


def test_grafana_provisioning_datasource_and_dashboard_agree() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{SERVICES['prometheus']['ports'][0].split(':')[1]}"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "lc0-train.yaml").read_text())["providers"]
    mounts = _mounts("grafana")
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"

    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "lc0-train.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == datasource["type"]
    assert variables["datasource"]["current"]["value"] == datasource["uid"]
    assert variables["job"]["datasource"]["uid"] == "${datasource}"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{panel['title']}: no unit"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            windows = re.findall(r"\b(?:rate|increase|irate)\([^\[]*\[([^\]]+)\]", target["expr"])
            assert all(window == "$__rate_interval" for window in windows), (panel["title"], target["expr"])
