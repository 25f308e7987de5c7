"""deploy/kubernetes/ checked without a cluster: schemas, references, and the server's real CLI.

Core kinds (PersistentVolumeClaim, Deployment, Service) and every pod template inside the
RayCluster are validated against Kubernetes' own OpenAPI schemas (kubernetes-validate ships
them; strict: unknown fields are errors). The RayCluster itself is a KubeRay custom resource
with no schema there, so its fields are checked here. The control plane's container command
is parsed by the real `lc0-train` argument parser, and the ports, paths and addresses it
names are compared with the containers, probes, Services, volumes and annotations. One slow
test runs that command itself against a local Ray cluster (no Kubernetes: a cluster cannot
run here), with this machine's addresses, paths and ports put in.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import math
import os
import shlex
import signal
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import kubernetes_validate
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc
from packaging.requirements import Requirement
from packaging.version import Version

from lc0train import service_pb2, service_pb2_grpc
from service.cli import parser
from service.server import check_db_location
from tests.helpers import ROOT
from workers.config import accelerators
from tests.service_harness import _free_port, loopback_node_flags, ray_environment, start_ray

KUBE = ROOT / "deploy" / "kubernetes"
# The Kubernetes release whose schemas check the manifests (their gRPC probes need 1.27 or later).
KUBERNETES_VERSION = "1.30.0"

Document = dict[str, Any]


def _load() -> dict[str, list[Document]]:
    """{file name: its YAML documents} of every manifest but the kustomization."""
    return {path.name: list(yaml.safe_load_all(path.read_text())) for path in sorted(KUBE.glob("*.yaml")) if path.name != "kustomization.yaml"}


MANIFESTS = _load()
DOCUMENTS = [document for documents in MANIFESTS.values() for document in documents]


def _one(kind: str, name: str | None = None) -> Document:
    (found,) = [d for d in DOCUMENTS if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


RAY = _one("RayCluster")
DEPLOYMENT = _one("Deployment")
SERVICE = _one("Service")
RAY_GROUPS = {"head": RAY["spec"]["headGroupSpec"], **{g["groupName"]: g for g in RAY["spec"]["workerGroupSpecs"]}}
# Every pod the manifests create, by a name for messages.
POD_TEMPLATES = {**{f"ray {name}": group["template"] for name, group in RAY_GROUPS.items()}, "control plane": DEPLOYMENT["spec"]["template"]}


def _container(pod: Document, name: str | None = None) -> Document:
    containers = pod["spec"]["containers"]
    return containers[0] if name is None else next(c for c in containers if c["name"] == name)


def _script_commands(container: Document) -> list[list[str]]:
    """The commands of a `bash -c SCRIPT` container, one token list per line (`\\` continues a line)."""
    assert container["command"] == ["/bin/bash", "-c"], container["command"]
    (script,) = container["args"]
    lines = script.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in lines if line.strip()]


def _serve_args() -> argparse.Namespace:
    """The control plane's `lc0-train serve` flags, parsed by the real parser: unknown or malformed flags fail here."""
    (serve,) = [tokens for tokens in _script_commands(_container(DEPLOYMENT["spec"]["template"])) if tokens[:3] == ["exec", "lc0-train", "serve"]]
    try:
        return parser().parse_args(serve[2:])
    except SystemExit:
        pytest.fail(f"control-plane.yaml: `lc0-train {shlex.join(serve[2:])}` is refused by the lc0-train parser (its message is in the captured stderr)")


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def _ports(container: Document) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in container["ports"]}


def _mount_sources(pod: Document, container: Document) -> dict[str, Document]:
    """{mount path: the volume mounted there} of one container."""
    volumes = {volume["name"]: volume for volume in pod["spec"]["volumes"]}
    return {mount["mountPath"]: volumes[mount["name"]] for mount in container.get("volumeMounts", [])}


def _claim(volume: Document) -> str:
    return volume.get("persistentVolumeClaim", {}).get("claimName", "")


def test_the_kustomization_applies_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(MANIFESTS)
    assert all(isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and d["metadata"].get("name") for d in DOCUMENTS)


