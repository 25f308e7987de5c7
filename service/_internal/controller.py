"""Controller: drives every job through its lifecycle, one idempotent step per tick.

Each tick reads the active jobs from the store and, per job, does the one thing its state
calls for. Every transition is committed to the store *before* it is acted on, and every
action is idempotent (named placement groups and actors, `get_if_exists`, a no-op
`start` on a running actor), so a control plane that dies anywhere in between simply
re-does the action after a restart: it re-attaches to live actors, launches an attempt it
recorded but never launched, and counts a running attempt whose actors are gone as lost.

Heartbeats: each tick polls every actor's `status`. An actor whose answer is overdue by
`heartbeat_timeout` (frozen, e.g. SIGSTOP) or whose trainer has not reported for
`progress_timeout` (hung) is treated like a dead worker. What a lost or ended attempt
becomes (RESTARTING within budget, FAILED, CANCELLED) is decided by `policy`; the
controller observes and commits.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from lc0train import job_pb2
from service._internal import policy
from service._internal.metrics import JobMetrics
from service._internal.policy import Cause, CauseKind
from service._internal.scheduler import Scheduler, is_node_loss
from service._internal.service_metrics import ServiceMetrics
from service._internal.state import IllegalTransition, JobState
from service._internal.status import ActorStatus, Phase
from service._internal.store import JobRecord, JobStore
from workers.config.accelerators import Placement, placement_of
from workers.layout import JobPaths

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ControllerSettings:
    """Timings of the control loop (seconds); injected so tests can shrink them."""

    poll_interval: float = 1.0
    startup_timeout: float = 600.0  # launch → first answer of an actor (process start, imports)
    heartbeat_timeout: float = 60.0  # an unanswered status poll, once the actor has answered before
    progress_timeout: float = 1800.0  # no report from the trainer (compilation, a slow test pass)
    cancel_timeout: float = 300.0  # a stop request → the workers must have returned


@dataclasses.dataclass
class _Attempt:
    """In-memory view of one launched attempt (rebuilt after a restart by relaunching)."""

    attempt: int
    launched_at: float
    last_answer: float | None = None  # the oldest of the hosts' latest answers, once all answered
    stop_sent_at: float | None = None
    # Each host's latest status and when it came: hosts answer on different ticks.
    statuses: dict[int, ActorStatus] = dataclasses.field(default_factory=dict)
    answered: dict[int, float] = dataclasses.field(default_factory=dict)


class Controller:
    """Owns the control loop thread; `tick()` runs one pass and is what tests drive."""

    def __init__(self, store: JobStore, scheduler: Scheduler, storage: Path, settings: ControllerSettings = ControllerSettings(),
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 after_transition: Callable[[JobRecord], None] | None = None, metrics: JobMetrics | None = None,
                 service_metrics: ServiceMetrics | None = None, embedded_ray: bool = False):
        self.store, self.scheduler, self.storage, self.settings = store, scheduler, Path(storage), settings
        # Said in the reason when a restarted server finds a RUNNING attempt's workers gone.
        self._gone_because = " (the embedded Ray's workers die with the server)" if embedded_ray else " (they died while it was down)"
        self.metrics, self.service_metrics = metrics, service_metrics
        self._clock, self._wall = clock, wall_clock
        # A seam for fault injection: called after a transition is committed, before it is acted on.
        self._after_transition = after_transition or (lambda record: None)
        self._attempts: dict[str, _Attempt] = {}
        self._placements: dict[str, Placement] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def job_dir(self, job_id: str) -> Path:
        return self.storage / job_id

    # ---- loop ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="controller", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.tick()
            self._stopping.wait(self.settings.poll_interval)

    def tick(self) -> None:
        """One pass over the active jobs, highest priority and oldest first."""
        started = time.perf_counter()
        self._tick()
        if self.metrics is not None:
            self.metrics.prune()
        if self.service_metrics is not None:
            self.service_metrics.set_job_counts(self.store.count_by_state())
            self.service_metrics.tick_duration.observe(time.perf_counter() - started)

    def _tick(self) -> None:
        queue_blocked = False  # FIFO: a job waiting for resources holds back the ones behind it
        for record in self.store.active():
            try:
                if record.state is JobState.QUEUED:
                    if not queue_blocked:
                        queue_blocked = self._place(record)
                elif record.state.is_terminal:
                    self._release(record)
                else:
                    self._supervise(record)
            except IllegalTransition as err:  # another writer (a cancel) won the race; next tick sees it
                log.info("%s", err)
            except Exception:  # one job's trouble must not stop the loop for the others
                log.exception("job %s: controller step failed", record.job_id)
            if self.metrics is not None:
                self._export(self.metrics, record.job_id)

    def _export(self, metrics: JobMetrics, job_id: str) -> None:
        record = self.store.get(job_id)
        metrics.update(record, JobPaths(self.job_dir(job_id)).events, lambda: self.store.history(job_id))

    # ---- states ----------------------------------------------------------------------------

    def _placement_of(self, record: JobRecord) -> Placement:
        placement = self._placements.get(record.job_id)
        if placement is None:  # the spec was validated at submit
            placement = self._placements[record.job_id] = placement_of(job_pb2.JobSpec.FromString(record.spec).resources)
        return placement

    def _hosts_of(self, record: JobRecord) -> int:
        return self._placement_of(record).hosts

    def _place(self, record: JobRecord) -> bool:
        """QUEUED: reserve the placement group; once placed, STARTING with attempt 1.

        Returns whether the job holds back the queue: it does while it waits for resources
        that other jobs hold, not when the cluster can never place it (it stays QUEUED,
        marked unschedulable, until the cluster grows or it is cancelled).
        """
        placement = self._placement_of(record)
        if not self.scheduler.reserve(record.job_id, placement):
            unplaceable = self.scheduler.unplaceable(placement)
            message = f"unschedulable: {unplaceable}" if unplaceable else "waiting for resources"
            if record.message != message:
                self.store.update(record.job_id, message=message)
            return not unplaceable
        record = self._transition(record, JobState.STARTING, f"placed on {placement.describe()}", attempt=record.attempt + 1)
        self._launch(record)
        return False

    def _launch(self, record: JobRecord) -> None:
        hosts = self._hosts_of(record)
        if record.attempt > 1:
            self.scheduler.kill(record.job_id, record.attempt - 1, hosts)  # a frozen predecessor must not linger
        self.scheduler.launch(record.job_id, record.attempt, self._placement_of(record), record.spec,
                              str(self.job_dir(record.job_id)))
        self._attempts[record.job_id] = _Attempt(record.attempt, self._clock())

    def _attach(self, record: JobRecord) -> _Attempt | None:
        """First tick of an attempt in this process: launch it, or find what a previous server left.

        After a restart the recorded attempt's actors may be alive (an external Ray cluster
        keeps them: re-attach), or gone (the embedded Ray died with the server, or they
        died while no one watched): a RUNNING attempt that is gone is a lost attempt, counted
        and restarted by the policy. A cancelled job is never (re)launched: its live actors
        are told to stop, and without live actors it ends CANCELLED at once.
        """
        hosts = self._hosts_of(record)
        live = self.scheduler.live_actors(record.job_id, record.attempt, hosts)
        if record.cancel_requested:
            if live < hosts:
                self._finish(record, JobState.CANCELLED, f"cancelled; no live workers of attempt {record.attempt} to stop")
                return None
            log.info("job %s: re-attaching to attempt %d to stop it (cancel requested)", record.job_id, record.attempt)
            attempt = self._attempts[record.job_id] = _Attempt(record.attempt, self._clock())
            return attempt
        if live < hosts and record.state is JobState.RUNNING:
            detail = (f"{hosts - live} of {hosts} worker(s) of attempt {record.attempt} gone when the control plane "
                      f"restarted{self._gone_because}")
            self._apply(record, policy.on_workers_lost(record, Cause(CauseKind.CONTROL_PLANE_RESTART, detail)))
            return None
        if not self.scheduler.reserve(record.job_id, self._placement_of(record)):
            return None
        log.info("job %s: launching (or re-attaching to) attempt %d in %s", record.job_id, record.attempt, record.state.value)
        self._launch(record)
        return self._attempts[record.job_id]

    def _supervise(self, record: JobRecord) -> None:
        """STARTING, RUNNING, RESTARTING: (re)launch, poll, watch heartbeats, honour cancels."""
        hosts = self._hosts_of(record)
        current = self._attempts.get(record.job_id)
        if current is None or current.attempt != record.attempt:
            current = self._attach(record)
            if current is None:
                return
        now = self._clock()
        polls = [self.scheduler.poll(record.job_id, record.attempt, host) for host in range(hosts)]
        dead = next((p.dead for p in polls if p.dead), "")
        if dead:
            kind = CauseKind.NODE_LOST if is_node_loss(dead) else CauseKind.CRASHED
            self._apply(record, policy.on_workers_lost(record, Cause(kind, dead)))
            return
        for host, poll in enumerate(polls):
            if poll.status is not None:
                current.statuses[host], current.answered[host] = poll.status, now
        if len(current.answered) == hosts:
            current.last_answer = min(current.answered.values())
        statuses = list(current.statuses.values())
        ended = next((s for s in statuses if s.phase is Phase.FAILED), None)
        if ended is None and len(statuses) == hosts and all(s.phase is Phase.DONE for s in statuses):
            ended = current.statuses[0]
        if ended is not None:
            self._apply(record, policy.on_trainer_ended(record, ended))
            return
        lead = current.statuses.get(0)
        if lead is not None:
            if lead.phase is Phase.RUNNING and record.state is not JobState.RUNNING:
                record = self._transition(record, JobState.RUNNING, f"trainer running from step {lead.step}", step=lead.step)
            elif lead.step != record.step:
                self.store.update(record.job_id, step=lead.step)
            if lead.phase is Phase.RUNNING and lead.last_report and self._wall() - lead.last_report > self.settings.progress_timeout:
                detail = f"no report for {self.settings.progress_timeout:.0f}s (progress_timeout): trainer hung"
                self._apply(record, policy.on_workers_lost(record, Cause(CauseKind.HUNG, detail)))
                return
        overdue = self._overdue(current, now)
        if overdue:
            self._apply(record, policy.on_workers_lost(record, Cause(CauseKind.UNRESPONSIVE, overdue)))
            return
        if record.cancel_requested:
            self._cancel(record, current, now)

    def _overdue(self, current: _Attempt, now: float) -> str:
        if current.last_answer is None:
            if now - current.launched_at > self.settings.startup_timeout:
                return f"workers did not answer within {self.settings.startup_timeout:.0f}s of launch (startup_timeout)"
        elif now - current.last_answer > self.settings.heartbeat_timeout:
            return f"no heartbeat for {now - current.last_answer:.0f}s (heartbeat_timeout {self.settings.heartbeat_timeout:.0f}s): worker frozen"
        return ""

    def _cancel(self, record: JobRecord, current: _Attempt, now: float) -> None:
        hosts = self._hosts_of(record)
        if current.stop_sent_at is None:
            self.scheduler.stop(record.job_id, record.attempt, hosts, "CANCELLED", record.cancel_checkpoint)
            current.stop_sent_at = now
        elif now - current.stop_sent_at > self.settings.cancel_timeout:
            self._finish(record, JobState.CANCELLED, f"cancelled; workers killed after {self.settings.cancel_timeout:.0f}s (cancel_timeout)")

    def _apply(self, record: JobRecord, decision: policy.Decision) -> None:
        """Commits a policy decision. A RESTARTING attempt is launched by the next tick's `_attach`."""
        if decision.to.is_terminal:
            self._finish(record, decision.to, decision.reason, **decision.changes)
        else:
            self._transition(record, decision.to, decision.reason, **decision.changes)
            self._attempts.pop(record.job_id, None)

    def _finish(self, record: JobRecord, state: JobState, reason: str, **changes: object) -> None:
        record = self._transition(record, state, reason, **changes)
        self._release(record)

    def _release(self, record: JobRecord) -> None:
        self.scheduler.release(record.job_id, record.attempt, self._hosts_of(record))
        self.store.update(record.job_id, released=1)
        self._attempts.pop(record.job_id, None)
        self._placements.pop(record.job_id, None)

    def _transition(self, record: JobRecord, to: JobState, reason: str, **changes: object) -> JobRecord:
        updated = self.store.transition(record.job_id, record.state, to, reason, **changes)
        self._after_transition(updated)
        return updated
