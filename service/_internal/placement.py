"""Ray placement groups for one job's `Placement`: a bundle per host, or one whole TPU slice.

CPU and GPU jobs get one placement group of a bundle per host (`STRICT_SPREAD` across
nodes when there are several). A TPU job reserves a whole slice in two steps, the
protocol of Ray's TPU support (`ray.util.tpu`): a one-bundle group takes the slice type's
`TPU-<type>-head` resource, which Ray's TPU detection gives worker 0 of every slice, and
so claims that slice; then the job's group takes one bundle per host of that slice, bundle
i pinned by the node labels Ray sets on TPU hosts (`ray.io/tpu-slice-name` and
`ray.io/tpu-worker-id` = i). Its hosts never span two slices, and JAX process i runs on TPU
worker i. Where this Ray offers `ray.util.tpu.SlicePlacementGroup`, the second group is made
through it (it derives the bundles from the slice's `ray.io/tpu-topology` and refuses a
topology that disagrees with the type); otherwise, or when it refuses, it is a plain
placement group with the same label selectors. Ray's own head step is not used: it blocks
its caller until a slice is free, and the control loop must not block. The head group lives
as long as the job's group, so no other job claims the slice in the meantime; both are
detached and named after the job, so a restarted control plane finds them. A one-host
slice (v4-8, v5e-8) is one node: one bundle pinned by its `ray.io/tpu-pod-type` label.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import ray
from ray.util.placement_group import (PlacementGroup, get_placement_group, placement_group, placement_group_table,
                                      remove_placement_group)

from workers.config.accelerators import Placement, TpuSlice

log = logging.getLogger(__name__)

# The node labels Ray's TPU detection sets on every TPU host (ray._raylet.RAY_NODE_TPU_*_KEY).
SLICE_NAME = "ray.io/tpu-slice-name"
WORKER_ID = "ray.io/tpu-worker-id"
POD_TYPE = "ray.io/tpu-pod-type"
TOPOLOGY = "ray.io/tpu-topology"


def _slice_group_api() -> Callable[..., Any] | None:
    """`ray.util.tpu.SlicePlacementGroup` where this Ray has it (Ray 2.50 may not)."""
    try:
        from ray.util import tpu
    except ImportError:
        return None
    return getattr(tpu, "SlicePlacementGroup", None)


SLICE_GROUP_API = _slice_group_api()


def host_bundle(placement: Placement, cpus_per_host: float) -> dict[str, float]:
    """The resources one host of the job reserves."""
    bundle = {"CPU": cpus_per_host}
    if placement.gpus_per_host:
        bundle["GPU"] = float(placement.gpus_per_host)
    if placement.tpu is not None:
        bundle["TPU"] = float(placement.tpu.chips_per_host)
    return bundle


def find_group(name: str) -> PlacementGroup | None:
    try:
        return get_placement_group(name)
    except ValueError:
        return None


def is_placed(pg: PlacementGroup) -> bool:
    """Whether all bundles are placed, from Ray's control store (no task, no worker process)."""
    return placement_group_table(pg).get("state") == "CREATED"


def head_group_name(name: str) -> str:
    return f"{name}-head"


def request(name: str, placement: Placement, cpus_per_host: float) -> None:
    """Asks for the job's group (CPU and GPU jobs; a TPU job through `request_slice` steps)."""
    bundle = host_bundle(placement, cpus_per_host)
    strategy = "STRICT_SPREAD" if placement.hosts > 1 else "PACK"
    placement_group([dict(bundle) for _ in range(placement.hosts)], strategy=strategy, name=name, lifetime="detached")
    log.info("%s: placement group of %d × %s (%s) requested", name, placement.hosts, bundle, strategy)


def request_slice(name: str, tpu: TpuSlice, cpus_per_host: float) -> None:
    """One step towards the job's slice: claim a slice's head, then (once claimed) reserve its hosts.

    A one-host slice is one node: its group of one bundle is pinned by the pod type alone.
    """
    bundle = host_bundle(Placement(hosts=tpu.hosts, tpu=tpu), cpus_per_host)
    if tpu.hosts == 1:
        placement_group([bundle], strategy="PACK", name=name, lifetime="detached", bundle_label_selector=[{POD_TYPE: tpu.pod_type}])
        log.info("%s: a %s host requested (%s)", name, tpu.pod_type, bundle)
        return
    head = find_group(head_group_name(name))
    if head is None:
        placement_group([{tpu.head_resource: 1.0}], name=head_group_name(name), lifetime="detached")
        log.info("%s: claiming a %s slice (%s)", name, tpu.pod_type, tpu.head_resource)
        return
    if not is_placed(head):
        return
    node = _node(placement_group_table(head)["bundles_to_node_id"][0])
    labels = (node or {}).get("Labels") or {}
    if not labels.get(SLICE_NAME):
        # A lost node, or a head resource on a node that is no TPU host: let go, try another.
        remove_placement_group(head)
        log.warning("%s: the node holding %s has no %s label; claiming again", name, tpu.head_resource, SLICE_NAME)
        return
    selectors = [{SLICE_NAME: labels[SLICE_NAME], WORKER_ID: str(host)} for host in range(tpu.hosts)]
    if not _request_through_ray(name, tpu, labels.get(TOPOLOGY, ""), bundle, selectors):
        placement_group([dict(bundle) for _ in range(tpu.hosts)], strategy="STRICT_SPREAD", name=name, lifetime="detached",
                        bundle_label_selector=selectors)
    log.info("%s: slice %s claimed; %d host(s) × %s requested", name, labels[SLICE_NAME], tpu.hosts, bundle)


