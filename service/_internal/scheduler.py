"""Scheduler: Ray placement groups and trainer actors, one actor per host of a job.

Everything Ray-side is named after the job (`lc0-<job>` for the placement group,
`lc0-<job>-a<attempt>-h<host>` for the actors) and detached from the driver, so a restarted
control plane finds what is still running by name; every call here is idempotent.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Any, cast

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError
from ray.util.placement_group import remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from service._internal import placement
from service._internal.actor import TrainerActor
from service._internal.status import ActorStatus
from workers import malloc
from workers.config.accelerators import Placement

log = logging.getLogger(__name__)

NAMESPACE = "lc0-train"


@dataclasses.dataclass(frozen=True)
class ActorPoll:
    """The outcome of one status poll of one actor."""

    status: ActorStatus | None = None  # the actor's answer
    dead: str = ""  # why the actor is gone (worker process died, node lost, ...)
    pending: bool = False  # no answer yet


class Scheduler:
    """Places jobs on the Ray cluster: each job's bundles come from its `Placement`, plus
    `cpus_per_host` CPUs per host (service/_internal/placement.py). Its workers share the
    persistent compilation cache `compile_cache` (None: off)."""

    def __init__(self, cpus_per_host: float = 1.0, compile_cache: Path | None = None):
        self.cpus_per_host = cpus_per_host
        self._compile_cache = str(compile_cache) if compile_cache is not None else ""
        self._remote = ray.remote(TrainerActor)
        self._polls: dict[str, Any] = {}  # actor name → in-flight status ObjectRef

    # ---- placement -----------------------------------------------------------------------

    def reserve(self, job_id: str, job: Placement) -> bool:
        """Takes one step towards the job's placement group; True once all its bundles are placed.

        Reads the group's state from Ray's control store: a `pg.ready()` request made per
        call would be a fresh task each time, one that needs a worker process before it can
        answer, and a non-blocking wait on it sees it placed only minutes late.
        """
        pg = placement.find_group(_pg_name(job_id))
        if pg is not None:
            return placement.is_placed(pg)
        if job.tpu is not None:
            placement.request_slice(_pg_name(job_id), job.tpu, self.cpus_per_host)
        else:
            placement.request(_pg_name(job_id), job, self.cpus_per_host)
        return False

    def impossible(self, job: Placement) -> tuple[str, str] | None:
        """(field, reason) when no node of the cluster as it is now can hold one host of the job."""
        return placement.impossible(job, self.cpus_per_host)

    def unplaceable(self, job: Placement) -> str:
        """Why the job can never be placed on the cluster as it is now ("" if it can).

        Capacity, not availability: each host needs its own node with the whole bundle, so a
        job with more hosts than such nodes waits forever however many jobs finish.
        """
        return placement.shortfall(job, self.cpus_per_host)

    def release(self, job_id: str, attempts: int, hosts: int) -> None:
        """Kills every actor of every attempt and removes the placement groups (idempotent)."""
        for attempt in range(1, attempts + 1):
            self.kill(job_id, attempt, hosts)
        for name in (_pg_name(job_id), placement.head_group_name(_pg_name(job_id))):
            pg = placement.find_group(name)
            if pg is not None:
                remove_placement_group(pg)

    # ---- actors ----------------------------------------------------------------------------

    def live_actors(self, job_id: str, attempt: int, hosts: int) -> int:
        """How many of an attempt's actors exist (alive or starting); creates none."""
        live = 0
        for host in range(hosts):
            try:
                ray.get_actor(_actor_name(job_id, attempt, host), namespace=NAMESPACE)
                live += 1
            except ValueError:
                pass
        return live

    def launch(self, job_id: str, attempt: int, job: Placement, spec: bytes, job_dir: str) -> None:
        """Creates (or finds) the attempt's actors, actor i in bundle i (TPU worker i), and starts them."""
        pg = placement.find_group(_pg_name(job_id))
        if pg is None:
            raise RuntimeError(f"job {job_id}: no placement group")
        hosts, bundle = job.hosts, placement.host_bundle(job, self.cpus_per_host)
        actors: list[Any] = []  # Ray actor handles
        for host in range(hosts):
            actors.append(self._remote.options(
                name=_actor_name(job_id, attempt, host), namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
                num_cpus=bundle["CPU"], num_gpus=bundle.get("GPU", 0),
                resources={"TPU": bundle["TPU"]} if "TPU" in bundle else None,
                # One thread (the main one) runs the methods: the SIGTERM handler needs it.
                max_restarts=0,
                runtime_env={"env_vars": malloc.worker_env()},  # tcmalloc in the worker process (workers/malloc.py)
                scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=host),
            ).remote())
        coordinator = ray.get(actors[0].coordinator_address.remote()) if hosts > 1 else ""
        for host, actor in enumerate(actors):
            actor.start.remote(spec, job_dir, host, hosts, coordinator, self._compile_cache)
        log.info("job %s: attempt %d launched on %d host(s)", job_id, attempt, hosts)

    def poll(self, job_id: str, attempt: int, host: int) -> ActorPoll:
        """Non-blocking status of one actor: a fresh answer, still pending, or dead."""
        name = _actor_name(job_id, attempt, host)
        ref = self._polls.get(name)
        if ref is None:
            try:
                actor = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:
                return ActorPoll(dead="worker died: its actor is gone (process or node lost)")
            ref = self._polls[name] = actor.status.remote()
        ready, _ = ray.wait([ref], timeout=0)
        if not ready:
            return ActorPoll(pending=True)
        del self._polls[name]
        try:
            return ActorPoll(status=ray.get(ref, timeout=0))
        except RayActorError as err:
            return ActorPoll(dead=_death_cause(err))
        except (GetTimeoutError, RayError) as err:
            return ActorPoll(dead=f"{type(err).__name__}: {err}")

    def stop(self, job_id: str, attempt: int, hosts: int, reason: str, checkpoint: bool) -> None:
        """Asks every actor to finish its step (and checkpoint) and return; fire and forget."""
        for host in range(hosts):
            try:
                ray.get_actor(_actor_name(job_id, attempt, host), namespace=NAMESPACE).stop.remote(reason, checkpoint)
            except ValueError:
                pass

    def kill(self, job_id: str, attempt: int, hosts: int) -> None:
        for host in range(hosts):
            name = _actor_name(job_id, attempt, host)
            self._polls.pop(name, None)
            try:
                ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
            except ValueError:
                pass



def worker_pid(job_id: str, attempt: int, host: int = 0, timeout: float = 30.0) -> int | None:
    """The process id of a job's worker (for operators and fault-injection tests)."""
    try:
        actor = ray.get_actor(_actor_name(job_id, attempt, host), namespace=NAMESPACE)
        return cast(ActorStatus, ray.get(actor.status.remote(), timeout=timeout)).pid
    except (ValueError, RayError):
        return None


def _pg_name(job_id: str) -> str:
    return f"lc0-{job_id}"


def _actor_name(job_id: str, attempt: int, host: int) -> str:
    return f"lc0-{job_id}-a{attempt}-h{host}"


def _death_cause(err: RayActorError) -> str:
    text = str(err)
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"worker died: {first}"


_NODE_LOSS = re.compile(r"node (has )?died|node .*(is|was) (dead|removed)|because its node|NodeDiedError|node .*preempted", re.IGNORECASE)


def is_node_loss(cause: str) -> bool:
    """Whether an actor death came from losing its node (a preemption, not a crash)."""
    return bool(_NODE_LOSS.search(cause))