@pytest.mark.parametrize("document", [d for d in DOCUMENTS if d["kind"] != "RayCluster"], ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_core_resources_match_the_kubernetes_schema(document: Document) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("group", sorted(RAY_GROUPS))
def test_ray_pod_templates_match_the_kubernetes_schema(group: str) -> None:
    template = RAY_GROUPS[group]["template"]
    wrapped = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": group}, "template": template}
    kubernetes_validate.validate(wrapped, KUBERNETES_VERSION, strict=True)


def test_the_schema_check_catches_a_misspelt_field() -> None:
    broken = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerport"] = 50051
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("pod_name", sorted(POD_TEMPLATES))
def test_every_mount_names_a_declared_volume_and_every_claim_exists(pod_name: str) -> None:
    pod = POD_TEMPLATES[pod_name]
    declared = [volume["name"] for volume in pod["spec"]["volumes"]]
    assert len(declared) == len(set(declared)), f"{pod_name}: duplicate volume names"
    claims = {d["metadata"]["name"] for d in DOCUMENTS if d["kind"] == "PersistentVolumeClaim"}
    for container in pod["spec"]["containers"]:
        assert container["image"], f"{pod_name}/{container['name']}: no image"
        for mount in container.get("volumeMounts", []):
            assert mount["name"] in declared, f"{pod_name}/{container['name']}: mount of undeclared volume {mount['name']}"
    for volume in pod["spec"]["volumes"]:
        assert not _claim(volume) or _claim(volume) in claims, f"{pod_name}: volume {volume['name']} claims an undeclared PVC"


def test_the_control_plane_command_parses_with_the_real_cli() -> None:
    args = _serve_args()
    assert args.command == "serve" and args.ray_address and args.metrics_port is not None and args.auth_token_file
    with pytest.raises(SystemExit):  # the parser does refuse a flag it does not know
        parser().parse_args(["serve", "--metric-port", "9464"])


def test_the_control_plane_joins_the_ray_head_as_an_empty_node() -> None:
    ray_start, serve = _script_commands(_container(DEPLOYMENT["spec"]["template"]))[1:]
    assert serve[:3] == ["exec", "lc0-train", "serve"]
    head = _container(RAY_GROUPS["head"]["template"])
    gcs_port = int(RAY_GROUPS["head"]["rayStartParams"].get("port", "6379"))
    assert _ports(head)["gcs-server"] == gcs_port
    head_address = f"{RAY['metadata']['name']}-head-svc:{gcs_port}"  # the Service KubeRay creates for the head
    assert _serve_args().ray_address == head_address
    assert ray_start[:2] == ["ray", "start"] and f"--address={head_address}" in ray_start
    assert {"--num-cpus=0", "--num-gpus=0"} <= set(ray_start), "no trainer may be placed on the control plane's node"


def test_ports_agree_between_flags_container_probes_service_and_scrape_annotations() -> None:
    args = _serve_args()
    pod = DEPLOYMENT["spec"]["template"]
    container = _container(pod)
    ports = _ports(container)
    assert args.address.startswith("0.0.0.0:") and ports["grpc"] == _port(args.address)
    assert ports["metrics"] == args.metrics_port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):  # grpc.health.v1 answers without the token
        assert container[probe]["grpc"]["port"] == _port(args.address), probe
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == args.metrics_port and annotations["prometheus.io/path"] == "/metrics"
    service_ports = {p["name"]: p for p in SERVICE["spec"]["ports"]}
    assert {name: ports[p["targetPort"]] for name, p in service_ports.items()} == {"grpc": _port(args.address), "metrics": args.metrics_port}
    assert {name: p["port"] for name, p in service_ports.items()} == {"grpc": _port(args.address), "metrics": args.metrics_port}