def _request_through_ray(name: str, tpu: TpuSlice, topology: str, bundle: dict[str, float], selectors: list[dict[str, str]]) -> bool:
    """The job's group through `ray.util.tpu.SlicePlacementGroup`; False where this Ray lacks it or refuses.

    With the slice named in every selector it skips its own (blocking) head step; it makes
    the bundles from the slice's topology and refuses (before creating anything) when they
    are not one per selector, i.e. when the topology disagrees with the type.
    """
    if SLICE_GROUP_API is None or not topology:
        return False
    try:
        SLICE_GROUP_API(topology=topology, accelerator_version=tpu.generation.name, resources_per_bundle=bundle,
                        chips_per_vm=tpu.chips_per_host, strategy="STRICT_SPREAD", name=name, lifetime="detached",
                        bundle_label_selector=selectors)
    except ValueError as err:
        log.warning("%s: ray.util.tpu refused slice topology %s (%s); a plain placement group instead", name, topology, err)
        return False
    return True


def _alive_nodes() -> list[dict[str, Any]]:
    return [node for node in ray.nodes() if node.get("Alive")]


def _node(node_id: str) -> dict[str, Any] | None:
    return next((n for n in _alive_nodes() if n.get("NodeID") == node_id), None)


def impossible(placement: Placement, cpus_per_host: float, nodes: list[dict[str, Any]] | None = None) -> tuple[str, str] | None:
    """(field, reason) when no node of the cluster as it is now (default: asked of Ray) can hold one host of the job."""
    nodes = _alive_nodes() if nodes is None else nodes
    bundle = host_bundle(placement, cpus_per_host)
    if placement.tpu is not None:
        slices = whole_slices(placement.tpu, nodes, bundle)
        if slices:
            return None
        return ("resources.accelerator.tpu_type", f"the Ray cluster has no whole {placement.tpu.pod_type} slice "
                f"({placement.tpu.hosts} TPU host(s) labelled with one {SLICE_NAME}, worker 0 holding "
                f"{placement.tpu.head_resource}, each with {bundle})")
    if any(_holds(node, bundle) for node in nodes):
        return None
    most = max((node.get("Resources", {}).get("GPU", 0.0) for node in nodes), default=0.0)
    field = "resources.devices_per_host" if placement.gpus_per_host else "resources"
    return field, f"no Ray node can hold one host's {bundle} (the most GPUs on a node: {most:g})"


def shortfall(placement: Placement, cpus_per_host: float) -> str:
    """Why the cluster as it is now can never place the job, even idle ("" if it can)."""
    nodes = _alive_nodes()
    if (problem := impossible(placement, cpus_per_host, nodes)) is not None:
        return f"{problem[0]}: {problem[1]}"
    if placement.tpu is not None:
        return ""
    bundle = host_bundle(placement, cpus_per_host)
    fitting = sum(_holds(node, bundle) for node in nodes)
    if fitting >= placement.hosts:
        return ""
    return (f"{placement.hosts} host(s) need {placement.hosts} Ray node(s) with {bundle} each; "
            f"the cluster has {fitting} such node(s) of {len(nodes)} alive")


def whole_slices(tpu: TpuSlice, nodes: list[dict[str, Any]], bundle: dict[str, float]) -> list[str]:
    """The slices of type `tpu` that are all there: a head, and one host per worker id that holds `bundle`
    (a one-host slice: a node of the type that holds it)."""
    hosts = [node for node in nodes if (node.get("Labels") or {}).get(POD_TYPE) == tpu.pod_type and _holds(node, bundle)]
    if tpu.hosts == 1:
        return sorted(node["NodeID"] for node in hosts)
    workers: dict[str, dict[str, dict[str, Any]]] = {}
    for node in hosts:
        labels = node["Labels"]
        if labels.get(SLICE_NAME):
            workers.setdefault(labels[SLICE_NAME], {})[labels.get(WORKER_ID, "")] = node
    return sorted(name for name, by_id in workers.items()
                  if all(str(i) in by_id for i in range(tpu.hosts)) and tpu.head_resource in by_id["0"].get("Resources", {}))


def _holds(node: dict[str, Any], bundle: dict[str, float]) -> bool:
    resources = node.get("Resources", {})
    return all(resources.get(name, 0.0) >= amount for name, amount in bundle.items())
