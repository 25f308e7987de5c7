"""Controller: drives every job through its lifecycle, one idempotent step per tick.

Each tick reads the active jobs from the store and, per job, does the one thing its state
calls for. Every transition is committed to the store *before* it is acted on, and every
action is idempotent (named placement groups and actors, `get_if_exists`, a no-op
`start` on a running actor), so a control plane that dies anywhere in between simply
re-does the action after a restart: it re-attaches to live actors or relaunches dead ones,
which resume from the latest checkpoint.

Heartbeats: each tick polls every actor's `status`. An actor whose answer is overdue by
`heartbeat_timeout` (frozen, e.g. SIGSTOP) or whose trainer has not reported for
`progress_timeout` (hung) is treated like a dead worker: the job goes to RESTARTING with
fresh actors, within the `max_restarts` budget. Preemptions (SIGTERM, node loss) draw on
the separate `max_preemptions` budget; a SIGTERM'd trainer checkpoints before it stops.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from lc0train import job_pb2
from service._internal.metrics import JobMetrics
from service._internal.scheduler import Scheduler, is_node_loss
from service._internal.state import IllegalTransition, JobState
from service._internal.store import JobRecord, JobStore
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
    statuses: dict[int, dict] = dataclasses.field(default_factory=dict)
    answered: dict[int, float] = dataclasses.field(default_factory=dict)


class Controller:
    """Owns the control loop thread; `tick()` runs one pass and is what tests drive."""

    def __init__(self, store: JobStore, scheduler: Scheduler, storage: Path, settings: ControllerSettings = ControllerSettings(),
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 after_transition: Callable[[JobRecord], None] | None = None, metrics: JobMetrics | None = None):
        self.store, self.scheduler, self.storage, self.settings = store, scheduler, Path(storage), settings
        self.metrics = metrics
        self._clock, self._wall = clock, wall_clock
        # A seam for fault injection: called after a transition is committed, before it is acted on.
        self._after_transition = after_transition or (lambda record: None)
        self._attempts: dict[str, _Attempt] = {}
        self._hosts: dict[str, int] = {}
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
                self._export(record.job_id)

    def _export(self, job_id: str) -> None:
        record = self.store.get(job_id)
        self.metrics.set_state(job_id, record.state, record.restarts)
        self.metrics.poll(job_id, JobPaths(self.job_dir(job_id)).events)
        if record.state.is_terminal:
            self.metrics.forget(job_id)

    # ---- states ----------------------------------------------------------------------------

    def _hosts_of(self, record: JobRecord) -> int:
        hosts = self._hosts.get(record.job_id)
        if hosts is None:
            hosts = self._hosts[record.job_id] = max(1, job_pb2.JobSpec.FromString(record.spec).resources.hosts)
        return hosts

    def _place(self, record: JobRecord) -> bool:
        """QUEUED: reserve the placement group; once placed, STARTING with attempt 1.

        Returns whether the job holds back the queue: it does while it waits for resources
        that other jobs hold, not when the cluster can never place it (it stays QUEUED,
        marked unschedulable, until the cluster grows or it is cancelled).
        """
        hosts = self._hosts_of(record)
        if not self.scheduler.reserve(record.job_id, hosts):
            unplaceable = self.scheduler.unplaceable(hosts)
            message = f"unschedulable: {unplaceable}" if unplaceable else "waiting for resources"
            if record.message != message:
                self.store.update(record.job_id, message=message)
            return not unplaceable
        record = self._transition(record, JobState.STARTING, f"placed on {hosts} host(s)", attempt=record.attempt + 1)
        self._launch(record)
        return False

    def _launch(self, record: JobRecord) -> None:
        hosts = self._hosts_of(record)
        if record.attempt > 1:
            self.scheduler.kill(record.job_id, record.attempt - 1, hosts)  # a frozen predecessor must not linger
        self.scheduler.launch(record.job_id, record.attempt, hosts, record.spec, str(self.job_dir(record.job_id)))
        self._attempts[record.job_id] = _Attempt(record.attempt, self._clock())

    def _supervise(self, record: JobRecord) -> None:
        """STARTING, RUNNING, RESTARTING: (re)launch, poll, watch heartbeats, honour cancels."""
        hosts = self._hosts_of(record)
        current = self._attempts.get(record.job_id)
        if current is None or current.attempt != record.attempt:
            # First tick of this attempt in this process: after a restart this re-attaches to
            # live actors (start is a no-op on them) or relaunches dead ones (they resume).
            if not self.scheduler.reserve(record.job_id, hosts):
                return
            log.info("job %s: launching (or re-attaching to) attempt %d in %s", record.job_id, record.attempt, record.state.value)
            self._launch(record)
            current = self._attempts[record.job_id]
        now = self._clock()
        polls = [self.scheduler.poll(record.job_id, record.attempt, host) for host in range(hosts)]
        dead = next((p.dead for p in polls if p.dead), "")
        if dead:
            self._worker_lost(record, dead, preempted=is_node_loss(dead))
            return
        for host, poll in enumerate(polls):
            if poll.status is not None:
                current.statuses[host], current.answered[host] = poll.status, now
        if len(current.answered) == hosts:
            current.last_answer = min(current.answered.values())
        statuses = list(current.statuses.values())
        failed = next((s for s in statuses if s["phase"] == "failed"), None)
        if failed is not None:
            self._finish(record, JobState.FAILED, f"trainer error: {failed['error']}", step=failed["step"])
            return
        if len(statuses) == hosts and all(s["phase"] == "done" for s in statuses):
            self._trainer_returned(record, current.statuses[0])
            return
        lead = current.statuses.get(0)
        if lead is not None:
            if lead["phase"] == "running" and record.state is not JobState.RUNNING:
                record = self._transition(record, JobState.RUNNING, f"trainer running from step {lead['step']}", step=lead["step"])
            elif lead["step"] != record.step:
                self.store.update(record.job_id, step=lead["step"])
            if lead["phase"] == "running" and lead["last_report"] and self._wall() - lead["last_report"] > self.settings.progress_timeout:
                self._worker_lost(record, f"no report for {self.settings.progress_timeout:.0f}s (progress_timeout): trainer hung")
                return
        if self._overdue(current, now):
            self._worker_lost(record, self._overdue(current, now))
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

    def _trainer_returned(self, record: JobRecord, lead: dict) -> None:
        result = lead["result"]
        if result == "SUCCEEDED":
            self._finish(record, JobState.SUCCEEDED, f"finished at step {lead['step']}", step=lead["step"])
        elif result == "CANCELLED" or record.cancel_requested:
            self._finish(record, JobState.CANCELLED, f"cancelled at step {lead['step']}", step=lead["step"])
        elif result == "PREEMPTED":
            self._worker_lost(record, f"preempted (SIGTERM) at step {lead['step']}, checkpoint written", preempted=True)
        else:
            self._finish(record, JobState.FAILED, f"trainer stopped with {result!r}", step=lead["step"])

    def _worker_lost(self, record: JobRecord, cause: str, preempted: bool = False) -> None:
        """A dead, frozen, hung or preempted worker: RESTARTING within budget, else FAILED."""
        if record.cancel_requested:
            self._finish(record, JobState.CANCELLED, f"cancelled; workers lost while stopping: {cause}")
            return
        if preempted:
            if record.preemptions >= record.max_preemptions:
                self._finish(record, JobState.FAILED, f"preempted {record.preemptions + 1} times (max_preemptions {record.max_preemptions}); last: {cause}")
                return
            changes = {"preemptions": record.preemptions + 1}
            budget = f"preemption {record.preemptions + 1}/{record.max_preemptions}"
        else:
            if record.restarts >= record.max_restarts:
                self._finish(record, JobState.FAILED, f"worker lost {record.restarts + 1} times (max_restarts {record.max_restarts}); last: {cause}")
                return
            changes = {"restarts": record.restarts + 1}
            budget = f"restart {record.restarts + 1}/{record.max_restarts}"
        record = self._transition(record, JobState.RESTARTING, f"{cause}; {budget}, resuming from the latest checkpoint",
                                  attempt=record.attempt + 1, **changes)
        self._launch(record)

    def _finish(self, record: JobRecord, state: JobState, reason: str, **changes: object) -> None:
        record = self._transition(record, state, reason, **changes)
        self._release(record)

    def _release(self, record: JobRecord) -> None:
        self.scheduler.release(record.job_id, record.attempt, self._hosts_of(record))
        self.store.update(record.job_id, released=1)
        self._attempts.pop(record.job_id, None)

    def _transition(self, record: JobRecord, to: JobState, reason: str, **changes: object) -> JobRecord:
        updated = self.store.transition(record.job_id, record.state, to, reason, **changes)
        self._after_transition(updated)
        return updated