def test_selectors_match_the_control_plane_pods() -> None:
    labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    selector = DEPLOYMENT["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()
    assert SERVICE["spec"]["selector"].items() <= labels.items() and SERVICE["spec"]["selector"]
    # One server per job database: a second replica or a rolling update would open it twice.
    assert DEPLOYMENT["spec"]["replicas"] == 1 and DEPLOYMENT["spec"]["strategy"]["type"] == "Recreate"


def test_the_database_is_on_its_own_local_volume_and_the_token_on_the_secret() -> None:
    args = _serve_args()
    pod = DEPLOYMENT["spec"]["template"]
    mounts = _mount_sources(pod, _container(pod))
    check_db_location(args.db, args.storage)  # the server refuses a database under the shared storage
    database_claim = _one("PersistentVolumeClaim", _claim(mounts[str(args.db.parent)]))
    assert database_claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "secret" in mounts[str(args.auth_token_file.parent)]


def test_every_pod_mounts_the_shared_storage_at_the_servers_storage_path() -> None:
    storage = str(_serve_args().storage)
    shared_claims = set()
    for pod_name, pod in POD_TEMPLATES.items():
        for container in pod["spec"]["containers"]:
            volume = _mount_sources(pod, container).get(storage)
            assert volume is not None, f"{pod_name}/{container['name']} does not mount {storage}"
            shared_claims.add(_claim(volume))
    (claim,) = shared_claims
    assert _one("PersistentVolumeClaim", claim)["spec"]["accessModes"] == ["ReadWriteMany"]


# Fields of KubeRay's ray.io/v1 RayCluster (its Go API types): a misspelt one is ignored by the operator.
KUBERAY_SPEC_FIELDS = {"rayVersion", "enableInTreeAutoscaling", "autoscalerOptions", "headGroupSpec", "workerGroupSpecs", "headServiceAnnotations",
                       "suspend", "managedBy", "gcsFaultToleranceOptions"}
KUBERAY_HEAD_FIELDS = {"rayStartParams", "template", "serviceType", "headService", "enableIngress"}
KUBERAY_WORKER_FIELDS = {"groupName", "replicas", "minReplicas", "maxReplicas", "numOfHosts", "rayStartParams", "template", "idleTimeoutSeconds",
                         "scaleStrategy", "suspend"}


def test_ray_groups_are_well_formed_kuberay_specs() -> None:
    assert set(RAY["spec"]) <= KUBERAY_SPEC_FIELDS, set(RAY["spec"]) - KUBERAY_SPEC_FIELDS
    assert set(RAY_GROUPS["head"]) <= KUBERAY_HEAD_FIELDS, set(RAY_GROUPS["head"]) - KUBERAY_HEAD_FIELDS
    for group in RAY["spec"]["workerGroupSpecs"]:
        assert set(group) <= KUBERAY_WORKER_FIELDS, set(group) - KUBERAY_WORKER_FIELDS
    ray_bound = next(Requirement(r) for r in _pyproject()["project"]["dependencies"] if Requirement(r).name == "ray")
    assert Version(RAY["spec"]["rayVersion"]) in ray_bound.specifier, "rayVersion outside pyproject.toml's ray bound"
    assert len(RAY["spec"]["workerGroupSpecs"]) == len(RAY_GROUPS) - 1, "worker group names must be unique"
    for name, group in RAY_GROUPS.items():
        assert all(isinstance(v, str) for v in group["rayStartParams"].values()), f"{name}: rayStartParams values are strings"
        if name != "head":
            assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], name
            assert group.get("numOfHosts", 1) >= 1, name
    assert RAY_GROUPS["head"]["rayStartParams"]["num-cpus"] == "0", "trainers must not land on the head"


def _group_with(resource: str) -> Document:
    (group,) = [g for g in RAY["spec"]["workerGroupSpecs"] if resource in _container(g["template"])["resources"]["limits"]]
    return group


def test_the_tpu_group_is_one_whole_multi_host_slice() -> None:
    group = _group_with("google.com/tpu")
    pod = group["template"]["spec"]
    resources = _container(group["template"])["resources"]
    chips_per_host = int(resources["limits"]["google.com/tpu"])
    assert int(resources["requests"]["google.com/tpu"]) == chips_per_host
    selector = pod["nodeSelector"]
    assert selector["cloud.google.com/gke-tpu-accelerator"].startswith("tpu-")
    chips = math.prod(int(n) for n in selector["cloud.google.com/gke-tpu-topology"].split("x"))
    assert group["numOfHosts"] > 1 and group["numOfHosts"] * chips_per_host == chips, "one replica must be the whole slice"


# GKE's names of TPU node pools' accelerators, by the generation a slice type names.
GKE_TPU_GENERATIONS = {"tpu-v4-podslice": "v4", "tpu-v5p-slice": "v5p", "tpu-v5-lite-podslice": "v5litepod", "tpu-v6e-slice": "v6e"}


def test_the_tpu_group_is_the_slice_type_the_service_derives() -> None:
    """A job of the group's slice type is placed on exactly this group: same hosts, same chips per host."""
    group = _group_with("google.com/tpu")
    selector = group["template"]["spec"]["nodeSelector"]
    generation = accelerators.GENERATIONS[GKE_TPU_GENERATIONS[selector["cloud.google.com/gke-tpu-accelerator"]]]
    chips = math.prod(int(n) for n in selector["cloud.google.com/gke-tpu-topology"].split("x"))
    tpu = accelerators.tpu_slice(f"{generation.name}-{chips * generation.cores_per_chip}")
    assert (tpu.hosts, tpu.chips_per_host) == (group["numOfHosts"], int(_container(group["template"])["resources"]["limits"]["google.com/tpu"]))
    assert tpu.pod_type in group["groupName"].replace("v5e", "v5litepod"), "the group is named after its slice type"


