"""JobStore: the durable record of every job, in SQLite on the control plane's local disk.

On-disk format (schema version 1)
---------------------------------
`jobs`: one row per job. `seq` orders submissions; `state` is a `JobState` name; `spec` is
the accepted `JobSpec` in binary wire format; `attempt` numbers the actor generations
(the Ray actor names contain it, so a restarted server can find the live ones);
`cancel_requested`/`cancel_checkpoint` persist a cancel until the workers obey it;
`released` is 1 once a terminal job's Ray resources are gone.
`transitions`: an append-only log of every state change with its reason.

Durability: WAL journal with `synchronous=FULL`, so a committed transition survives power
loss; every writer opens `BEGIN IMMEDIATE`, so concurrent writers serialise instead of
failing half-way. WAL needs shared memory between the processes using the file: the
database must live on the server's local disk, never on NFS or a bucket.
"""

from __future__ import annotations

import builtins

import dataclasses
import logging
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from service._internal.goodput import Transition
from service._internal.state import ALLOWED, FailedPrecondition, IllegalTransition, JobNotFound, JobState

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL UNIQUE,
    request_id TEXT UNIQUE,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    spec BLOB NOT NULL,
    total_steps INTEGER NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 0,
    restarts INTEGER NOT NULL DEFAULT 0,
    max_restarts INTEGER NOT NULL,
    preemptions INTEGER NOT NULL DEFAULT 0,
    max_preemptions INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    cancel_checkpoint INTEGER NOT NULL DEFAULT 1,
    released INTEGER NOT NULL DEFAULT 0,
    create_time REAL NOT NULL,
    update_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    time REAL NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL
);
PRAGMA user_version = 1;
"""


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """One row of `jobs`, typed."""

    seq: int
    job_id: str
    request_id: str | None
    name: str
    state: JobState
    message: str
    priority: int
    spec: bytes
    total_steps: int
    step: int
    attempt: int
    restarts: int
    max_restarts: int
    preemptions: int
    max_preemptions: int
    cancel_requested: bool
    cancel_checkpoint: bool
    released: bool
    create_time: float
    update_time: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "JobRecord":
        values = dict(row)
        values["state"] = JobState(values["state"])
        for flag in ("cancel_requested", "cancel_checkpoint", "released"):
            values[flag] = bool(values[flag])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class NewJob:
    """What SubmitJob stores for a job it creates."""

    name: str
    spec: bytes
    total_steps: int
    priority: int
    max_restarts: int
    max_preemptions: int
    request_id: str | None = None
    job_id: str = ""  # chosen before the commit (see `new_job_id`), so the job directory can be written first


class JobStore:
    """Thread-safe access to the job database: one SQLite connection per thread."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time,
                 on_write: Callable[[str, float], None] | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._on_write = on_write or (lambda operation, seconds: None)  # (operation, seconds the write took)
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)  # idempotent: CREATE ... IF NOT EXISTS

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # isolation_level=None: we issue BEGIN ourselves, so writers can take IMMEDIATE locks.
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _write(self, operation: str) -> Iterator[sqlite3.Connection]:
        started = time.perf_counter()
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._on_write(operation, time.perf_counter() - started)

    # ---- reads -------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        row = self._connection().execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return JobRecord.from_row(row)

    def exists(self, job_id: str) -> bool:
        return self._connection().execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone() is not None

    def list(self, states: Sequence[JobState] = (), after_seq: int = 0, limit: int = 50) -> builtins.list[JobRecord]:
        """Jobs in submission order with seq > after_seq, optionally only in `states`."""
        query, args = "SELECT * FROM jobs WHERE seq > ?", list[int | str]([after_seq])
        if states:
            query += f" AND state IN ({','.join('?' * len(states))})"
            args += [s.value for s in states]
        query += " ORDER BY seq LIMIT ?"
        rows = self._connection().execute(query, (*args, limit)).fetchall()
        return [JobRecord.from_row(row) for row in rows]

    def active(self) -> builtins.list[JobRecord]:
        """Non-terminal jobs, and terminal ones whose resources are not yet released."""
        terminal = [s.value for s in JobState if s.is_terminal]
        rows = self._connection().execute(
            f"SELECT * FROM jobs WHERE state NOT IN ({','.join('?' * len(terminal))}) OR released = 0 "
            "ORDER BY priority DESC, seq", terminal).fetchall()
        return [JobRecord.from_row(row) for row in rows]

    def history(self, job_id: str) -> builtins.list[Transition]:
        """The job's transitions with their times, oldest first."""
        rows = self._connection().execute("SELECT time, to_state, reason FROM transitions WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
        return [Transition(r["time"], JobState(r["to_state"]), r["reason"]) for r in rows]

    def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present)."""
        rows = self._connection().execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        counts = dict.fromkeys(JobState, 0)
        counts.update({JobState(r["state"]): r["n"] for r in rows})
        return counts

    def transitions(self, job_id: str) -> builtins.list[tuple[str | None, str, str]]:
        rows = self._connection().execute(
            "SELECT from_state, to_state, reason FROM transitions WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
        return [(r["from_state"], r["to_state"], r["reason"]) for r in rows]

    # ---- writes ------------------------------------------------------------------------

    def create(self, new: NewJob) -> tuple[JobRecord, bool]:
        """Inserts a QUEUED job; with a known request_id returns the original job instead."""
        with self._write("create") as db:
            if new.request_id:
                row = db.execute("SELECT * FROM jobs WHERE request_id = ?", (new.request_id,)).fetchone()
                if row is not None:
                    existing = JobRecord.from_row(row)
                    if existing.spec != new.spec:
                        raise FailedPrecondition(f"request_id {new.request_id!r} was used for job {existing.job_id} with a different spec")
                    return existing, False
            now = self._clock()
            job_id = new.job_id or new_job_id(new.name)
            db.execute(
                "INSERT INTO jobs (job_id, request_id, name, state, priority, spec, total_steps, max_restarts, max_preemptions,"
                " create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, new.request_id or None, new.name, JobState.QUEUED.value, new.priority, new.spec, new.total_steps,
                 new.max_restarts, new.max_preemptions, now, now))
            db.execute("INSERT INTO transitions (job_id, time, from_state, to_state, reason) VALUES (?, ?, NULL, ?, ?)",
                       (job_id, now, JobState.QUEUED.value, "submitted"))
        log.info("job %s: submitted (priority %d)", job_id, new.priority)
        return self.get(job_id), True

    def transition(self, job_id: str, expected: JobState | Sequence[JobState], to: JobState, reason: str, **changes: object) -> JobRecord:
        """Commits `expected → to` with `reason` (and column `changes`) atomically, or raises.

        The compare-and-set on `expected` makes racing writers (a cancel against a start,
        a watchdog against a finishing job) leave one consistent record.
        """
        allowed = (expected,) if isinstance(expected, JobState) else tuple(expected)
        with self._write("transition") as db:
            self._commit_transition(db, job_id, allowed, to, reason, changes)
        return self.get(job_id)

    def _commit_transition(self, db: sqlite3.Connection, job_id: str, expected: tuple[JobState, ...], to: JobState, reason: str,
                           changes: dict[str, object]) -> None:
        """The one writer of state changes, inside the caller's transaction: checks the edge, sets, logs."""
        current = self._state_in(db, job_id)
        if current not in expected or to not in ALLOWED[current]:
            raise IllegalTransition(f"job {job_id}: {current.value} → {to.value} (expected {[s.value for s in expected]})")
        now = self._clock()
        sets = ", ".join(f"{column} = ?" for column in changes)
        db.execute(f"UPDATE jobs SET state = ?, message = ?, update_time = ?{', ' + sets if sets else ''} WHERE job_id = ?",
                   (to.value, reason, now, *changes.values(), job_id))
        db.execute("INSERT INTO transitions (job_id, time, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?)",
                   (job_id, now, current.value, to.value, reason))
        log.info("job %s: %s → %s (%s)", job_id, current.value, to.value, reason)

    @staticmethod
    def _state_in(db: sqlite3.Connection, job_id: str) -> JobState:
        row = db.execute("SELECT state FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}")
        return JobState(row["state"])

    def update(self, job_id: str, **changes: object) -> None:
        """Sets columns that are not the state (progress, flags)."""
        if not changes:
            return
        with self._write("update") as db:
            sets = ", ".join(f"{column} = ?" for column in changes)
            db.execute(f"UPDATE jobs SET {sets}, update_time = ? WHERE job_id = ?", (*changes.values(), self._clock(), job_id))

    def request_cancel(self, job_id: str, checkpoint: bool) -> JobRecord:
        """Cancels a QUEUED job at once; marks a working one for the controller to stop."""
        with self._write("request_cancel") as db:
            current = self._state_in(db, job_id)
            if current.is_terminal:
                raise FailedPrecondition(f"job {job_id} already ended: {current.value}")
            if current is JobState.QUEUED:
                self._commit_transition(db, job_id, (JobState.QUEUED,), JobState.CANCELLED, "cancelled while queued",
                                        {"cancel_requested": 1})
            else:
                db.execute("UPDATE jobs SET cancel_requested = 1, cancel_checkpoint = ?, update_time = ? WHERE job_id = ?",
                           (int(checkpoint), self._clock(), job_id))
                log.info("job %s: cancel requested in %s", job_id, current.value)
        return self.get(job_id)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def new_job_id(name: str) -> str:
    """A fresh job id: the name's slug and 8 random hex digits."""
    return f"{_slug(name)}-{secrets.token_hex(4)}"


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.lower())[:32].strip("-_")
    return cleaned or "job"