def test_accelerator_groups_hold_the_cpus_the_server_reserves_per_host() -> None:
    args = _serve_args()
    for resource in ("nvidia.com/gpu", "google.com/tpu"):
        assert float(_container(_group_with(resource)["template"])["resources"]["requests"]["cpu"]) >= args.cpus_per_host, resource


def _pyproject() -> Document:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_accelerator_extras_install_jax_builds_within_jax_bounds() -> None:
    project = _pyproject()["project"]
    jax = next(Requirement(r) for r in project["dependencies"] if Requirement(r).name == "jax")
    extras = project["optional-dependencies"]
    for extra, jax_extra in (("gpu", "cuda12"), ("tpu", "tpu")):
        (requirement,) = [Requirement(r) for r in extras[extra]]
        assert requirement.name == "jax" and requirement.extras == {jax_extra} and requirement.specifier == jax.specifier, extra
        # The jax this project runs with offers that extra.
        assert jax_extra in importlib.metadata.metadata("jax").get_all("Provides-Extra"), jax_extra


def _localised_control_plane_script(substitutions: dict[str, str]) -> str:
    """The control plane's script with the cluster's addresses, paths and ports replaced, its Ray node on loopback."""
    def localised(token: str) -> str:
        for old, new in substitutions.items():
            if token == old or token.startswith(old + "/"):  # a value, or a path under it
                return new + token[len(old):]
            if token.endswith("=" + old):  # --flag=value
                return token[:-len(old)] + new
        return token

    lines = []
    for tokens in _script_commands(_container(DEPLOYMENT["spec"]["template"])):
        tokens = [localised(token) for token in tokens]
        if tokens[:2] == ["ray", "start"]:
            tokens += loopback_node_flags()
        lines.append(shlex.join(tokens))
    return "\n".join(lines)


def _alive_nodes() -> dict[str, dict[str, float]]:
    import ray

    return {node["NodeID"]: node["Resources"] for node in ray.nodes() if node["Alive"]}


@pytest.mark.slow
def test_the_control_plane_command_joins_a_ray_cluster_and_serves(tmp_path: Path) -> None:
    """The Deployment's own script joins a real Ray cluster as an empty node, then serves gRPC (token) and /metrics."""
    cluster = start_ray()
    before = _alive_nodes()
    args = _serve_args()
    grpc_port, metrics_port = _free_port(), _free_port()
    token = tmp_path / "auth" / "token"
    token.parent.mkdir()
    token.write_text("k8s-secret\n")
    script = _localised_control_plane_script({
        args.address: f"127.0.0.1:{grpc_port}", str(args.metrics_port): str(metrics_port), args.ray_address: cluster.address,
        str(args.storage): str(tmp_path / "jobs"), str(args.db.parent): str(tmp_path / "state"), str(args.auth_token_file.parent): str(token.parent),
    })
    log = tmp_path / "control-plane.log"
    with log.open("wb") as out:
        process = subprocess.Popen(["/bin/bash", "-c", script], stdout=out, stderr=subprocess.STDOUT, env=ray_environment(), start_new_session=True)
    channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
    try:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 180
        while True:  # what the pod's gRPC probes ask, without the token
            assert process.poll() is None, f"the control plane exited {process.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"not serving after 180 s:\n{log.read_text()[-3000:]}"
            with contextlib.suppress(grpc.RpcError):
                if health.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    break
            time.sleep(1)
        jobs = service_pb2_grpc.TrainingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            jobs.ListJobs(service_pb2.ListJobsRequest(), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert jobs.ListJobs(service_pb2.ListJobsRequest(), metadata=[("authorization", "Bearer k8s-secret")], timeout=10).jobs == []
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            assert b"lc0_train_step" in response.read()
        joined = {node: resources for node, resources in _alive_nodes().items() if node not in before}
        assert len(joined) == 1, joined
        (resources,) = joined.values()
        assert not resources.get("CPU") and not resources.get("GPU"), resources  # no trainer can be placed on it
    finally:
        channel.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the server and the Ray node it started: its own process group
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 60  # later tests count the cluster's nodes
        while set(_alive_nodes()) - set(before) and time.monotonic() < deadline:
            time.sleep(0.5)
